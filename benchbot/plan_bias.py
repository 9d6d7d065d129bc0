"""The DUT's transistor safe operating area and how its gate and drain are wired to SMUs, and
the pure check of planned bias points against them (reference §2.1, §2.5, §2.6).

Every check is worst-case on what the bench *could* deliver, not on what the device is
expected to draw: a drain voltage source clamps its current at the compliance, so the most a
point can dissipate is ``P = Vds · I_limit(drain) + |Vgs| · I_limit(gate)`` (a D-mode HEMT
whose gate lost control draws up to the limit), and the junction then sits at
``Tj = Tbase + Rth · P`` (§2.5). Pulsed points dissipate ``P · duty`` on average and rise by
``Rth · (P - P_avg) · (1 - exp(-width / τth))`` inside the pulse; with no thermal time
constant given the full DC rise is assumed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from pydantic import Field, model_validator

from benchbot.plan_common import PlanModel

#: relative slack for float round-off when a value equals its limit
_ROUND_OFF = 1e-9


class TransistorSOA(PlanModel):
    """Absolute limits the framework keeps a transistor inside (datasheet or §2.1 figures)."""

    min_gate_voltage_v: float = Field(description="most negative gate-source voltage")
    max_gate_voltage_v: float = Field(description="most positive gate-source voltage")
    max_drain_voltage_v: float = Field(gt=0, description="drain-source voltage rating")
    max_drain_current_a: float = Field(gt=0, description="drain current rating")
    max_gate_current_a: float = Field(gt=0, description="gate current rating (forward)")
    max_power_w: float = Field(gt=0, description="dissipation rating (average for pulses)")
    max_junction_temperature_c: float = Field(description="channel temperature rating")
    thermal_resistance_k_per_w: float = Field(gt=0, description="Rth junction to base plate")
    base_temperature_c: float = Field(25.0, description="base plate / chuck temperature")
    thermal_time_constant_s: float | None = Field(
        None, gt=0, description="τth for the in-pulse rise; None: the full DC rise")
    pinch_off_gate_voltage_v: float = Field(
        description="the safe 'off' gate level, below Vth (D-mode: e.g. -5 V)")
    max_pulse_width_s: float | None = Field(None, gt=0)
    max_duty_cycle: float | None = Field(None, gt=0, le=1)
    max_off_state_drain_current_a: float | None = Field(
        None, gt=0, description="most Id with the gate at or below pinch-off: the worst case of "
        "pinched-off points instead of the drain compliance; the kernel faults above it")
    max_breakdown_test_voltage_v: float | None = Field(
        None, gt=0, description="highest Vds an off-state breakdown sweep may apply (gate "
        "pinched off, compliance-limited); below the destructive limit")
    max_breakdown_test_current_a: float | None = Field(
        None, gt=0, description="highest drain compliance of a breakdown sweep (§2.2: slightly "
        "above the 1 mA/mm criterion)")

    @model_validator(mode="after")
    def _consistent(self) -> TransistorSOA:
        if not self.min_gate_voltage_v < self.max_gate_voltage_v:
            raise ValueError(f"min_gate_voltage_v {self.min_gate_voltage_v} V must be below "
                             f"max_gate_voltage_v {self.max_gate_voltage_v} V")
        if not self.min_gate_voltage_v <= 0.0 <= self.max_gate_voltage_v:
            raise ValueError("the gate range must include 0 V: the power-down releases the gate "
                             f"at 0 V (min_gate_voltage_v {self.min_gate_voltage_v} V, "
                             f"max_gate_voltage_v {self.max_gate_voltage_v} V)")
        if not (self.min_gate_voltage_v <= self.pinch_off_gate_voltage_v
                <= self.max_gate_voltage_v):
            raise ValueError(f"pinch_off_gate_voltage_v {self.pinch_off_gate_voltage_v} V is "
                             f"outside the gate range {self.min_gate_voltage_v}.."
                             f"{self.max_gate_voltage_v} V")
        if (self.max_breakdown_test_voltage_v is not None
                and self.max_breakdown_test_voltage_v < self.max_drain_voltage_v):
            raise ValueError(f"max_breakdown_test_voltage_v {self.max_breakdown_test_voltage_v}"
                             f" V is below max_drain_voltage_v {self.max_drain_voltage_v} V")
        if not self.base_temperature_c < self.max_junction_temperature_c:
            raise ValueError(f"base_temperature_c {self.base_temperature_c} °C is not below "
                             f"max_junction_temperature_c {self.max_junction_temperature_c} °C")
        return self

    def junction_temperature_c(self, power_w: float) -> float:
        """Steady-state Tj = Tbase + Rth·P (§2.5)."""
        return self.base_temperature_c + self.thermal_resistance_k_per_w * power_w


class TerminalChannel(PlanModel):
    """One device terminal's SMU: the bench role and the channel (1-based, front panel)."""

    role: str = Field(min_length=1)
    channel: int = Field(1, ge=1)


