"""GaN HEMT DC and pulsed I-V steps (reference §2.2, §2.3) and the plan-wide bias checks.

Every step here drives the device only through the bias safety kernel
(:mod:`benchbot.bias`), with the plan's ``conditions.bias`` terminals and the
``dut.safe_operating_area.transistor`` limits; :meth:`HemtStep.bias_points` lists every point the
step will apply so that :func:`hemt_plan_problems` refuses a plan any point of which leaves the
SOA, naming the step and the point, before a bench is even chosen.

Step kinds: ``transfer_curve`` (Id-Vgs, gm, Vth, Idss), ``output_family`` (Id-Vds over Vgs steps,
Ron), ``leakage`` (off-state gate and drain current), ``off_state_breakdown`` (compliance-stopped
BVds) and ``pulsed_iv`` (families from several quiescent points: current collapse, dynamic Ron).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import AfterValidator, Field, model_validator

from benchbot.limits import Limit
from benchbot.plan_bias import BiasPoint, soa_violations
from benchbot.plan_common import MetricSpec, PlanModel, Problems, StepBase, metric_key

MAX_BIAS_POINTS = 2001  # per sweep axis
MAX_GATE_STEPS = 21
#: a float step landing on the stop within this share of a step counts as reaching it
_STOP_SLACK = 1e-9


class VoltageSweep(PlanModel):
    """A linear voltage sweep ``start_v, start_v ± step_v, ..., stop_v`` (stop included)."""

    start_v: float
    stop_v: float
    step_v: float = Field(gt=0)

    @model_validator(mode="after")
    def _sane(self) -> VoltageSweep:
        n = abs(self.stop_v - self.start_v) / self.step_v
        if n + 1 > MAX_BIAS_POINTS:
            raise ValueError(f"{math.floor(n) + 1} points, more than {MAX_BIAS_POINTS}")
        return self

    def values_v(self) -> np.ndarray:
        span = self.stop_v - self.start_v
        n = math.floor(abs(span) / self.step_v * (1 + _STOP_SLACK) + _STOP_SLACK)
        values = self.start_v + math.copysign(self.step_v, span or 1.0) * np.arange(n + 1)
        if not math.isclose(values[-1], self.stop_v, abs_tol=1e-12):
            values = np.append(values, self.stop_v)
        return values


def _ascending_list(v: list[float]) -> list[float]:
    if len(v) > MAX_BIAS_POINTS:
        raise ValueError(f"{len(v)} voltages, more than {MAX_BIAS_POINTS}")
    if any(b <= a for a, b in zip(v, v[1:], strict=False)):
        raise ValueError("the voltages must rise strictly (a sweep goes upward)")
    return v


#: voltages as a linear sweep or an explicit rising list (fine steps where a fit needs them)
Voltages = VoltageSweep | Annotated[list[float], Field(min_length=1),
                                    AfterValidator(_ascending_list)]


def voltage_values(v: Voltages) -> np.ndarray:
    """The swept voltages, in order."""
    return v.values_v() if isinstance(v, VoltageSweep) else np.asarray(v, float)


def _upward(sweep: Voltages, what: str) -> Voltages:
    values = voltage_values(sweep)
    if values.size > 1 and values[-1] <= values[0]:
        raise ValueError(f"{what} must sweep upward (start_v below stop_v)")
    return sweep


def _per_mm(unit: str) -> str:
    return f"{unit}/mm" if unit != "Ohm" else "Ohm*mm"


def _pair(name: str, unit: str, text: str) -> dict[str, MetricSpec]:
    """A figure and its gate-width-normalised twin (``_per_mm``/``_ohm_mm``)."""
    mm_name = name.replace("_ohm", "_ohm_mm") if unit == "Ohm" else f"{name}_per_mm"
    return {name: MetricSpec(unit, False, text),
            mm_name: MetricSpec(_per_mm(unit), False, text + " per mm of gate width (needs "
                                "dut.gate_width_mm)")}


TRANSFER_METRICS: dict[str, MetricSpec] = {
    "vth_constant_current_v": MetricSpec(
        "V", False, "Vgs where Id crosses vth_criterion_a_per_mm (log-linear interpolation)"),
    "vth_max_gm_v": MetricSpec(
        "V", False, "max-gm linear extrapolation Vgs_gmmax - Id_gmmax/gm,max"),
    **_pair("gm_max_s", "S", "peak transconductance (Savitzky-Golay derivative)"),
    **_pair("idss_a", "A", "Id at Vgs = 0 V at the step's Vds (needs 0 V in the sweep)"),
    "subthreshold_swing_mv_per_decade": MetricSpec(
        "mV/dec", False, "min dVgs/dlog10(Id) below the Vth criterion"),
}
OUTPUT_METRICS: dict[str, MetricSpec] = {
    **_pair("ron_ohm", "Ohm", "dVds/dId at Vds -> 0 (line over Vds <= 0.2 V) at "
            "ron_gate_voltage_v"),
    **_pair("id_max_a", "A", "highest Id over the family (points in compliance excluded)"),
}
LEAKAGE_METRICS: dict[str, MetricSpec] = {
    **_pair("gate_leakage_a", "A", "|Ig| at the highest drain voltage of the step"),
    **_pair("drain_leakage_a", "A", "|Id| at the highest drain voltage of the step"),
}
BREAKDOWN_METRICS: dict[str, MetricSpec] = {
    "breakdown_voltage_v": MetricSpec(
        "V", False, "Vds where Id first reaches criterion_a_per_mm (NaN: not reached, fails a "
        "min limit)"),
}
PULSED_METRICS: dict[str, MetricSpec] = {
    "current_collapse_pct": MetricSpec(
        "%", False, "(1 - Id,Q/Id,ref)·100 at the knee (knee_drain_voltage_v, "
        "collapse_gate_voltage_v), worst stress point"),
    "dynamic_ron_ratio": MetricSpec(
        "1", False, "Ron(Q)/Ron(reference) at collapse_gate_voltage_v, worst stress point"),
}


class HemtStep(StepBase):
    """A step that biases the transistor through the kernel; ``bias_points`` is every point
    it applies, in order, as the SOA check sees it. ``drain_current_limit_a`` is this step's
    drain compliance instead of ``conditions.bias``'s (e.g. low for high-voltage off-state
    steps: an SMU's high-voltage range sources only ~0.1 A)."""

    drain_current_limit_a: float | None = Field(
        default=None, gt=0, description="this step's drain compliance (default: conditions.bias)")

    def bias_points(self) -> list[BiasPoint]:
        raise NotImplementedError

    def total_points(self) -> int:
        return len(self.bias_points())

    def per_mm_metrics(self) -> list[str]:
        return [m for m in getattr(self, "limits", {}) if m.endswith(("_per_mm", "_ohm_mm"))]


