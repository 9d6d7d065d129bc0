"""VNA steps and DUT control in a plan: ``s_parameters`` (amplifier and filter metrics, limit
masks), ``network_paths`` (switch/FEM paths per control state) and ``dut.control`` (how the DUT's
states are set through a MIPI RFFE or GPIO controller).

Definitions are reference §1.8 (rf-measurements-and-scpi.md): ``S_ij = b_i / a_j``, return loss
``-20·log10|S_ii|``, insertion loss/isolation ``-20·log10|S_ij|``, group delay ``-dφ/dω``,
Rollett K and Edwards–Sinsky μ, filter rejection ``IL(f) - IL_passband,min``.

A VNA step applies its port power to the DUT whatever the bench: :meth:`dut_rf_input_dbm` gives
it to the safety check (compared with ``dut.safe_operating_area.max_rf_input_dbm``); the VNA is
calibrated at the DUT planes, so no path-loss table is read.

Names a step refers to in ``dut.control`` (states, :mod:`benchbot.plan_control`) are checked
against the whole plan by ``network_plan_problems`` (called from :class:`benchbot.plan.Plan`'s
validator) and again by the measurement before it touches anything.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)

from benchbot.analysis.limit_mask import LimitMaskSpec
from benchbot.limits import Limit
from benchbot.plan_common import (
    MetricSpec,
    PlanModel,
    Problems,
    StepBase,
    identifier,
    metric_key,
)
from benchbot.plan_control import MAX_STATES
from benchbot.yamlfile import raise_problems

ROLE_VNA = "vna"

MAX_VNA_PORT = 32
MAX_SWEEP_POINTS = 100_001  # PNA/ZNA maximum per channel
MAX_FREQUENCY_HZ = 1.5e12
VNA_POWER_RANGE_DBM = (-100.0, 30.0)
MAX_IF_BANDWIDTH_HZ = 30e6
MAX_AVERAGES = 1000
#: a DUT port name in vna_ports (e.g. ANT, RF1, TX): letters, digits and '_'
_PORT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,15}$")


class VnaSweepSpec(PlanModel):
    """A linear VNA frequency sweep: stimulus, IF bandwidth, port power, sweep averaging."""

    start_hz: float = Field(gt=0, le=MAX_FREQUENCY_HZ)
    stop_hz: float = Field(gt=0, le=MAX_FREQUENCY_HZ)
    points: int = Field(default=201, ge=2, le=MAX_SWEEP_POINTS)
    if_bandwidth_hz: float = Field(default=1e3, gt=0, le=MAX_IF_BANDWIDTH_HZ,
                                   description="IF (receiver) bandwidth: trace noise vs speed")
    power_dbm: float = Field(default=-20.0, ge=VNA_POWER_RANGE_DBM[0],
                             le=VNA_POWER_RANGE_DBM[1],
                             description="source power at the (calibrated) test ports: the "
                             "DUT input power the safety check compares with the SOA")
    average_count: int = Field(default=1, ge=1, le=MAX_AVERAGES, description="1 = no averaging")

    @model_validator(mode="after")
    def _ordered(self) -> VnaSweepSpec:
        if self.stop_hz <= self.start_hz:
            raise_problems("VnaSweepSpec", [(("stop_hz",), f"must be above start_hz "
                                             f"({self.start_hz:g} Hz)", self.stop_hz)])
        return self

    def frequency_hz(self) -> np.ndarray:
        """The stimulus frequencies, Hz (linear, both ends included)."""
        return np.linspace(self.start_hz, self.stop_hz, self.points)


class FrequencyBand(PlanModel):
    """``start_hz <= f <= stop_hz``."""

    start_hz: float = Field(gt=0, le=MAX_FREQUENCY_HZ)
    stop_hz: float = Field(gt=0, le=MAX_FREQUENCY_HZ)

    @model_validator(mode="after")
    def _ordered(self) -> FrequencyBand:
        if self.stop_hz <= self.start_hz:
            raise_problems("FrequencyBand", [(("stop_hz",), f"must be above start_hz "
                                              f"({self.start_hz:g} Hz)", self.stop_hz)])
        return self

    @property
    def edges_hz(self) -> tuple[float, float]:
        return self.start_hz, self.stop_hz


def _band_problems(loc: tuple[str | int, ...], start_hz: float, stop_hz: float,
                   sweep: VnaSweepSpec) -> Problems:
    """A band (or point, start == stop) must lie inside the sweep and hold a sweep point."""
    tol = 1e-9 * sweep.stop_hz
    if start_hz < sweep.start_hz - tol or stop_hz > sweep.stop_hz + tol:
        return [(loc, f"{start_hz:g}..{stop_hz:g} Hz is outside the sweep "
                 f"({sweep.start_hz:g}..{sweep.stop_hz:g} Hz)", None)]
    if start_hz == stop_hz:
        return []  # a single frequency: interpolated between sweep points
    f = sweep.frequency_hz()
    if not np.any((f >= start_hz - tol) & (f <= stop_hz + tol)):
        return [(loc, f"no sweep point falls in {start_hz:g}..{stop_hz:g} Hz "
                 f"({sweep.points} points): add points or widen the band", None)]
    return []


def _mask_problems(masks: dict[str, LimitMaskSpec], sweep: VnaSweepSpec) -> Problems:
    """Each mask must judge at least one sweep point."""
    problems: Problems = []
    for trace, spec in masks.items():
        segments = list(spec.segments)
        if not any(seg.start_hz <= sweep.stop_hz and seg.stop_hz >= sweep.start_hz
                   for seg in segments):
            problems.append((("masks", trace), f"no segment overlaps the sweep "
                             f"({sweep.start_hz:g}..{sweep.stop_hz:g} Hz): nothing would be "
                             "judged", None))
    return problems


def mask_limit(spec: LimitMaskSpec, explicit: Limit | None) -> Limit:
    """The limit a mask's roll-up (worst margin) is judged against: the plan's own limit on
    ``mask_<trace>_margin_db`` if given, else margin >= 0 with the mask's marginal band and
    source."""
    return explicit if explicit is not None else spec.margin_limit()


# ----------------------------------------------------------------- s_parameters


#: traces an s_parameters step can put a limit mask on (relative to input/output ports)
S_PARAMETER_TRACES: dict[str, str] = {
    "s21_db": "20·log10|S(out,in)| (gain / -insertion loss)",
    "s11_db": "20·log10|S(in,in)| (input match)",
    "s22_db": "20·log10|S(out,out)| (output match)",
    "s12_db": "20·log10|S(in,out)| (reverse transmission)",
    "group_delay_ns": "group delay out<-in, -dφ21/dω, ns",
}
def trace_unit(trace: str) -> str:
    """Unit of a trace (and of its mask's margins): ns for group delay, else dB."""
    return "ns" if trace.endswith("_ns") else "dB"


#: traces that need an output port (a 2-port or larger measurement)
TWO_PORT_TRACES = ("s21_db", "s22_db", "s12_db", "group_delay_ns")

_BAND = "over band (default the whole sweep)"
#: The metrics an s_parameters step can put limits on (reference §1.8). "in"/"out" are the
#: step's input_port/output_port.
S_PARAMETER_METRICS: dict[str, MetricSpec] = {
    "gain_db": MetricSpec("dB", False, f"min 20·log10|S(out,in)| {_BAND}"),
    "gain_max_db": MetricSpec("dB", False, f"max 20·log10|S(out,in)| {_BAND}"),
    "gain_flatness_db": MetricSpec("dB", False, f"peak-to-peak of |S(out,in)| dB {_BAND}"),
    "input_return_loss_db": MetricSpec("dB", False, f"worst (min) -20·log10|S(in,in)| {_BAND}"),
    "output_return_loss_db": MetricSpec("dB", False,
                                        f"worst (min) -20·log10|S(out,out)| {_BAND}"),
    "reverse_isolation_db": MetricSpec("dB", False, f"worst (min) -20·log10|S(in,out)| {_BAND}"),
    "group_delay_variation_ns": MetricSpec("ns", False, f"peak-to-peak group delay {_BAND}"),
    "k_factor_min": MetricSpec("1", False, "min Rollett K over the whole sweep (stable: K > 1 "
                               "and |Δ| < 1)"),
    "mu_min": MetricSpec("1", False, "min Edwards–Sinsky μ over the whole sweep (stable: μ > 1)"),
    "passband_insertion_loss_db": MetricSpec("dB", False, "min insertion loss in "
                                             "filter.passband"),
    "passband_ripple_db": MetricSpec("dB", False, "peak-to-peak insertion loss in "
                                     "filter.passband"),
    "rejection_db": MetricSpec("dB", False, "per filter.rejection entry: IL(f) - IL_passband,min,"
                               " the least over the entry's band (or at its frequency)"),
    **{f"mask_{trace}_margin_db": MetricSpec(trace_unit(trace), False, f"worst margin of "
                                             f"{trace} to masks.{trace} (positive passes)")
       for trace in S_PARAMETER_TRACES},
}
SParameterMetric = metric_key(S_PARAMETER_METRICS, "s-parameters")


def _trace_key(traces: dict[str, str]) -> Any:
    """A mask key type: one of ``traces`` (the error for any other name lists them)."""

    def known(name: Any) -> Any:
        if isinstance(name, str) and name not in traces:
            raise ValueError(f"unknown trace {name!r}; traces with masks: {', '.join(traces)}")
        return name

    return Annotated[Literal[tuple(traces)], BeforeValidator(known)]


SParameterTrace = _trace_key(S_PARAMETER_TRACES)


class RejectionSpec(PlanModel):
    """A stop band (``start_hz``..``stop_hz``) or a single frequency where rejection is read."""

    name: str = Field(description="e.g. image, lo_leak, n77_low (metric condition)")
    start_hz: float | None = Field(default=None, gt=0, le=MAX_FREQUENCY_HZ)
    stop_hz: float | None = Field(default=None, gt=0, le=MAX_FREQUENCY_HZ)
    frequency_hz: float | None = Field(default=None, gt=0, le=MAX_FREQUENCY_HZ)
    limit: Limit | None = Field(default=None, description="this entry's limit (dB); default "
                                "limits.rejection_db")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return identifier(v, "rejection name")

    @model_validator(mode="after")
    def _one_form(self) -> RejectionSpec:
        band = (self.start_hz, self.stop_hz)
        problems: Problems = []
        if self.frequency_hz is not None:
            if band != (None, None):
                problems.append((("frequency_hz",), "give either frequency_hz or "
                                 "start_hz/stop_hz, not both", self.frequency_hz))
        elif None in band:
            missing = "stop_hz" if self.start_hz is not None else "start_hz"
            problems.append(((missing,), "a rejection band needs start_hz and stop_hz (or give "
                             "frequency_hz)", None))
        elif self.stop_hz <= self.start_hz:  # type: ignore[operator]
            problems.append((("stop_hz",), f"must be above start_hz ({self.start_hz:g} Hz)",
                             self.stop_hz))
        raise_problems("RejectionSpec", problems)
        return self

    @property
    def edges_hz(self) -> tuple[float, float]:
        """(start, stop); equal for a single frequency."""
        if self.frequency_hz is not None:
            return self.frequency_hz, self.frequency_hz
        return float(self.start_hz), float(self.stop_hz)  # type: ignore[arg-type]


class FilterSpec(PlanModel):
    """Filter metrics (reference §1.8): passband IL and ripple, rejection in stop bands."""

    passband: FrequencyBand
    rejection: list[RejectionSpec] = Field(default_factory=list)

    @field_validator("rejection")
    @classmethod
    def _unique(cls, v: list[RejectionSpec]) -> list[RejectionSpec]:
        names = [r.name for r in v]
        dup = sorted({n for i, n in enumerate(names) if n in names[:i]})
        if dup:
            raise ValueError(f"repeated rejection names: {', '.join(dup)}")
        return v


class _VnaStep(StepBase):
    """What both VNA steps share: the sweep, the band of the scalar metrics, calibration."""

    sweep: VnaSweepSpec
    band: FrequencyBand | None = Field(default=None, description="band of the scalar metrics; "
                                       "default the whole sweep")
    allow_uncalibrated: bool = Field(
        default=False, description="measure even on ports the VNA's active calibration does not "
        "cover (raw, error-box data; recorded as such); otherwise the run refuses before "
        "measuring")

    def metric_band_hz(self) -> tuple[float, float]:
        """(start, stop) of the scalar metrics."""
        return self.band.edges_hz if self.band else (self.sweep.start_hz, self.sweep.stop_hz)

    def dut_rf_input_dbm(self) -> float:
        """The VNA's port power, applied at the DUT planes (the calibration reference planes)."""
        return self.sweep.power_dbm

    def control_states(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(location in the step, state name) of every DUT control state the step sets."""
        return []

    def _sweep_problems(self) -> Problems:
        problems: Problems = []
        if self.band is not None:
            problems += _band_problems(("band",), *self.band.edges_hz, self.sweep)
        return problems


class SParametersStep(_VnaStep):
    """One VNA sweep of the full S-matrix of ``ports``: amplifier metrics (gain, flatness,
    match, isolation, group delay, stability), filter metrics and frequency limit masks."""

    METRICS: ClassVar[dict[str, MetricSpec]] = S_PARAMETER_METRICS

    kind: Literal["s_parameters"]
    ports: list[Annotated[int, Field(ge=1, le=MAX_VNA_PORT)]] = Field(
        default_factory=lambda: [1, 2], min_length=1, max_length=MAX_VNA_PORT,
        description="VNA test ports measured (DUT port k on the k-th listed VNA port)")
    port_names: list[str] | None = Field(default=None, description="DUT port names, in the "
                                         "order of ports (e.g. [IN, OUT])")
    input_port: int | None = Field(default=None, description="VNA port driving the DUT input "
                                   "(gain metrics); default the first of ports")
    output_port: int | None = Field(default=None, description="VNA port at the DUT output; "
                                    "default the second of ports")
    state: str | None = Field(default=None, description="DUT control state set before the "
                              "sweep (dut.control.states)")
    stability_check: bool | None = Field(
        default=None, description="compute K and μ (input/output 2-port); default: on for a "
        "2-port or larger step without a filter block")
    filter: FilterSpec | None = Field(default=None, description="filter metrics")
    masks: dict[SParameterTrace, LimitMaskSpec] = Field(
        default_factory=dict, description="trace -> frequency limit mask (dB, or ns for "
        "group_delay_ns)")
    limits: dict[SParameterMetric, Limit] = Field(
        default_factory=dict, description="metric -> limit; unknown metric names are errors")

    @field_validator("state")
    @classmethod
    def _state(cls, v: str | None) -> str | None:
        return None if v is None else identifier(v, "state")

    @model_validator(mode="after")
    def _consistent(self) -> SParametersStep:
        problems = self._sweep_problems() + self._port_problems()
        if self.filter is not None:
            problems += _band_problems(("filter", "passband"), *self.filter.passband.edges_hz,
                                       self.sweep)
            for i, entry in enumerate(self.filter.rejection):
                problems += _band_problems(("filter", "rejection", i), *entry.edges_hz,
                                           self.sweep)
        problems += _mask_problems(self.masks, self.sweep)
        two_port = self.output_port_number is not None
        if not two_port:
            problems += [(("masks", t), f"{t} needs an output port (a 2-port or larger step)",
                          None) for t in self.masks if t in TWO_PORT_TRACES]
        if self.stability_check and not two_port:
            problems.append((("stability_check",), "K and μ need an output port (a 2-port or "
                             "larger step)", True))
        if self.filter is not None and not two_port:
            problems.append((("filter",), "filter metrics need an output port (a 2-port or "
                             "larger step)", None))
        need_out = (two_port, "needs an output port (a 2-port or larger step)")
        stab = (self.stability_on, "needs stability_check (default on for a 2-port step "
                "without a filter block)")
        flt = (self.filter is not None, "needs a filter block (filter.passband)")
        rej = (self.filter is not None and bool(self.filter.rejection),
               "needs filter.rejection entries")
        needs = {m: need_out for m in ("gain_db", "gain_max_db", "gain_flatness_db",
                                       "output_return_loss_db", "reverse_isolation_db",
                                       "group_delay_variation_ns")}
        needs.update(k_factor_min=stab, mu_min=stab, passband_insertion_loss_db=flt,
                     passband_ripple_db=flt, rejection_db=rej)
        needs.update({f"mask_{t}_margin_db": (t in self.masks, f"needs masks.{t}")
                      for t in S_PARAMETER_TRACES})
        problems += self._limit_needs(self.limits, needs)
        raise_problems("SParametersStep", problems)
        return self

    def _port_problems(self) -> Problems:
        problems: Problems = []
        dup = sorted({p for i, p in enumerate(self.ports) if p in self.ports[:i]})
        if dup:
            problems.append((("ports",), f"repeated VNA ports: {dup}", self.ports))
        if self.port_names is not None:
            if len(self.port_names) != len(self.ports):
                problems.append((("port_names",), f"{len(self.port_names)} names for "
                                 f"{len(self.ports)} ports", None))
            bad = [n for n in self.port_names if not _PORT_NAME.match(n)]
            if bad:
                problems.append((("port_names",), f"names must be letters, digits and '_' "
                                 f"(at most 16): {bad}", None))
        for field in ("input_port", "output_port"):
            port = getattr(self, field)
            if port is not None and port not in self.ports:
                problems.append(((field,), f"VNA port {port} is not in ports {self.ports}", port))
        if self.input_port_number is not None and \
                self.input_port_number == self.output_port_number:
            problems.append((("output_port",), "must differ from input_port",
                             self.output_port))
        return problems

    @property
    def input_port_number(self) -> int:
        """VNA port at the DUT input."""
        return self.ports[0] if self.input_port is None else self.input_port

    @property
    def output_port_number(self) -> int | None:
        """VNA port at the DUT output; None for a 1-port step."""
        if self.output_port is not None:
            return self.output_port
        others = [p for p in self.ports if p != self.input_port_number]
        return others[0] if others else None

    @property
    def stability_on(self) -> bool:
        """Whether K and μ are computed."""
        if self.stability_check is not None:
            return self.stability_check
        return self.output_port_number is not None and self.filter is None

    def names_of_ports(self) -> list[str]:
        """DUT port names in the order of ``ports`` (default P1, P2...)."""
        return list(self.port_names) if self.port_names else [f"P{p}" for p in self.ports]

    def total_points(self) -> int:
        """One VNA sweep."""
        return 1

    def required_roles(self) -> tuple[str, ...]:
        """The VNA; a control state also needs ``dut.control.role`` (checked on the plan)."""
        return (ROLE_VNA,)

    def control_states(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("state",), self.state)] if self.state is not None else []


# ----------------------------------------------------------------- network_paths


#: quantities a network_paths step measures per path and can put masks on
PATH_TRACES: dict[str, str] = {
    "insertion_loss_db": "-20·log10|S(to,from)| of a through path of a passive state",
    "gain_db": "20·log10|S(to,from)| of a through path of an active state",
    "isolation_db": "-20·log10|S(to,from)| of an isolation path",
    "return_loss_db": "-20·log10|S(p,p)| of every port on the state's through paths",
}
NETWORK_PATHS_METRICS: dict[str, MetricSpec] = {
    "insertion_loss_db": MetricSpec("dB", False, "worst (max) insertion loss over band, per "
                                    "through path of a passive state"),
    "gain_db": MetricSpec("dB", False, "worst (min) gain over band, per through path of an "
                          "active state"),
    "isolation_db": MetricSpec("dB", False, "worst (min) isolation over band, per isolation "
                               "path"),
    "return_loss_db": MetricSpec("dB", False, "worst (min) return loss over band, per port on "
                                 "the state's through paths"),
    **{f"mask_{trace}_margin_db": MetricSpec("dB", False, f"worst margin of {trace} to "
                                             f"masks.{trace} (positive passes), per path")
       for trace in PATH_TRACES},
}
NetworkPathsMetric = metric_key(NETWORK_PATHS_METRICS, "network-paths")
PathTrace = _trace_key(PATH_TRACES)


class PortPair(PlanModel):
    """A path between two DUT ports (names of ``vna_ports``): the wave enters at ``from``."""

    model_config = ConfigDict(populate_by_name=True)

    from_port: str = Field(alias="from", description="DUT port the signal enters")
    to_port: str = Field(alias="to", description="DUT port the signal leaves")

    @model_serializer(mode="wrap")
    def _by_alias(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {"from": data.get("from_port", data.get("from")),
                "to": data.get("to_port", data.get("to"))}

    @property
    def label(self) -> str:
        return f"{self.from_port}->{self.to_port}"


class PathState(PlanModel):
    """One control state of a network_paths step and the paths measured in it."""

    state: str = Field(description="a dut.control.states name")
    through: list[PortPair] = Field(default_factory=list, description="paths ON in this state")
    isolation: list[PortPair] = Field(default_factory=list, description="paths OFF in this state")
    active: bool = Field(default=False, description="through paths have gain (an amplifier "
                         "path): gain_db instead of insertion_loss_db")
    limits: dict[NetworkPathsMetric, Limit] = Field(
        default_factory=dict, description="this state's limits, overriding the step's")

    @field_validator("state")
    @classmethod
    def _state(cls, v: str) -> str:
        return identifier(v, "state")

    @model_validator(mode="after")
    def _paths(self) -> PathState:
        problems: Problems = []
        if not self.through and not self.isolation:
            problems.append((("through",), "a state measures at least one through or "
                             "isolation path", None))
        seen: dict[tuple[str, str], str] = {}
        for field in ("through", "isolation"):
            for i, pair in enumerate(getattr(self, field)):
                key = (pair.from_port, pair.to_port)
                if pair.from_port == pair.to_port:
                    problems.append(((field, i, "to"), "a path joins two different ports",
                                     pair.to_port))
                elif key in seen:
                    problems.append(((field, i), f"path {pair.label} already listed in "
                                     f"{seen[key]}", None))
                seen.setdefault(key, field)
        raise_problems("PathState", problems)
        return self

    @property
    def through_trace(self) -> str:
        """insertion_loss_db (passive) or gain_db (active)."""
        return "gain_db" if self.active else "insertion_loss_db"

    def return_loss_ports(self) -> list[str]:
        """Ports whose return loss is judged: every port on a through path, in order."""
        return list(dict.fromkeys(p for pair in self.through
                                  for p in (pair.from_port, pair.to_port)))

    def traces(self) -> set[str]:
        """Path quantities this state yields."""
        out = set()
        if self.through:
            out |= {self.through_trace, "return_loss_db"}
        if self.isolation:
            out.add("isolation_db")
        return out


class NetworkPathsStep(_VnaStep):
    """Switch / FEM paths: for each control state in order (VNA source off while it switches),
    one full S-matrix sweep of ``vna_ports``; insertion loss or gain of the through paths,
    isolation of the off paths, return loss of the ports in use."""

    METRICS: ClassVar[dict[str, MetricSpec]] = NETWORK_PATHS_METRICS

    kind: Literal["network_paths"]
    vna_ports: dict[str, Annotated[int, Field(ge=1, le=MAX_VNA_PORT)]] = Field(
        min_length=2, description="DUT port name -> VNA test port, e.g. {ANT: 1, RF1: 2}")
    states: list[PathState] = Field(min_length=1, max_length=MAX_STATES,
                                    description="measured in this order")
    masks: dict[PathTrace, LimitMaskSpec] = Field(
        default_factory=dict, description="quantity -> frequency limit mask, applied to every "
        "path of that quantity")
    limits: dict[NetworkPathsMetric, Limit] = Field(
        default_factory=dict, description="metric -> limit for every path (states may "
        "override); unknown metric names are errors")

    @model_validator(mode="after")
    def _consistent(self) -> NetworkPathsStep:
        problems = self._sweep_problems()
        bad = [n for n in self.vna_ports if not _PORT_NAME.match(n)]
        if bad:
            problems.append((("vna_ports",), f"DUT port names must be letters, digits and '_' "
                             f"(at most 16): {bad}", None))
        numbers = list(self.vna_ports.values())
        dup = sorted({p for i, p in enumerate(numbers) if p in numbers[:i]})
        if dup:
            problems.append((("vna_ports",), f"VNA ports used twice: {dup}", None))
        names: dict[str, int] = {}
        for i, st in enumerate(self.states):
            if st.state in names:
                problems.append((("states", i, "state"), f"already measured in "
                                 f"states[{names[st.state]}]", st.state))
            names.setdefault(st.state, i)
            for field in ("through", "isolation"):
                for j, pair in enumerate(getattr(st, field)):
                    for end, port in (("from", pair.from_port), ("to", pair.to_port)):
                        if port not in self.vna_ports:
                            problems.append((("states", i, field, j, end), f"unknown DUT port "
                                             f"{port!r}; vna_ports: {', '.join(self.vna_ports)}",
                                             port))
            problems += self._limit_problems(("states", i, "limits"), st.limits, st.traces())
        every = set().union(*(st.traces() for st in self.states))
        problems += self._limit_problems(("limits",), self.limits, every)
        problems += _mask_problems(self.masks, self.sweep)
        problems += [(("masks", t), f"no state yields {t}", None)
                     for t in self.masks if t not in every]
        raise_problems("NetworkPathsStep", problems)
        return self

    def _limit_problems(self, loc: tuple[str | int, ...], limits: dict[str, Limit],
                        traces: set[str]) -> Problems:
        why = {"insertion_loss_db": "needs a through path in a passive state",
               "gain_db": "needs a through path in an active state (active: true)",
               "isolation_db": "needs an isolation path",
               "return_loss_db": "needs a through path"}
        problems: Problems = []
        for metric in limits:
            trace = metric.removeprefix("mask_").removesuffix("_margin_db")
            if metric.startswith("mask_"):
                if trace not in self.masks:
                    problems.append(((*loc, metric), f"needs masks.{trace}", None))
            elif metric not in traces:
                problems.append(((*loc, metric), why[metric], None))
        return problems

    def port_numbers(self) -> list[int]:
        """VNA ports measured, in the order of ``vna_ports``."""
        return list(self.vna_ports.values())

    def total_points(self) -> int:
        """One sweep per state."""
        return len(self.states)

    def required_roles(self) -> tuple[str, ...]:
        """The VNA; the states also need ``dut.control.role`` (checked on the plan)."""
        return (ROLE_VNA,)

    def control_states(self) -> list[tuple[tuple[str | int, ...], str]]:
        return [(("states", i, "state"), st.state) for i, st in enumerate(self.states)]

    def limit_for(self, state: PathState, metric: str) -> Limit | None:
        """The state's own limit on ``metric``, else the step's."""
        return state.limits.get(metric, self.limits.get(metric))


# ----------------------------------------------------------------- plan-level checks