class BiasTerminals(PlanModel):
    """How gate and drain are driven: channels, compliances and the drain ramp (§2.6)."""

    gate: TerminalChannel
    drain: TerminalChannel
    gate_current_limit_a: float = Field(gt=0, description="gate compliance, 1-10 mA (§2.6)")
    drain_current_limit_a: float = Field(gt=0, description="drain compliance, ≈1.2·Id expected")
    ramp_rate_v_per_s: float = Field(1000.0, gt=0, description="drain slew, 1 V/ms default")
    ramp_step_v: float = Field(0.5, gt=0, description="largest single drain step in a ramp")
    gate_step_v: float = Field(0.25, gt=0, description="largest gate step upward (checked)")
    settle_s: float = Field(2e-3, ge=0, description="wait after a gate change, 1-5 ms (§2.6)")

    @model_validator(mode="after")
    def _distinct(self) -> BiasTerminals:
        if (self.gate.role, self.gate.channel) == (self.drain.role, self.drain.channel):
            raise ValueError(f"gate and drain are both {self.gate.role} channel "
                             f"{self.gate.channel}")
        return self


class BiasSetpoint(PlanModel):
    """A DC bias point of the transistor (e.g. class AB for an RF sweep)."""

    gate_voltage_v: float
    drain_voltage_v: float = Field(ge=0)


class BiasPoint(NamedTuple):
    """One planned bias: DC, or a pulse of ``pulse_width_s`` every ``pulse_period_s`` from the
    quiescent point (``base_vgs_v``, ``base_vds_v``; default 0 V). ``drain_current_limit_a``
    overrides the terminals' drain compliance for this point; ``off_state_test`` marks a
    breakdown-sweep point (gate pinched off, Vds up to the SOA's breakdown-test voltage)."""

    vgs_v: float
    vds_v: float
    pulse_width_s: float | None = None
    pulse_period_s: float | None = None
    drain_current_limit_a: float | None = None
    base_vgs_v: float = 0.0
    base_vds_v: float = 0.0
    off_state_test: bool = False


def _worst_drain_current_a(vgs_v: float, limit_a: float, soa: TransistorSOA,
                           off_state_test: bool = False) -> float:
    """The drain compliance, or the SOA's pinched-off current where the gate is pinched off
    (the kernel enforces that bound on every read-back) - except in a breakdown sweep, which
    drives the off-state current up to its own compliance on purpose."""
    cap = soa.max_off_state_drain_current_a
    if cap is not None and vgs_v <= soa.pinch_off_gate_voltage_v and not off_state_test:
        return min(limit_a, cap)
    return limit_a