class TransferCurveStep(HemtStep):
    """Id-Vgs at fixed Vds, swept upward from pinch-off (§2.2): gm, Vth (two methods), Idss."""

    METRICS: ClassVar[dict[str, MetricSpec]] = TRANSFER_METRICS
    kind: Literal["transfer_curve"]
    drain_voltage_v: float = Field(gt=0)
    gate_voltage_v: Voltages
    vth_criterion_a_per_mm: float = Field(1e-3, gt=0)
    gm_search_max_gate_voltage_v: float | None = Field(
        0.0, description="gm peak searched at Vgs <= this (below the gate-diode turn-on)")
    limits: dict[metric_key(TRANSFER_METRICS, "transfer_curve"), Limit] = Field(
        default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> TransferCurveStep:
        _upward(self.gate_voltage_v, "gate_voltage_v")
        g = voltage_values(self.gate_voltage_v)
        if any(m.startswith("idss") for m in self.limits) and not g[0] <= 0 <= g[-1]:
            raise ValueError("an idss limit needs 0 V inside gate_voltage_v")
        return self

    def bias_points(self) -> list[BiasPoint]:
        return [BiasPoint(float(v), self.drain_voltage_v,
                          drain_current_limit_a=self.drain_current_limit_a)
                for v in voltage_values(self.gate_voltage_v)]


class OutputFamilyStep(HemtStep):
    """Id-Vds swept upward from 0 V at each gate step (§2.2), Ron at ``ron_gate_voltage_v``."""

    METRICS: ClassVar[dict[str, MetricSpec]] = OUTPUT_METRICS
    kind: Literal["output_family"]
    gate_voltages_v: list[float] = Field(min_length=1, max_length=MAX_GATE_STEPS)
    drain_voltage_v: Voltages
    ron_gate_voltage_v: float = 0.0
    limits: dict[metric_key(OUTPUT_METRICS, "output_family"), Limit] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> OutputFamilyStep:
        _upward(self.drain_voltage_v, "drain_voltage_v")
        if voltage_values(self.drain_voltage_v)[0] < 0:
            raise ValueError("drain_voltage_v starts below 0 V (the HEMT's drain is positive)")
        if (any(m.startswith("ron") for m in self.limits)
                and self.ron_gate_voltage_v not in self.gate_voltages_v):
            raise ValueError(f"ron_gate_voltage_v {self.ron_gate_voltage_v:g} V is not one of "
                             "gate_voltages_v")
        return self

    def bias_points(self) -> list[BiasPoint]:
        vds = voltage_values(self.drain_voltage_v)
        return [BiasPoint(vgs, float(v), drain_current_limit_a=self.drain_current_limit_a)
                for vgs in self.gate_voltages_v for v in vds]


class LeakageStep(HemtStep):
    """Off-state gate and drain leakage at a pinched-off gate over a drain sweep (§2.2)."""

    METRICS: ClassVar[dict[str, MetricSpec]] = LEAKAGE_METRICS
    kind: Literal["leakage"]
    gate_voltage_v: float
    drain_voltage_v: Voltages
    limits: dict[metric_key(LEAKAGE_METRICS, "leakage"), Limit] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> LeakageStep:
        _upward(self.drain_voltage_v, "drain_voltage_v")
        return self

    def bias_points(self) -> list[BiasPoint]:
        return [BiasPoint(self.gate_voltage_v, float(v),
                          drain_current_limit_a=self.drain_current_limit_a)
                for v in voltage_values(self.drain_voltage_v)]


class BreakdownStep(HemtStep):
    """Off-state breakdown (§2.2): gate pinched off, Vds swept upward with the drain compliance
    as the stop (slightly above the criterion), ending powered down."""

    METRICS: ClassVar[dict[str, MetricSpec]] = BREAKDOWN_METRICS
    kind: Literal["off_state_breakdown"]
    gate_voltage_v: float
    drain_voltage_v: Voltages
    criterion_a_per_mm: float = Field(1e-3, gt=0)
    drain_current_limit_a: float = Field(gt=0, description="the compliance stop (required)")
    limits: dict[metric_key(BREAKDOWN_METRICS, "off_state_breakdown"), Limit] = Field(
        default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> BreakdownStep:
        _upward(self.drain_voltage_v, "drain_voltage_v")
        return self

    def bias_points(self) -> list[BiasPoint]:
        return [BiasPoint(self.gate_voltage_v, float(v),
                          drain_current_limit_a=self.drain_current_limit_a, off_state_test=True)
                for v in voltage_values(self.drain_voltage_v)]


class QuiescentPoint(PlanModel):
    """Where a pulsed family rests between pulses (it sets the trap state, §2.3)."""

    gate_voltage_v: float
    drain_voltage_v: float = Field(ge=0)


class PulsedIvStep(HemtStep):
    """Pulsed output families, gate and drain pulsed together from each quiescent point (§2.3):
    the trap-free ``reference`` Q and the ``stress_points``; current collapse and dynamic Ron of
    every stress point against the reference."""

    METRICS: ClassVar[dict[str, MetricSpec]] = PULSED_METRICS
    kind: Literal["pulsed_iv"]
    reference: QuiescentPoint = QuiescentPoint(gate_voltage_v=0.0, drain_voltage_v=0.0)
    stress_points: list[QuiescentPoint] = Field(min_length=1, max_length=8)
    gate_voltages_v: list[float] = Field(min_length=1, max_length=MAX_GATE_STEPS)
    drain_voltage_v: Voltages
    pulse_width_s: float = Field(gt=0, le=1.0)
    pulse_period_s: float = Field(gt=0, le=100.0)
    aperture_s: float | None = Field(None, gt=0, description="default: last half of the pulse")
    knee_drain_voltage_v: float = Field(5.0, gt=0)
    collapse_gate_voltage_v: float = 0.0
    limits: dict[metric_key(PULSED_METRICS, "pulsed_iv"), Limit] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> PulsedIvStep:
        _upward(self.drain_voltage_v, "drain_voltage_v")
        if voltage_values(self.drain_voltage_v)[0] < 0:
            raise ValueError("drain_voltage_v starts below 0 V (the HEMT's drain is positive)")
        if not self.pulse_width_s < self.pulse_period_s:
            raise ValueError(f"pulse_width_s {self.pulse_width_s:g} s must be shorter than "
                             f"pulse_period_s {self.pulse_period_s:g} s")
        if self.aperture_s is not None and self.aperture_s > self.pulse_width_s:
            raise ValueError("aperture_s is longer than the pulse")
        if self.collapse_gate_voltage_v not in self.gate_voltages_v:
            raise ValueError(f"collapse_gate_voltage_v {self.collapse_gate_voltage_v:g} V is "
                             "not one of gate_voltages_v")
        v = voltage_values(self.drain_voltage_v)
        if not v[0] <= self.knee_drain_voltage_v <= v[-1]:
            raise ValueError(f"knee_drain_voltage_v {self.knee_drain_voltage_v:g} V is outside "
                             "drain_voltage_v")
        return self

    def total_points(self) -> int:
        """Pulses (the quiescent points themselves are not progress points)."""
        return len(self.quiescent_points()) * len(self.pulse_grid())

    def quiescent_points(self) -> list[QuiescentPoint]:
        """The reference first, then the stress points (the order they are measured in)."""
        return [self.reference, *self.stress_points]

    def pulse_grid(self) -> list[tuple[float, float]]:
        """(Vgs, Vds) of every pulse of one family: gate steps outer, drain upward inner."""
        vds = voltage_values(self.drain_voltage_v)
        return [(vgs, float(v)) for vgs in self.gate_voltages_v for v in vds]

    def bias_points(self) -> list[BiasPoint]:
        points = []
        for q in self.quiescent_points():
            limit = self.drain_current_limit_a
            points.append(BiasPoint(q.gate_voltage_v, q.drain_voltage_v,
                                    drain_current_limit_a=limit))
            points += [BiasPoint(vgs, vds, self.pulse_width_s, self.pulse_period_s, limit,
                                 base_vgs_v=q.gate_voltage_v, base_vds_v=q.drain_voltage_v)
                       for vgs, vds in self.pulse_grid()]
        return points


HEMT_STEP_TYPES: dict[str, type[HemtStep]] = {
    "transfer_curve": TransferCurveStep,
    "output_family": OutputFamilyStep,
    "leakage": LeakageStep,
    "off_state_breakdown": BreakdownStep,
    "pulsed_iv": PulsedIvStep,
}


def step_bias_points(step: Any) -> list[BiasPoint]:
    """The points a step biases the transistor at: a HEMT step's own, or an RF step's DC bias
    (``bias`` on a power sweep) as one point."""
    if isinstance(step, HemtStep):
        return step.bias_points()
    bias = getattr(step, "bias", None)
    return [] if bias is None else [BiasPoint(bias.gate_voltage_v, bias.drain_voltage_v)]


def hemt_plan_problems(plan: Any) -> Problems:
    """Plan-wide checks of the steps that bias the transistor: they need ``conditions.bias``
    and ``dut.safe_operating_area.transistor``; the bias roles must be plan roles; per-mm
    metrics need ``dut.gate_width_mm``; pulsed I-V needs gate and drain on one SMU; and every
    planned point must lie inside the SOA (the point is named)."""
    problems: Problems = []
    terminals = plan.conditions.bias
    soa = plan.dut.safe_operating_area.transistor
    biased = [(i, s) for i, s in enumerate(plan.steps) if step_bias_points(s)]
    if terminals is not None:
        supplies = {(s.role, s.channel): i for i, s in enumerate(plan.conditions.supplies)}
        for name in ("gate", "drain"):
            terminal = getattr(terminals, name)
            if terminal.role not in plan.roles:
                problems.append((("conditions", "bias", name, "role"),
                                 f"role {terminal.role!r} is not in roles; add it", terminal.role))
            if (terminal.role, terminal.channel) in supplies:
                i = supplies[(terminal.role, terminal.channel)]
                problems.append((("conditions", "supplies", i), f"{terminal.role} channel "
                                 f"{terminal.channel} is the transistor's {name}: only the bias "
                                 "kernel may switch it (remove it from supplies)", None))
    for i, step in biased:
        if terminals is None:
            problems.append((("steps", i), f"step {step.name!r} biases the transistor: it "
                             "needs conditions.bias (gate and drain SMU channels)", None))
        if soa is None:
            problems.append((("steps", i), f"step {step.name!r} biases the transistor: it "
                             "needs dut.safe_operating_area.transistor", None))
        if isinstance(step, HemtStep) and plan.dut.gate_width_mm is None:
            problems += [(("steps", i, "limits", m), "a per-mm figure needs dut.gate_width_mm",
                          None) for m in step.per_mm_metrics()]
        if (isinstance(step, PulsedIvStep) and terminals is not None
                and terminals.gate.role != terminals.drain.role):
            problems.append((("steps", i), "pulsed I-V pulses gate and drain in step: they "
                             "must be two channels of one SMU (conditions.bias roles differ)",
                             None))
        if terminals is not None and soa is not None:
            found = soa_violations(step_bias_points(step), soa, terminals)
            problems += [(("steps", i), f"outside the transistor SOA: {v}", None)
                         for v in found]
            hint = _compliance_hint(step, soa, terminals, found)
            if hint:
                problems.append((("steps", i, "drain_current_limit_a"), hint, None))
    return problems


def _compliance_hint(step: Any, soa: Any, terminals: Any, found: list[str]) -> str | None:
    """When the worst case (Vds × drain compliance) is what fails, the compliance that would
    keep every DC point of the step inside the SOA's dissipation and junction temperature."""
    if not isinstance(step, HemtStep) or not any("(Vds × drain compliance)" in v for v in found):
        return None
    if any(p.pulse_width_s is not None for p in step.bias_points()):
        return None  # pulses: width, duty and base all matter, no single number to suggest
    dc = step.bias_points()
    capped = soa.max_off_state_drain_current_a is not None
    vds_max = max((p.vds_v for p in dc if not (capped and p.vgs_v <= soa.pinch_off_gate_voltage_v
                                                 and not p.off_state_test)), default=0.0)
    if vds_max <= 0:
        return None
    gate_w = max(abs(p.vgs_v) for p in dc) * terminals.gate_current_limit_a
    budget_w = min(soa.max_power_w, (soa.max_junction_temperature_c - soa.base_temperature_c)
                   / soa.thermal_resistance_k_per_w) - gate_w
    limit_a = math.floor(budget_w / vds_max * 1e3) / 1e3  # rounded down to 1 mA
    if limit_a <= 0:
        return None
    return (f"the worst case is Vds × the drain compliance: at {vds_max:g} V a step "
            f"drain_current_limit_a of at most {limit_a:g} A keeps every point inside the SOA "
            "(or lower the drain voltage)")
