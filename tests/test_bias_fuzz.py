"""Property-based fuzzing of GaN bias safety through plan validation and the engine.

Hypothesis generates whole plans: a random transistor SOA (consistent with the simulated
device, see :func:`soa_dicts`), random terminal compliances and ramps, and random steps of
every kind that biases the transistor (``benchbot/plan_hemt.py``): ``transfer_curve``,
``output_family``, ``leakage``, ``off_state_breakdown`` and ``pulsed_iv``, with optional
per-step ``drain_current_limit_a``; their voltages, compliances and pulse timings often leave
the SOA. For every plan exactly one of three things must happen:

- validation refuses it (PlanError): then every SOA refusal names a step and a point that
  really is outside, recomputed here with :func:`benchbot.plan_bias.soa_violations` from the
  same numbers, a plan whose points are all inside is never refused for the SOA, and a
  compliance hint (``steps[i].drain_current_limit_a``) does what it says: with the hinted
  compliance no point of the step is over the SOA's dissipation or junction temperature;
- the engine refuses it at setup because a planned (level, limit) is beyond the B2902A's DC
  ranges (``SoaViolation`` "... beyond B2902A channel n"): exactly when the data-sheet ranges
  say so (recomputed here), and before any SMU output ever went on;
- it runs on the simulated GaN bench (tests.test_bias_engine_faults.served) through the real
  runner: the simulated device is never damaged, its true junction temperature never exceeds
  the SOA's and its true DC dissipation never the SOA's ``max_power_w`` (what an SOA
  promises), no SMU channel ever carries more than its compliance (what the SOA's worst case
  rests on; checked on the simulator's side), the bench ends safe (both SMU outputs off at
  0 V, in the §2.6 order over every change the simulator saw), and no SMU level or compliance
  outside the SOA is ever programmed (DC levels, pulse lists, breakdown-test levels only with
  the gate pinched off).
  A kernel fault (compliance trip, Id or Pdiss over the SOA) is an allowed outcome; any other
  run error fails the property.

Two test functions with their own budgets: DC steps (transfer, output, leakage, breakdown) and
pulsed I-V (with an optional DC step before it). What the fuzzing found is at the end of the
file: a simulator fix and two SOA-check bugs, kept as regression tests (minimal plans).
"""

from __future__ import annotations

import contextlib
import math
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from benchbot.plan import STEP_TYPES, PlanError, parse_plan
from benchbot.plan_bias import (
    BiasPoint,
    BiasTerminals,
    TransistorSOA,
    describe_point,
    point_problems,
    soa_violations,
)
from instruments.keysight.b2900 import MIN_PULSE_WIDTH_S as B2900_MIN_PULSE_WIDTH_S
from instruments.keysight.b2900 import KeysightB2900
from simulators.gan_hemt import GanHemt
from tests._bias_bench import DRAIN_KEY, GATE_KEY, assert_safe_history, replay
from tests.test_bias_engine_faults import Served, events, plan_text, run_in_process, served

DEVICE = GanHemt()  # the simulated-gan bench's DUT: the model's defaults, 1 mm of gate
#: voltages are drawn on this grid so the plans (and shrunk counterexamples) stay readable
GRID_V = 0.05
#: the off-state breakdown current (A) above which the model is destroyed, and the Vds where
#: the soft breakdown reaches it (≈ 168 V): beyond it only the compliance keeps the device alive
IBD_MAX_A = DEVICE.ibd_max_a_per_mm * DEVICE.gate_width_mm
VDS_BD_DESTRUCTIVE_V = DEVICE.bv_v + DEVICE.bv_slope_v * math.log(
    DEVICE.ibd_max_a_per_mm / 1e-3)
#: the B2902A's shortest pulse: the driver refuses shorter ones, only once the device is biased
#: at the quiescent point (neither validation nor the engine's setup knows it)
MIN_PULSE_WIDTH_S = B2900_MIN_PULSE_WIDTH_S["B2902A"]
SOA_ISSUE = re.compile(r"^steps\[(\d+)\]: outside the transistor SOA: (.*)$")
HINT_ISSUE = re.compile(
    r"^steps\[(\d+)\]\.drain_current_limit_a: the worst case is Vds × the drain compliance: "
    r"at (\S+) V a step drain_current_limit_a of at most (\S+) A keeps every point inside")
#: a point's description may hold a nested "(from (Vgs, Vds))": up to the first "): "
POINT = re.compile(r"^point (\d+) (\(Vgs .*?\)): ")
RANGE_REFUSAL = re.compile(r"^SoaViolation: bias refused, .* is beyond B2902A channel [12] ")
LIST_VOLT = re.compile(rb":SOUR([12]):LIST:VOLT ([-+0-9.eE,]+)")