def worst_case_power_w(point: BiasPoint, soa: TransistorSOA, terminals: BiasTerminals,
                       at_base: bool = False) -> float:
    """Most the point (or its pulse base) can dissipate while the output is on: the drain at
    its worst-case current, the gate at its compliance (a D-mode HEMT whose gate lost control
    draws up to the limit)."""
    vgs, vds = (point.base_vgs_v, point.base_vds_v) if at_base else (point.vgs_v, point.vds_v)
    limit = (terminals.drain_current_limit_a if point.drain_current_limit_a is None
             else point.drain_current_limit_a)
    return (abs(vds) * _worst_drain_current_a(vgs, limit, soa, point.off_state_test)
            + abs(vgs) * terminals.gate_current_limit_a)


def _over(value: float, limit: float) -> bool:
    return value > limit + _ROUND_OFF * max(abs(limit), 1.0)


def _terminal_problems(soa: TransistorSOA, terminals: BiasTerminals) -> list[str]:
    problems = []
    if _over(terminals.gate_current_limit_a, soa.max_gate_current_a):
        problems.append(f"terminals.gate_current_limit_a {terminals.gate_current_limit_a:g} A "
                        f"is above the SOA gate current {soa.max_gate_current_a:g} A")
    if _over(terminals.drain_current_limit_a, soa.max_drain_current_a):
        problems.append(f"terminals.drain_current_limit_a {terminals.drain_current_limit_a:g} A"
                        f" is above the SOA drain current {soa.max_drain_current_a:g} A")
    return problems


def _pulse_problems(p: BiasPoint, soa: TransistorSOA, power_w: float, base_w: float
                    ) -> list[str]:
    """Pulse width, duty and the average / in-pulse junction temperature of a pulsed point
    (the base dissipates ``base_w`` between pulses)."""
    width, period = p.pulse_width_s, p.pulse_period_s
    if width is None or period is None or not width > 0 or not period > width:
        return [f"pulse needs 0 < width < period (width {width!r} s, period {period!r} s)"]
    problems = []
    duty = width / period
    if soa.max_pulse_width_s is not None and _over(width, soa.max_pulse_width_s):
        problems.append(f"pulse width {width:g} s > SOA {soa.max_pulse_width_s:g} s")
    if soa.max_duty_cycle is not None and _over(duty, soa.max_duty_cycle):
        problems.append(f"duty cycle {duty:.4g} > SOA {soa.max_duty_cycle:.4g}")
    average_w = power_w * duty + base_w * (1.0 - duty)
    if _over(average_w, soa.max_power_w):
        problems.append(f"average Pdiss {average_w:.3g} W (worst case) > SOA "
                        f"{soa.max_power_w:g} W")
    share = 1.0 if soa.thermal_time_constant_s is None else (
        1.0 - math.exp(-width / soa.thermal_time_constant_s))
    tj_c = soa.junction_temperature_c(average_w + (power_w - average_w) * share)
    if _over(tj_c, soa.max_junction_temperature_c):
        problems.append(f"in-pulse Tj {tj_c:.0f} °C (worst case) > SOA "
                        f"{soa.max_junction_temperature_c:g} °C")
    return problems


def _voltage_problems(vgs_v: float, vds_v: float, soa: TransistorSOA, vds_max_v: float,
                      what: str = "") -> list[str]:
    problems = []
    if not soa.min_gate_voltage_v <= vgs_v <= soa.max_gate_voltage_v:
        problems.append(f"{what}Vgs {vgs_v:g} V outside {soa.min_gate_voltage_v:g}.."
                        f"{soa.max_gate_voltage_v:g} V")
    if vds_v < 0 or _over(vds_v, vds_max_v):
        problems.append(f"{what}Vds {vds_v:g} V outside 0..{vds_max_v:g} V")
    return problems


