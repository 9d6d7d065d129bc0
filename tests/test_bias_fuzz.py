"""Property-based fuzzing of GaN bias safety through plan validation and the engine.

Hypothesis generates whole plans: a random transistor SOA, random terminal compliances and
ramps, and random transfer-curve (and, once the engine can run them, output-family) steps whose
voltages often leave the SOA. For every plan exactly one of two things must happen:

- validation refuses it (PlanError): then every SOA refusal names a step and a point that
  really is outside, recomputed here with :func:`benchbot.plan_bias.soa_violations` from the
  same numbers, and a plan whose points are all inside is never refused for the SOA;
- it runs on the simulated GaN bench (tests.test_bias_engine_faults.served) through the real
  runner: the simulated device is never damaged, the bench ends safe (both SMU outputs off at
  0 V, in the §2.6 order over every change the simulator saw), and no SMU level outside the SOA
  is ever programmed. A kernel fault (compliance trip, Id or Pdiss over the SOA) is an allowed
  outcome; any other run error fails the property.

The generated SOA is consistent with the simulated device's absolute maximum ratings
(``simulators/gan_hemt.py`` defaults, 1 mm gate on ``simulated-gan``), so that a point inside the
SOA can never damage it; the bounds and their derivation are at :func:`soa_dicts`.
"""

from __future__ import annotations

import math
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from benchbot.measurements.registry import kinds
from benchbot.plan import STEP_TYPES, PlanError, parse_plan
from benchbot.plan_bias import (
    BiasTerminals,
    TransistorSOA,
    describe_point,
    point_problems,
    soa_violations,
)
from simulators.gan_hemt import GanHemt
from tests._bias_bench import DRAIN_KEY, GATE_KEY, assert_safe_history, replay
from tests.test_bias_engine_faults import events, plan_text, run_in_process, served

DEVICE = GanHemt()  # the simulated-gan bench's DUT: the model's defaults, 1 mm of gate
#: voltages are drawn on this grid so the plans (and shrunk counterexamples) stay readable
GRID_V = 0.05
SOA_ISSUE = re.compile(r"^steps\[(\d+)\]: outside the transistor SOA: (.*)$")
POINT = re.compile(r"^point (\d+) (\(Vgs [^)]*\)): ")