def _grid(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.integers(math.ceil(lo / GRID_V), math.floor(hi / GRID_V)).map(
        lambda k: round(k * GRID_V, 6))


def _log_floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Log-uniform in [lo, hi] (small ratings as often as large ones)."""
    return st.floats(math.log(lo), math.log(hi)).map(lambda x: min(max(math.exp(x), lo), hi))


# ----------------------------------------------------------------------------- generators

@dataclass(frozen=True)
class Reach:
    """How far a plan's numbers may go beyond the SOA: a wild plan often leaves it (drain
    voltages up to 1.3 times the highest allowed, gates beyond the range or above pinch-off
    in an off-state step, compliances above the SOA's currents, pulses up to 10 times the DC
    scale and beyond the SOA's width and duty); a tame one stays inside (so that enough plans
    reach the bench: one point outside refuses the whole plan)."""

    over: float = 1.3
    gate_below_v: float = 1.0
    gate_above_v: float = 0.5
    above_pinch: bool = True
    limit_over: float = 1.1
    boosts: tuple[float, ...] = (1.0, 3.0, 10.0)

    @property
    def wild(self) -> bool:
        return self.over > 1.0


WILD, TAME = Reach(), Reach(0.98, 0.0, 0.0, False, 1.0, (1.0,))


@st.composite
def soa_dicts(draw: st.DrawFn, reach: Reach) -> dict[str, Any]:
    """A transistor SOA whose every claim is consistent with the simulated device.

    Damage thresholds of the model (GanHemt defaults, 1 mm): Tj > 225 °C with Rth 20 K/W from a
    25 °C chuck and τth 1 ms; Vds > 190 V (hard breakdown), off-state breakdown current > 10
    mA/mm (Vds above bv + bv_slope·ln 10 ≈ 168 V with the gate below Vpk); forward gate current
    > 10 mA/mm; Vgs < -30 V. Vth(1 mA/mm) ≈ -2.8 V. Every bound below is on the safe side of
    those, so the SOA's own worst case (drain and gate at their compliances, which the SMU
    enforces) bounds the device's real operation:

    - Tj: the SOA's base ≥ 25 °C and Rth ≥ 20 K/W overestimate the true rise, and its Tj max
      ≤ 200 °C < 225 °C (the model's transient Tj never exceeds its steady state). In a pulse
      the SOA's rise ``P_avg + (P - P_avg)(1 - exp(-w/τ))`` bounds the first-order thermal
      model's periodic peak ``(1 - exp(-w/τ)) / (1 - exp(-T/τ))`` for any width and period
      when τ is not above the device's: thermal_time_constant_s ≤ 1 ms (or None: the full DC
      rise). max_pulse_width_s and max_duty_cycle are free (the model has no such rating);
    - Vds max ≤ 100 V ≪ 168 V; Vgs min ≥ -20 V > -30 V;
    - gate current ≤ 5 mA (the gate compliance may not exceed it) < 10 mA;
    - pinch-off ≤ -4 V, 1.2 V below Vth: a pinched-off device carries ≲ 0.15 mA up to 100 V
      (gate-drain leakage), so max_off_state_drain_current_a ≥ 0.2 mA is a true claim for
      leakage (a breakdown sweep deliberately exceeds it);
    - breakdown tests: max_breakdown_test_voltage_v < 190 V, the hard breakdown, and the
      test current < 10 mA, the destructive breakdown current (half of it leaves through the
      gate: a gate compliance below it lets the gate rise, the channel conducts and the drain
      compliance still bounds the dissipation). The voltage is drawn both below and above
      ≈ 168 V, where the device survives only because the compliance stops the sweep.
    """
    t_max = draw(_grid(80.0, 200.0))
    assert t_max < DEVICE.tj_max_c
    min_gate = draw(_grid(-20.0, -6.0))
    pinch = draw(_grid(max(min_gate, -10.0), -4.0))
    max_drain = draw(_grid(5.0, 100.0))
    soa: dict[str, Any] = {
        "min_gate_voltage_v": min_gate,
        # ≥ 0 V: the §2.6 power-down passes the gate through 0 V (drain off) before releasing it
        "max_gate_voltage_v": draw(_grid(0.0, 2.0)),
        "max_drain_voltage_v": max_drain,
        "max_drain_current_a": draw(_log_floats(0.02, 1.2)),
        "max_gate_current_a": draw(st.floats(1e-4, 5e-3)),
        "max_power_w": draw(_log_floats(0.3, 10.0)),
        "max_junction_temperature_c": t_max,
        "thermal_resistance_k_per_w": draw(st.floats(DEVICE.rth_k_per_w, 40.0)),
        "base_temperature_c": draw(st.floats(DEVICE.t_base_c, 40.0)),
        "thermal_time_constant_s": draw(st.none() | _log_floats(1e-5, DEVICE.thermal_tau_s)),
        "pinch_off_gate_voltage_v": pinch,
        "max_pulse_width_s": draw(st.none() | st.sampled_from([1e-4, 5e-4, 1e-3, 1e-2])),
        "max_duty_cycle": draw(st.none() | st.sampled_from([0.01, 0.05, 0.2, 0.5])),
        "max_off_state_drain_current_a": draw(st.none() | _log_floats(2e-4, 1e-2)),
    }
    assert soa["thermal_time_constant_s"] is None or (
        soa["thermal_time_constant_s"] <= DEVICE.thermal_tau_s)
    if not reach.wild or draw(st.booleans()):  # a wild SOA may allow no breakdown test
        # below the soft breakdown (1 mA/mm at 150 V), into it, and beyond the ≈ 168 V where
        # only the compliance keeps the device alive; never the 190 V hard breakdown
        below, beyond = [100.0, 140.0, 155.0, 160.0], [175.0, 180.0, DEVICE.vds_max_v - 5.0]
        assert below[-1] < VDS_BD_DESTRUCTIVE_V < beyond[0]
        soa["max_breakdown_test_voltage_v"] = max(max_drain,
                                                  draw(st.sampled_from(below + beyond)))
        soa["max_breakdown_test_current_a"] = draw(_log_floats(2e-4, 0.95 * IBD_MAX_A))
        assert soa["max_breakdown_test_voltage_v"] < DEVICE.vds_max_v
        assert soa["max_breakdown_test_current_a"] < IBD_MAX_A
    return soa


@st.composite
def bias_dicts(draw: st.DrawFn, soa: dict[str, Any], reach: Reach) -> dict[str, Any]:
    """Terminals on the bench's wiring (gate ch1, drain ch2) with random compliances (a wild
    plan's up to 10 % above the SOA's currents: refused), ramps and gate steps (coarse: every
    simulated SMU change solves the device model)."""
    return {
        "gate": {"role": "smu", "channel": 1}, "drain": {"role": "smu", "channel": 2},
        "gate_current_limit_a": soa["max_gate_current_a"] * draw(
            st.floats(0.1, reach.limit_over)),
        "drain_current_limit_a": soa["max_drain_current_a"] * draw(
            st.floats(0.05, reach.limit_over)),
        "ramp_rate_v_per_s": draw(st.sampled_from([1000.0, 5000.0])),
        "ramp_step_v": draw(st.sampled_from([2.5, 5.0, 10.0])),
        "gate_step_v": draw(st.sampled_from([0.5, 1.0, 2.0])),
        "settle_s": 1e-3,
    }


def _inside_vds_v(soa: dict[str, Any], bias: dict[str, Any], vgs_v: float,
                  limit_a: float | None = None) -> float:
    """The highest Vds the SOA allows at ``vgs_v`` with the drain compliance ``limit_a``
    (default the terminals'), the off-state cap where the gate is pinched off: the scale the
    drawn drain voltages are a random multiple of."""
    limit = bias["drain_current_limit_a"] if limit_a is None else limit_a
    cap = soa["max_off_state_drain_current_a"]
    if cap is not None and vgs_v <= soa["pinch_off_gate_voltage_v"]:
        limit = min(limit, cap)
    gate_w = abs(vgs_v) * bias["gate_current_limit_a"]
    thermal_w = ((soa["max_junction_temperature_c"] - soa["base_temperature_c"])
                 / soa["thermal_resistance_k_per_w"])
    power_w = max(min(soa["max_power_w"], thermal_w) - gate_w, 0.0)
    return min(soa["max_drain_voltage_v"], power_w / limit)


def _gate_values(draw: st.DrawFn, soa: dict[str, Any], reach: Reach, size: int
                 ) -> list[float]:
    """Distinct gate voltages in drawn order (a wild plan's sometimes beyond the range)."""
    lo = soa["min_gate_voltage_v"] - reach.gate_below_v
    hi = soa["max_gate_voltage_v"] + reach.gate_above_v
    return draw(st.lists(_grid(lo, hi), min_size=1, max_size=size, unique=True))


def _off_gate(draw: st.DrawFn, soa: dict[str, Any], reach: Reach) -> float:
    """A gate level at or below pinch-off (a wild plan's sometimes below the SOA's range or,
    one time in four, above pinch-off: the channel would conduct)."""
    pinch = soa["pinch_off_gate_voltage_v"]
    below = _grid(soa["min_gate_voltage_v"] - reach.gate_below_v, pinch)
    if not reach.above_pinch:
        return draw(below)
    above = _grid(pinch + GRID_V, soa["max_gate_voltage_v"])
    return draw(st.sampled_from([below, below, below, above]).flatmap(lambda s: s))


def _step_limit(draw: st.DrawFn, soa: dict[str, Any], reach: Reach) -> float | None:
    """An optional per-step drain compliance (a wild plan's up to 10 % above the SOA's)."""
    if draw(st.booleans()):
        return None
    return soa["max_drain_current_a"] * draw(_log_floats(0.01, reach.limit_over))


def _drains(draw: st.DrawFn, top_v: float, size: int) -> list[float]:
    """Distinct rising drain voltages in [0, top_v]."""
    return sorted(draw(st.sets(_grid(0.0, max(top_v, 0.0)), min_size=1, max_size=size)))


def _named(step: dict[str, Any], index: int, limit: float | None) -> dict[str, Any]:
    out = {"name": f"s{index}", **step}
    if limit is not None:
        out["drain_current_limit_a"] = limit
    return out


@st.composite
def dc_step_dicts(draw: st.DrawFn, soa: dict[str, Any], bias: dict[str, Any], reach: Reach,
                  index: int) -> dict[str, Any]:
    """A transfer curve, output family, leakage or off-state breakdown step; drain voltages
    a random multiple (0..reach.over) of the highest the SOA allows (breakdown: see
    :func:`breakdown_steps`)."""
    kind = draw(st.sampled_from(["transfer_curve", "output_family", "leakage",
                                 "off_state_breakdown"]))
    if kind == "off_state_breakdown":
        return _named(draw(breakdown_steps(soa, reach)), index, None)
    limit = _step_limit(draw, soa, reach)
    if kind == "leakage":
        gate = _off_gate(draw, soa, reach)
        top = reach.over * _inside_vds_v(soa, bias, gate, limit)
        return _named({"kind": kind, "gate_voltage_v": gate,
                       "drain_voltage_v": _drains(draw, top, 4)}, index, limit)
    gates = _gate_values(draw, soa, reach, 5 if kind == "transfer_curve" else 3)
    if kind == "transfer_curve":  # swept upward; an output family's gate steps in any order
        gates.sort()
    top = reach.over * _inside_vds_v(soa, bias, max(gates, key=abs), limit)
    if kind == "transfer_curve":
        vds = draw(_grid(GRID_V, max(top, GRID_V)))  # the schema wants Vds > 0
        return _named({"kind": kind, "drain_voltage_v": vds, "gate_voltage_v": gates},
                      index, limit)
    return _named({"kind": kind, "gate_voltages_v": gates,
                   "drain_voltage_v": _drains(draw, top, 4),
                   "ron_gate_voltage_v": gates[-1]}, index, limit)


@st.composite
def breakdown_steps(draw: st.DrawFn, soa: dict[str, Any], reach: Reach) -> dict[str, Any]:
    """An off-state breakdown sweep: a coarse linear sweep to 0.3..1.1 (tame: ..1) of the SOA's
    breakdown-test voltage (max_drain_voltage_v when the SOA allows no breakdown test: always
    refused), the compliance 0.2..1.3 (tame: ..1) of its test current, the gate pinched off
    (wild: sometimes not)."""
    bd_v = soa.get("max_breakdown_test_voltage_v", soa["max_drain_voltage_v"])
    bd_i = soa.get("max_breakdown_test_current_a", 2e-3)
    wild = reach.wild
    share = draw(st.sampled_from([0.3, 0.6, 0.8, 0.9, 1.0] + ([1.05, 1.1] if wild else [])))
    stop = round(round(share * bd_v / GRID_V) * GRID_V, 6)
    start = draw(st.sampled_from([0.0, 10.0])) if stop > 10.0 else 0.0
    return {"kind": "off_state_breakdown", "gate_voltage_v": _off_gate(draw, soa, reach),
            "drain_voltage_v": {"start_v": start, "stop_v": stop,
                                "step_v": draw(st.sampled_from([10.0, 20.0, 40.0]))},
            "drain_current_limit_a": bd_i * draw(st.floats(0.2, 1.3 if wild else 1.0))}


@st.composite
def quiescent_dicts(draw: st.DrawFn, soa: dict[str, Any], bias: dict[str, Any], reach: Reach,
                    limit: float | None, pinched: bool) -> dict[str, float]:
    """A quiescent point: pinched off (a stress point) or anywhere in the gate range."""
    gate = _off_gate(draw, soa, reach) if pinched else draw(_grid(
        soa["min_gate_voltage_v"] - reach.gate_below_v / 2, soa["max_gate_voltage_v"]))
    top = reach.over * _inside_vds_v(soa, bias, gate, limit)
    return {"gate_voltage_v": gate, "drain_voltage_v": draw(_grid(0.0, max(top, 0.0)))}


@st.composite
def pulsed_steps(draw: st.DrawFn, soa: dict[str, Any], bias: dict[str, Any], reach: Reach,
                 index: int) -> dict[str, Any]:
    """Pulsed I-V: the reference Q (default 0 V, 0 V, or random), 1-2 stress points mostly
    pinched off, up to 3 gate and 4 drain levels (drains a random multiple of the DC scale: a
    wild plan's short, rare pulses may go far above it), widths from the B2902A's 50 µs up
    (a tame plan's within the SOA's), duty cycles 0.5 %..50 % (tame: within the SOA's)."""
    limit = _step_limit(draw, soa, reach)
    gates = _gate_values(draw, soa, reach, 3)
    boost = draw(st.sampled_from(reach.boosts))
    scale = reach.over * _inside_vds_v(soa, bias, max(gates, key=abs), limit)
    drains = _drains(draw, min(boost * scale, reach.over * soa["max_drain_voltage_v"]), 4)
    if drains[-1] == 0.0:
        drains.append(GRID_V)
    widths = [MIN_PULSE_WIDTH_S, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3]
    duties = [0.005, 0.01, 0.05, 0.2, 0.5]
    if not reach.wild:
        widths = [w for w in widths if w <= (soa["max_pulse_width_s"] or math.inf)]
        duties = [d for d in duties if d <= (soa["max_duty_cycle"] or math.inf)]
    width, duty = draw(st.sampled_from(widths)), draw(st.sampled_from(duties))
    step: dict[str, Any] = {
        "kind": "pulsed_iv",
        "stress_points": draw(st.lists(quiescent_dicts(soa, bias, reach, limit, True),
                                       min_size=1, max_size=2)),
        "gate_voltages_v": gates, "drain_voltage_v": drains,
        "pulse_width_s": width, "pulse_period_s": round(width / duty, 9),
        "knee_drain_voltage_v": draw(st.sampled_from([d for d in drains if d > 0])),
        "collapse_gate_voltage_v": draw(st.sampled_from(gates)),
    }
    if draw(st.booleans()):
        step["reference"] = draw(quiescent_dicts(soa, bias, reach, limit, False))
    return _named(step, index, limit)


def _plan(soa: dict[str, Any], bias: dict[str, Any], steps: list[dict[str, Any]]
          ) -> dict[str, Any]:
    return {
        "schema": "benchbot.plan/1", "name": "gan_fuzz", "version": "1.0",
        "dut": {"part_number": "BB-GAN-HEMT-1MM", "serial": "FUZZ", "kind": "gan_hemt",
                "gate_width_mm": DEVICE.gate_width_mm,
                "safe_operating_area": {"max_rf_input_dbm": 20.0,
                                        "max_supply_voltage_v": 100.0,
                                        "max_supply_current_a": 1.5, "transistor": soa}},
        "roles": ["smu"],
        "conditions": {"bias": bias},
        "steps": steps,
    }


#: one plan in three is wild (mostly refused by validation), the others tame
REACHES = st.sampled_from([WILD, TAME, TAME])


@st.composite
def dc_plans(draw: st.DrawFn) -> dict[str, Any]:
    reach = draw(REACHES)
    soa = draw(soa_dicts(reach))
    bias = draw(bias_dicts(soa, reach))
    return _plan(soa, bias, [draw(dc_step_dicts(soa, bias, reach, i))
                             for i in range(draw(st.integers(1, 2)))])


@st.composite
def pulsed_plans(draw: st.DrawFn) -> dict[str, Any]:
    reach = draw(REACHES)
    soa = draw(soa_dicts(reach))
    bias = draw(bias_dicts(soa, reach))
    steps = [draw(dc_step_dicts(soa, bias, reach, 0))] if draw(st.booleans()) else []
    return _plan(soa, bias, steps + [draw(pulsed_steps(soa, bias, reach, len(steps)))])


# ----------------------------------------------------------------------------- the oracle

def _models(data: dict[str, Any]) -> tuple[TransistorSOA, BiasTerminals]:
    return (TransistorSOA.model_validate(data["dut"]["safe_operating_area"]["transistor"]),
            BiasTerminals.model_validate(data["conditions"]["bias"]))


def _points(step: dict[str, Any]) -> list[BiasPoint]:
    return STEP_TYPES[step["kind"]].model_validate(step).bias_points()  # type: ignore[attr-defined,no-any-return]


def expected_violations(data: dict[str, Any]) -> tuple[list[list[BiasPoint]], list[list[str]]]:
    """Every step's bias points and their SOA violations, from the plan's numbers alone."""
    soa, terminals = _models(data)
    points = [_points(s) for s in data["steps"]]
    return points, [soa_violations(p, soa, terminals) for p in points]


def _dc_capability_a(level_v: float) -> float:
    """The largest DC current limit a B2902A channel takes at ``level_v`` (data-sheet ranges,
    KeysightB2900.dc_ranges; 0 beyond its voltage range)."""
    return next((i for v, i in KeysightB2900.dc_ranges if abs(level_v) <= v), 0.0)


def expected_range_refusal(data: dict[str, Any]) -> bool:
    """Whether some DC point or pulse base puts a (level, limit) beyond the B2902A's DC ranges
    (in-pulse levels are the instrument's pulse ranges, not judged here)."""
    _, terminals = _models(data)
    for points in expected_violations(data)[0]:
        for p in points:
            base = p.pulse_width_s is not None
            vgs, vds = (p.base_vgs_v, p.base_vds_v) if base else (p.vgs_v, p.vds_v)
            drain_a = p.drain_current_limit_a or terminals.drain_current_limit_a
            if (terminals.gate_current_limit_a > _dc_capability_a(vgs) * (1 + 1e-9)
                    or drain_a > _dc_capability_a(vds) * (1 + 1e-9)):
                return True
    return False


def check_hint(data: dict[str, Any], step: int, limit_a: float, expected: list[str]) -> None:
    """A compliance hint follows a Pdiss refusal and says what it claims: with the hinted
    drain_current_limit_a no point of the step (DC or pulse) is over the SOA's dissipation or
    junction temperature any more."""
    soa, terminals = _models(data)
    assert any("Pdiss" in v for v in expected), (step, expected)
    changed = {**data["steps"][step], "drain_current_limit_a": limit_a}
    left = [(describe_point(p), r) for p in _points(changed)
            for r in point_problems(p, soa, terminals)
            if "Pdiss" in r or "Tj" in r]
    assert not left, f"hint {limit_a:g} A for steps[{step}] leaves {left[:3]}"


def check_refusal(data: dict[str, Any], error: PlanError) -> None:
    """Every issue is an SOA refusal the recomputation agrees with, naming a point that is
    really outside (or the compliances above the SOA's currents), or a true compliance hint."""
    soa, terminals = _models(data)
    points, expected = expected_violations(data)
    assert any(expected), f"refused, yet every point is inside the SOA: {error}"
    for issue in error.issues:
        text = f"{issue.path}: {issue.message}"
        hint = HINT_ISSUE.match(text)
        if hint:
            check_hint(data, int(hint[1]), float(hint[3]), expected[int(hint[1])])
            note("refusal with a compliance hint")
            continue
        found = SOA_ISSUE.match(text)
        assert found, f"refused for something other than the SOA: {issue}"
        step, message = int(found[1]), found[2]
        assert message in expected[step], (message, expected[step])
        named = POINT.match(message)
        if named is None:  # a compliance above the SOA's current, or the count of the rest
            assert "current_limit_a" in message or message.startswith("... and "), message
            continue
        p = points[step][int(named[1])]
        assert describe_point(p) == named[2], (p, message)
        assert point_problems(p, soa, terminals), f"{p} named but inside the SOA"


@dataclass
class Programme:
    """Both SMU channels' programme (level, compliance, output) after one change."""

    gate_on: bool = False
    gate_v: float = 0.0
    gate_limit_a: float = 0.0
    drain_on: bool = False
    drain_v: float = 0.0
    drain_limit_a: float = 0.0


def programmes(history: list[tuple[tuple[str, int], str, Any]]) -> list[Programme]:
    """The programme after every recorded change of the gate or drain channel."""
    p, out = Programme(), []
    names = {"output_on": "on", "level": "v", "limit": "limit_a"}
    for key, name, value in history:
        prefix = "gate" if key == GATE_KEY else "drain" if key == DRAIN_KEY else None
        if prefix is None or name not in names:
            continue
        p = Programme(**{**p.__dict__, f"{prefix}_{names[name]}": value})
        out.append(p)
    return out


def check_programmes(data: dict[str, Any], history: list[tuple[tuple[str, int], str, Any]],
                     messages: list[bytes]) -> None:
    """No level or compliance outside the SOA was ever programmed: gate levels in the gate
    range, drain levels up to max_drain_voltage_v (above it only as a breakdown test: gate
    pinched off, the test compliance), compliances within the SOA's currents, and every
    pulse list (``:SOUR<n>:LIST:VOLT``) inside the gate and drain ranges."""
    soa = data["dut"]["safe_operating_area"]["transistor"]
    breakdown = any(s["kind"] == "off_state_breakdown" for s in data["steps"])
    tol = 1e-9
    for p in programmes(history):
        assert soa["min_gate_voltage_v"] - tol <= p.gate_v <= soa["max_gate_voltage_v"] + tol, p
        assert p.gate_limit_a <= soa["max_gate_current_a"] * (1 + tol), p
        assert p.drain_limit_a <= soa["max_drain_current_a"] * (1 + tol), p
        assert p.drain_v >= 0.0, p
        if p.drain_v > soa["max_drain_voltage_v"] + tol:
            assert breakdown and p.drain_v <= soa["max_breakdown_test_voltage_v"] + tol, p
            assert p.gate_v <= soa["pinch_off_gate_voltage_v"] + tol, p
            assert p.drain_limit_a <= soa["max_breakdown_test_current_a"] * (1 + tol), p
    for message in messages:
        for channel, values in LIST_VOLT.findall(message):
            levels = [float(v) for v in values.split(b",")]
            if channel == b"1":
                assert all(soa["min_gate_voltage_v"] - tol <= v
                           <= soa["max_gate_voltage_v"] + tol for v in levels), levels
            else:
                assert all(0.0 <= v <= soa["max_drain_voltage_v"] + tol for v in levels), levels


@dataclass
class DeviceTruth:
    """What the simulated device really went through: the hottest junction, the most DC
    dissipation (a point charged outside a pulse train) of any charge to it, and every charge
    where a channel that was on carried more than its compliance (the SMU must clamp it: the
    SOA's worst case rests on it)."""

    max_tj_c: float = -math.inf
    max_dc_pdiss_w: float = 0.0
    at: tuple[float, ...] = ()
    over_compliance: list[str] = field(default_factory=list)


@contextlib.contextmanager
def watching_device(s: Served) -> Iterator[DeviceTruth]:
    """Record every ``check_stress`` of the bench's device (the simulator's damage model)."""
    bench = s.sim.bench
    hemt, smu = bench.hemt, s.sim.devices["smu"]
    truth = DeviceTruth()
    original = hemt.check_stress

    def check_stress(vgs_v: float, vds_v: float, ig_a: float, id_a: float,
                     duration_s: float) -> str | None:
        reason = original(vgs_v, vds_v, ig_a, id_a, duration_s)
        truth.max_tj_c = max(truth.max_tj_c, hemt.tj_c)
        pulsing = any(ch.shape == "PULS" for ch in smu.channels.values())
        p_w = abs(vds_v * id_a) + abs(vgs_v * ig_a)
        if not pulsing and p_w > truth.max_dc_pdiss_w:
            truth.max_dc_pdiss_w, truth.at = p_w, (vgs_v, vds_v, ig_a, id_a)
        for name, key, current in (("gate", GATE_KEY, ig_a), ("drain", DRAIN_KEY, id_a)):
            state = bench.smu[key]
            if state.output_on and abs(current) > state.limit * (1 + 1e-3) + 1e-12:
                truth.over_compliance.append(
                    f"{name} {current:.4g} A over its {state.limit:g} A compliance at (Vgs, "
                    f"Vds) ({vgs_v:.4g}, {vds_v:.4g}) V{' in a pulse' if pulsing else ''}")
        return reason

    hemt.check_stress = check_stress  # type: ignore[method-assign]
    try:
        yield truth
    finally:
        del hemt.check_stress


def note(text: str) -> None:
    """Count an outcome in the Hypothesis statistics (outside a Hypothesis test: nothing)."""
    if currently_in_test_context():
        event(text)


def _kind_of(error: str) -> str:
    """The fault's kind for the statistics: its message up to "at Vgs", numbers as #."""
    text = error.removeprefix("BiasFault: ").split(" at Vgs")[0].split(" at (")[0]
    return re.sub(r"-?\d[\d.]*(e[-+]?\d+)?", "#", text)


def check_run(data: dict[str, Any]) -> None:
    """Run the accepted plan: refused at setup for the instrument's ranges exactly when they
    say so and with nothing switched, or run with the device intact and inside its SOA, the
    bench ending safe, nothing outside the SOA ever programmed."""
    soa = data["dut"]["safe_operating_area"]["transistor"]
    bias = data["conditions"]["bias"]
    beyond_ranges = expected_range_refusal(data)
    with tempfile.TemporaryDirectory() as results, served() as s, watching_device(s) as truth:
        outcome = run_in_process(s, data, Path(results))
        hemt = s.sim.bench.hemt
        assert not hemt.damaged, f"DEVICE DAMAGED: {hemt.damage_reason}; {outcome.error}"
        gate, drain = s.sim.bench.smu[GATE_KEY], s.sim.bench.smu[DRAIN_KEY]
        assert not gate.output_on and not drain.output_on, (gate, drain)
        assert gate.level == 0.0 and drain.level == 0.0, (gate, drain)
        error = outcome.error or ""
        if beyond_ranges or RANGE_REFUSAL.match(error):
            assert beyond_ranges, f"refused for the ranges, yet every point fits: {error}"
            assert outcome.status == "error" and RANGE_REFUSAL.match(error), error
            assert not any(name == "output_on" and value for _, name, value in s.history), (
                "an output went on before the range refusal")
            note("refused at setup: beyond the B2902A's DC ranges")
            return
        assert not truth.over_compliance, truth.over_compliance[:3]
        assert truth.max_tj_c <= soa["max_junction_temperature_c"] + 1e-6, (
            f"true Tj {truth.max_tj_c:.1f} °C above the SOA's")
        assert truth.max_dc_pdiss_w <= soa["max_power_w"] * (1 + 1e-6), (
            f"true DC Pdiss {truth.max_dc_pdiss_w:.3g} W at (Vgs, Vds, Ig, Id) {truth.at} above "
            f"the SOA's {soa['max_power_w']:g} W; {error}")
        biased = any(snap.drain_on for snap in replay(s.history))
        assert_safe_history(s.history, ramp_step_v=bias["ramp_step_v"], expect_biased=biased,
                            pinch_off_v=soa["pinch_off_gate_voltage_v"])
        check_programmes(data, s.history, s.messages())
        _, lines = events(outcome)
    assert outcome.status in ("completed", "error"), (outcome.status, error)
    note(f"ran: {outcome.status}" + (f" ({_kind_of(error)})" if error else ""))
    if any("bias: compliance stop at" in line for line in lines):
        note("a breakdown sweep ended at its compliance stop")
    if outcome.status == "error":  # only the kernel may stop a valid plan: a fault, made safe
        assert error.startswith("BiasFault: "), (error, lines)
        assert "; bench safe" in error, error
    assert any("bias: power-down complete: bench safe" in line for line in lines), lines


def check_plan(data: dict[str, Any]) -> None:
    """Refused for real violations, or (refused for the ranges or) run without harm."""
    for kind in sorted({s["kind"] for s in data["steps"]}):
        note(f"with a {kind} step")
    try:
        parse_plan(plan_text(data))
    except PlanError as error:
        check_refusal(data, error)
        note("refused by validation")
        return
    _, expected = expected_violations(data)
    assert not any(expected), f"accepted, yet outside the SOA: {expected}"
    check_run(data)


_SETTINGS = settings(deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


@settings(_SETTINGS, max_examples=25)
@given(dc_plans())
def test_random_dc_plans_are_refused_for_real_violations_or_run_without_harm(
        data: dict[str, Any]) -> None:
    check_plan(data)


@settings(_SETTINGS, max_examples=15)
@given(pulsed_plans())
def test_random_pulsed_plans_are_refused_for_real_violations_or_run_without_harm(
        data: dict[str, Any]) -> None:
    check_plan(data)


# ----------------------------------------------------------------------------- found by fuzzing

def test_simulated_gate_smu_clamps_at_its_compliance_in_off_state_breakdown() -> None:
    """Half of the breakdown current leaves through the gate: a gate compliance below it
    clamps, the gate rises until the channel conducts and the drain (at its compliance) backs
    off. The simulator's alternating solve used to oscillate here and report the gate at its
    programmed -6 V carrying 1.9 mA through a 1 mA compliance (found by the fuzzing's
    over-compliance check); the nested fallback finds the consistent point."""
    from simulators.bench import SmuChannelState
    from simulators.hemt_bench import operating_point

    hemt = GanHemt()
    gate = SmuChannelState("VOLT", -6.0, 1e-3, True)
    drain = SmuChannelState("VOLT", 160.0, 9e-3, True)
    vg, vd, rg, rd = operating_point(lambda g, d: hemt.currents(g, d), gate, drain)
    ig, id_ = (float(x) for x in hemt.currents(vg, vd))
    assert rg.in_compliance and rd.in_compliance, (rg, rd)
    assert abs(ig) <= 1e-3 * (1 + 1e-3) and abs(id_) <= 9e-3 * (1 + 1e-3), (vg, vd, ig, id_)
    assert -6.0 < vg < 0.0 and 100.0 < vd < 160.0, (vg, vd)  # the gate rose, the drain backed off


#: a small SOA the two regression plans below share (no off-state cap, breakdown tests allowed)
_KNOWN_SOA = {
    "min_gate_voltage_v": -8.0, "max_gate_voltage_v": 1.0, "max_drain_voltage_v": 40.0,
    "max_drain_current_a": 0.5, "max_gate_current_a": 1e-3, "max_power_w": 1.0,
    "max_junction_temperature_c": 150.0, "thermal_resistance_k_per_w": 20.0,
    "base_temperature_c": 25.0, "thermal_time_constant_s": 1e-3,
    "pinch_off_gate_voltage_v": -5.0, "max_pulse_width_s": 1e-3, "max_duty_cycle": 0.1,
    "max_off_state_drain_current_a": None,
    "max_breakdown_test_voltage_v": 180.0, "max_breakdown_test_current_a": 9e-3}
_KNOWN_BIAS = {
    "gate": {"role": "smu", "channel": 1}, "drain": {"role": "smu", "channel": 2},
    "gate_current_limit_a": 1e-3, "drain_current_limit_a": 0.1, "ramp_rate_v_per_s": 5000.0,
    "ramp_step_v": 10.0, "gate_step_v": 2.0, "settle_s": 1e-3}


def test_the_compliance_hint_counts_pinched_off_points_without_a_cap() -> None:
    """Found by this fuzzing: the hint ignored pinched-off points even when the SOA bounds no
    off-state current, and pulsed steps. Now a DC step with a pinched-off point at 30 V gets a
    hint that really fits (30 V × 0.1 A = 3 W > 1 W, no off-state cap), and a pulsed step,
    whose width, duty and base all matter, is refused without a hint."""
    dc = _plan(dict(_KNOWN_SOA), dict(_KNOWN_BIAS), [{
        "name": "leak", "kind": "leakage", "gate_voltage_v": -6.0,
        "drain_voltage_v": [2.0, 30.0]}])
    with pytest.raises(PlanError) as refused:
        parse_plan(plan_text(dc))
    found = [h for h in (HINT_ISSUE.match(f"{i.path}: {i.message}")
                         for i in refused.value.issues) if h]
    assert found, refused.value
    assert float(found[0][2]) == 30.0
    check_hint(dc, 0, float(found[0][3]), expected_violations(dc)[1][0])
    pulsed = _plan(dict(_KNOWN_SOA), dict(_KNOWN_BIAS), [{
        "name": "p", "kind": "pulsed_iv",
        "reference": {"gate_voltage_v": -1.0, "drain_voltage_v": 2.0},
        "stress_points": [{"gate_voltage_v": -6.0, "drain_voltage_v": 30.0}],
        "gate_voltages_v": [0.0], "drain_voltage_v": [0.0, 5.0],
        "pulse_width_s": 1e-4, "pulse_period_s": 1e-2}])
    with pytest.raises(PlanError) as refused:
        parse_plan(plan_text(pulsed))
    assert "steps[0]: outside the transistor SOA" in str(refused.value)
    assert not any(HINT_ISSUE.match(f"{i.path}: {i.message}") for i in refused.value.issues)


def test_breakdown_dissipation_is_counted_at_its_own_compliance() -> None:
    """Found by this fuzzing: a breakdown sweep to 170 V with a 9 mA compliance and an
    off-state cap of 5 mA was counted at 170 V × 5 mA = 0.85 W (< 1 W) and accepted, and the
    device jumped from 3.7 mA at 160 V to the 9 mA compliance at 170 V (the drain backing off
    to ≈ 154 V): 1.39 W. Counted at its own compliance (1.54 W) it is refused."""
    with pytest.raises(PlanError, match=r"point 2 \(Vgs -6 V, Vds 170 V\): Pdiss 1.54 W"):
        parse_plan(plan_text(_breakdown_past_the_cap()))
    check_plan(_breakdown_past_the_cap())


def _breakdown_past_the_cap() -> dict[str, Any]:
    """The plan of the test above."""
    soa = {**_KNOWN_SOA, "max_off_state_drain_current_a": 5e-3}
    return _plan(soa, dict(_KNOWN_BIAS), [{
        "name": "bd", "kind": "off_state_breakdown", "gate_voltage_v": -6.0,
        "drain_voltage_v": [150.0, 160.0, 170.0], "drain_current_limit_a": 9e-3}])