def _off_state_problems(p: BiasPoint, soa: TransistorSOA) -> tuple[float, list[str]]:
    """(Vds bound, problems) of a breakdown-sweep point: the SOA must allow such tests, the
    gate must be pinched off and the compliance within the breakdown-test current."""
    if soa.max_breakdown_test_voltage_v is None or soa.max_breakdown_test_current_a is None:
        return soa.max_drain_voltage_v, [
            "an off-state breakdown sweep needs max_breakdown_test_voltage_v and "
            "max_breakdown_test_current_a in the transistor SOA"]
    problems = []
    if p.vgs_v > soa.pinch_off_gate_voltage_v:
        problems.append(f"breakdown sweep gate {p.vgs_v:g} V is above pinch-off "
                        f"{soa.pinch_off_gate_voltage_v:g} V (the channel would conduct)")
    if p.drain_current_limit_a is None or _over(p.drain_current_limit_a,
                                                 soa.max_breakdown_test_current_a):
        problems.append(f"breakdown sweep drain compliance {p.drain_current_limit_a!r} A must "
                        f"be set and at most {soa.max_breakdown_test_current_a:g} A")
    return soa.max_breakdown_test_voltage_v, problems


def point_problems(p: BiasPoint, soa: TransistorSOA, terminals: BiasTerminals) -> list[str]:
    """Every reason one point leaves the SOA (empty: inside)."""
    vds_max_v, problems = (_off_state_problems(p, soa) if p.off_state_test
                           else (soa.max_drain_voltage_v, []))
    problems += _voltage_problems(p.vgs_v, p.vds_v, soa, vds_max_v)
    if p.drain_current_limit_a is not None and not (
            p.drain_current_limit_a > 0 and not _over(p.drain_current_limit_a,
                                                      soa.max_drain_current_a)):
        problems.append(f"drain compliance {p.drain_current_limit_a:g} A outside "
                        f"0..{soa.max_drain_current_a:g} A")
    power_w = worst_case_power_w(p, soa, terminals)
    if p.pulse_width_s is None and p.pulse_period_s is None:
        if _over(power_w, soa.max_power_w):
            problems.append(f"Pdiss {power_w:.3g} W (Vds × drain compliance) > SOA "
                            f"{soa.max_power_w:g} W")
        tj_c = soa.junction_temperature_c(power_w)
        if _over(tj_c, soa.max_junction_temperature_c):
            problems.append(f"Tj {tj_c:.0f} °C (worst case) > SOA "
                            f"{soa.max_junction_temperature_c:g} °C")
    else:
        problems += _voltage_problems(p.base_vgs_v, p.base_vds_v, soa, soa.max_drain_voltage_v,
                                      "pulse base ")
        problems += _pulse_problems(p, soa, power_w,
                                    worst_case_power_w(p, soa, terminals, at_base=True))
    return problems


def describe_point(p: BiasPoint) -> str:
    text = f"(Vgs {p.vgs_v:g} V, Vds {p.vds_v:g} V"
    if p.pulse_width_s is not None or p.pulse_period_s is not None:
        text += (f", pulse {p.pulse_width_s!r} s every {p.pulse_period_s!r} s from "
                 f"({p.base_vgs_v:g} V, {p.base_vds_v:g} V)")
    return text + ")"


def soa_violations(points: Iterable[BiasPoint | tuple[float, ...]], soa: TransistorSOA,
                   terminals: BiasTerminals, max_points: int = 5) -> list[str]:
    """Why these planned points (and the terminals' compliances) leave the SOA: one message
    per offending point, the first ``max_points`` of them by index, then a count of the rest.
    Empty when the plan is safe. Points may be plain ``(vgs, vds[, width, period])`` tuples."""
    problems = _terminal_problems(soa, terminals)
    offending = 0
    for index, raw in enumerate(points):
        p = raw if isinstance(raw, BiasPoint) else BiasPoint(*raw)
        reasons = point_problems(p, soa, terminals)
        if not reasons:
            continue
        offending += 1
        if offending <= max_points:
            problems.append(f"point {index} {describe_point(p)}: {'; '.join(reasons)}")
    if offending > max_points:
        problems.append(f"... and {offending - max_points} more points outside the SOA")
    return problems