def _grid(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.integers(math.ceil(lo / GRID_V), math.floor(hi / GRID_V)).map(
        lambda k: round(k * GRID_V, 6))


@st.composite
def soa_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A transistor SOA inside the simulated device's absolute maximum ratings.

    Damage thresholds of the model (GanHemt defaults, 1 mm): Tj > 225 °C with Rth 20 K/W from a
    25 °C chuck; Vds > 190 V (hard breakdown), off-state breakdown current > 10 mA/mm (Vds above
    bv + bv_slope·ln 10 ≈ 168 V); forward gate current > 10 mA/mm; Vgs < -30 V. Vth(1 mA/mm) ≈
    -2.8 V. Every bound below is on the safe side of those, so the SOA's own worst case (drain
    and gate at their compliances, which the SMU enforces) bounds the device's real operation:

    - Tj: the SOA's base ≥ 25 °C and Rth ≥ 20 K/W overestimate the true rise, and its Tj max
      ≤ 200 °C < 225 °C (the model's transient Tj never exceeds its steady state);
    - Vds max ≤ 100 V ≪ 168 V; Vgs min ≥ -20 V > -30 V;
    - gate current ≤ 5 mA (the gate compliance may not exceed it) < 10 mA;
    - pinch-off ≤ -4 V, 1.2 V below Vth: a pinched-off device carries µA (the SOA's
      max_off_state_drain_current_a, if any, relies on it, and so does the drain ramp, which is
      not judged between its steps).
    """
    t_max = draw(_grid(80.0, 200.0))
    assert t_max < DEVICE.tj_max_c
    min_gate = draw(_grid(-20.0, -6.0))
    pinch = draw(_grid(max(min_gate, -10.0), -4.0))
    return {
        "min_gate_voltage_v": min_gate,
        # ≥ 0 V: the §2.6 power-down passes the gate through 0 V (drain off) before releasing it
        "max_gate_voltage_v": draw(_grid(0.0, 2.0)),
        "max_drain_voltage_v": draw(_grid(5.0, 100.0)),
        "max_drain_current_a": draw(st.floats(0.05, 1.2)),
        "max_gate_current_a": draw(st.floats(1e-4, 5e-3)),
        "max_power_w": draw(st.floats(0.5, 10.0)),
        "max_junction_temperature_c": t_max,
        "thermal_resistance_k_per_w": draw(st.floats(DEVICE.rth_k_per_w, 40.0)),
        "base_temperature_c": draw(st.floats(DEVICE.t_base_c, 40.0)),
        "pinch_off_gate_voltage_v": pinch,
        "max_off_state_drain_current_a": draw(st.none() | st.floats(1e-4, 1e-2)),
    }


@st.composite
def bias_dicts(draw: st.DrawFn, soa: dict[str, Any]) -> dict[str, Any]:
    """Terminals on the bench's wiring (gate ch1, drain ch2) with random compliances (up to
    10 % above the SOA's currents: refused), ramps and gate steps."""
    return {
        "gate": {"role": "smu", "channel": 1}, "drain": {"role": "smu", "channel": 2},
        "gate_current_limit_a": soa["max_gate_current_a"] * draw(st.floats(0.1, 1.1)),
        "drain_current_limit_a": soa["max_drain_current_a"] * draw(st.floats(0.05, 1.1)),
        "ramp_rate_v_per_s": draw(st.sampled_from([1000.0, 5000.0])),
        "ramp_step_v": draw(st.sampled_from([1.0, 2.5, 5.0])),
        "gate_step_v": draw(st.sampled_from([0.5, 1.0, 2.0])),
        "settle_s": 1e-3,
    }


def _inside_vds_v(soa: dict[str, Any], bias: dict[str, Any], vgs_v: float) -> float:
    """The highest Vds the SOA allows at ``vgs_v`` with the terminals' drain compliance (no
    off-state cap): the scale the drawn drain voltages are a random multiple of."""
    gate_w = abs(vgs_v) * bias["gate_current_limit_a"]
    thermal_w = ((soa["max_junction_temperature_c"] - soa["base_temperature_c"])
                 / soa["thermal_resistance_k_per_w"])
    power_w = max(min(soa["max_power_w"], thermal_w) - gate_w, 0.0)
    return min(soa["max_drain_voltage_v"], power_w / bias["drain_current_limit_a"])


def _gate_values(draw: st.DrawFn, soa: dict[str, Any], size: int) -> list[float]:
    """Distinct gate voltages in drawn order, some beyond the SOA's gate range."""
    lo, hi = soa["min_gate_voltage_v"] - 1.0, soa["max_gate_voltage_v"] + 0.5
    return draw(st.lists(_grid(lo, hi), min_size=1, max_size=size, unique=True))


@st.composite
def step_dicts(draw: st.DrawFn, soa: dict[str, Any], bias: dict[str, Any], index: int
               ) -> dict[str, Any]:
    """A transfer curve, or an output family when the engine can run one; drain voltages a
    random multiple (0..1.3) of the highest the SOA allows at the sweep's highest gate."""
    kind = draw(st.sampled_from(sorted({"transfer_curve", "output_family"} & set(kinds()))))
    gates = _gate_values(draw, soa, 5 if kind == "transfer_curve" else 3)
    if kind == "transfer_curve":  # swept upward; an output family's gate steps in any order
        gates.sort()
    scale = _inside_vds_v(soa, bias, max(gates, key=abs))
    if kind == "transfer_curve":
        vds = draw(_grid(GRID_V, 1.3 * scale + GRID_V))  # the schema wants Vds > 0
        return {"name": f"s{index}", "kind": kind, "drain_voltage_v": vds,
                "gate_voltage_v": gates}
    drains = sorted(draw(st.sets(_grid(0.0, 1.3 * scale + GRID_V), min_size=1, max_size=4)))
    return {"name": f"s{index}", "kind": kind, "gate_voltages_v": gates,
            "drain_voltage_v": drains, "ron_gate_voltage_v": gates[-1]}


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    soa = draw(soa_dicts())
    bias = draw(bias_dicts(soa))
    steps = [draw(step_dicts(soa, bias, i)) for i in range(draw(st.integers(1, 2)))]
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


def expected_violations(data: dict[str, Any]) -> tuple[list[list[Any]], list[list[str]]]:
    """Every step's bias points and their SOA violations, from the plan's numbers alone."""
    soa = TransistorSOA.model_validate(data["dut"]["safe_operating_area"]["transistor"])
    terminals = BiasTerminals.model_validate(data["conditions"]["bias"])
    points = [STEP_TYPES[s["kind"]].model_validate(s).bias_points()  # type: ignore[attr-defined]
              for s in data["steps"]]
    return points, [soa_violations(p, soa, terminals) for p in points]


def check_refusal(data: dict[str, Any], error: PlanError) -> None:
    """Every issue is an SOA refusal the recomputation agrees with, naming a point that is
    really outside (or the compliances above the SOA's currents)."""
    soa = TransistorSOA.model_validate(data["dut"]["safe_operating_area"]["transistor"])
    terminals = BiasTerminals.model_validate(data["conditions"]["bias"])
    points, expected = expected_violations(data)
    assert any(expected), f"refused, yet every point is inside the SOA: {error}"
    for issue in error.issues:
        found = SOA_ISSUE.match(f"{issue.path}: {issue.message}")
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


def check_run(data: dict[str, Any]) -> None:
    """Run the accepted plan; the device survives, the bench ends safe, nothing outside the
    SOA was ever programmed."""
    soa = data["dut"]["safe_operating_area"]["transistor"]
    bias = data["conditions"]["bias"]
    with tempfile.TemporaryDirectory() as results, served() as s:
        outcome = run_in_process(s, data, Path(results))
        hemt = s.sim.bench.hemt
        assert not hemt.damaged, f"DEVICE DAMAGED: {hemt.damage_reason}; {outcome.error}"
        gate, drain = s.sim.bench.smu[GATE_KEY], s.sim.bench.smu[DRAIN_KEY]
        assert not gate.output_on and not drain.output_on, (gate, drain)
        assert gate.level == 0.0 and drain.level == 0.0, (gate, drain)
        biased = any(snap.drain_on for snap in replay(s.history))
        assert_safe_history(s.history, ramp_step_v=bias["ramp_step_v"], expect_biased=biased,
                            pinch_off_v=soa["pinch_off_gate_voltage_v"])
        for key, name, value in s.history:
            if key == GATE_KEY and name == "level":
                assert soa["min_gate_voltage_v"] <= value <= soa["max_gate_voltage_v"], value
            if key == DRAIN_KEY and name == "level":
                assert 0.0 <= value <= soa["max_drain_voltage_v"] + 1e-9, value
        _, lines = events(outcome)
    assert outcome.status in ("completed", "error"), (outcome.status, outcome.error)
    event(f"ran: {outcome.status}" + (f" ({(outcome.error or '').split(' at ')[0]})"
                                      if outcome.error else ""))
    if outcome.status == "error":  # only the kernel may stop a valid plan: a fault, made safe
        assert (outcome.error or "").startswith("BiasFault: "), (outcome.error, lines)
        assert "; bench safe" in (outcome.error or ""), outcome.error
    assert any("bias: power-down complete: bench safe" in line for line in lines), lines


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(plans())
def test_random_plans_are_refused_for_real_violations_or_run_without_harm(
        data: dict[str, Any]) -> None:
    try:
        parse_plan(plan_text(data))
    except PlanError as error:
        check_refusal(data, error)
        event("refused by validation")
        return
    _, expected = expected_violations(data)
    assert not any(expected), f"accepted, yet outside the SOA: {expected}"
    check_run(data)
