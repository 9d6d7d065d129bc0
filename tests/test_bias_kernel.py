"""The GaN bias safety kernel (benchbot.bias) over real sockets: the simulated HEMT between
gate (ch 1) and drain (ch 2) of a simulated B2902A and of a 2636B. Safety is judged from the
simulator's side (every SMU channel change recorded on the bench, the device's damage flag),
never from what the driver reports."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from benchbot.bias import BiasFault, BiasKernel, SoaViolation, ramp_levels
from benchbot.plan_bias import BiasPoint, BiasTerminals, TerminalChannel, soa_violations
from instruments.interfaces import SourceMeter
from instruments.registry import connect
from simulators import SimulatedBench
from tests._bias_bench import (
    DRIVER,
    PINCH_OFF_V,
    SOA,
    assert_safe_history,
    hemt_config,
    record_smu_changes,
    replay,
    terminals,
)

MODELS = ("keysight_b2902a", "keithley_2636b")


# ----------------------------------------------------------------------------- pure checks

@pytest.mark.parametrize(("point", "fragment"), [
    ((-1.5, 10.0), None),  # 10 V × 0.5 A = 5 W, Tj 125 °C: inside
    ((-1.5, 41.0), "Vds 41 V outside 0..40 V"),
    ((-9.0, 1.0), "Vgs -9 V outside -8..1 V"),
    ((-1.5, -1.0), "Vds -1 V outside"),
    ((-5.0, 13.0), "Pdiss 6.5 W (Vds × drain compliance) > SOA 6 W"),
    (BiasPoint(-5.0, 30.0, 1e-4, 0.02), None),  # 15 W peak, 0.5 % duty, τth 1 ms
    (BiasPoint(-5.0, 30.0, 2e-3, 0.4), "pulse width 0.002 s > SOA 0.001 s"),
    (BiasPoint(-5.0, 30.0, 1e-4, 0.005), "duty cycle 0.02 > SOA 0.01"),
    (BiasPoint(-5.0, 38.0, 1e-3, 0.2), "in-pulse Tj"),
    (BiasPoint(-5.0, 10.0, 1e-3, 1e-4), "0 < width < period"),
    (BiasPoint(-5.0, 100.0, drain_current_limit_a=1e-3), "Vds 100 V outside"),
    (BiasPoint(-5.0, 35.0, drain_current_limit_a=1e-3), None),  # breakdown-style low limit
])
def test_soa_point_table(point: Any, fragment: str | None) -> None:
    problems = soa_violations([point], SOA, terminals())
    if fragment is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith("point 0 (Vgs")
        assert fragment in problems[0], problems


def test_soa_names_the_first_offending_points_and_counts_the_rest() -> None:
    points = [(0.0, v) for v in np.arange(0.0, 40.0, 1.0)]  # > 12 V: over 6 W worst case
    problems = soa_violations(points, SOA, terminals(), max_points=3)
    assert problems[0].startswith("point 13 (Vgs 0 V, Vds 13 V)")
    assert problems[2].startswith("point 15 ")
    assert problems[3] == "... and 24 more points outside the SOA"


def test_compliance_above_the_soa_current_is_a_violation() -> None:
    t = BiasTerminals(gate=TerminalChannel(role="smu", channel=1),
                      drain=TerminalChannel(role="smu", channel=2),
                      gate_current_limit_a=0.01, drain_current_limit_a=2.0)
    problems = soa_violations([], SOA, t)
    assert any("gate_current_limit_a 0.01 A is above the SOA gate current" in p
               for p in problems)
    assert any("drain_current_limit_a 2 A is above the SOA drain current 1 A" in p
               for p in problems)


def test_models_name_the_field_and_reason() -> None:
    with pytest.raises(ValidationError, match="pinch_off_gate_voltage_v 2.0 V is outside"):
        SOA.model_validate({**SOA.model_dump(), "pinch_off_gate_voltage_v": 2.0})
    with pytest.raises(ValidationError, match="max_drain_voltage_v"):
        SOA.model_validate({**SOA.model_dump(), "max_drain_voltage_v": -1})
    with pytest.raises(ValidationError, match="gate and drain are both smu channel 1"):
        BiasTerminals(gate={"role": "smu", "channel": 1}, drain={"role": "smu", "channel": 1},
                      gate_current_limit_a=1e-3, drain_current_limit_a=0.1)


def test_ramp_levels() -> None:
    assert ramp_levels(0.0, 2.0, 0.5) == [0.5, 1.0, 1.5, 2.0]
    assert ramp_levels(1.2, 0.0, 0.5) == pytest.approx([0.8, 0.4, 0.0])
    assert ramp_levels(3.0, 3.0, 0.5) == []


# ----------------------------------------------------------------------------- on the bench

@pytest.fixture(params=MODELS)
def bench(request: pytest.FixtureRequest) -> Iterator[tuple[SimulatedBench, SourceMeter, list]]:
    with SimulatedBench(hemt_config(request.param)) as sim:
        smu = connect(DRIVER[request.param], sim.resources["smu"])
        assert isinstance(smu, SourceMeter)
        smu.reset()
        history = record_smu_changes(sim.bench)
        yield sim, smu, history
        smu.close()


def kernel(smu: SourceMeter, drain_limit_a: float = 0.5) -> BiasKernel:
    return BiasKernel(smu, 1, smu, 2, SOA, terminals(drain_limit_a), watchdog=False)


def writes(smu: SourceMeter) -> list[str]:
    return [text for _, kind, text in smu.session.traffic if kind == "w"]


def test_correct_sequence_biases_sweeps_and_keeps_the_device(bench: Any) -> None:
    sim, smu, history = bench
    with kernel(smu) as k:
        r = k.power_up(-1.5, 10.0)
        assert r.vds_v == pytest.approx(10.0, abs=1e-3) and 0.01 < r.id_a < 0.5
        assert r.tj_c == pytest.approx(25.0 + 20.0 * r.pdiss_w)
        assert sim.bench.smu[("smu", 1)].output_on and sim.bench.smu[("smu", 2)].output_on
        k.set_point(-2.0, 5.0)
        sweep = k.sweep_drain(-1.0, [0.0, 0.5, 1.0, 4.0])
        assert not sweep.stopped_by_compliance and not sweep.drain_in_compliance.any()
        assert np.all(np.diff(sweep.id_a) > 0)  # the linear region rises
        transfer = k.sweep_gate(5.0, [-4.0, -2.0, -1.5])
        assert np.all(np.diff(transfer.id_a) > 0)
    assert k.last_power_down is not None and k.last_power_down.safe
    assert_safe_history(history)
    assert not sim.bench.hemt.damaged, sim.bench.hemt.damage_reason


def test_the_wrong_order_destroys_the_device(bench: Any) -> None:
    """Control: the damage flag and the history check do see an unsequenced bias."""
    sim, smu, history = bench
    smu.set_voltage_source(2, 20.0, 1.5)  # drain first, gate floating: D-mode conducts
    smu.set_output(2, True)
    time.sleep(0.02)  # 2 s simulated at time_scale 0.01
    smu.measure(2)
    smu.make_safe()
    assert sim.bench.hemt.damaged
    with pytest.raises(AssertionError, match="drain on with the gate floating"):
        assert_safe_history(history)


def test_a_point_beyond_the_soa_is_refused_before_anything_changes(bench: Any) -> None:
    sim, smu, history = bench
    k = kernel(smu)
    sent = len(writes(smu))
    with pytest.raises(SoaViolation, match=r"point 0 \(Vgs 0 V, Vds 30 V\): Pdiss 15 W"):
        k.power_up(0.0, 30.0)
    assert writes(smu)[sent:] == [] and history == []
    k.power_up(-2.0, 2.0)
    sent, changes = len(writes(smu)), len(history)
    with pytest.raises(SoaViolation, match=r"point 3 \(Vgs -1 V, Vds 15 V\)"):
        k.sweep_drain(-1.0, [0.0, 5.0, 10.0, 15.0, 20.0])
    assert writes(smu)[sent:] == [] and len(history) == changes  # not a single step taken
    k.power_down()
    assert_safe_history(history)
    assert not sim.bench.hemt.damaged


def test_a_limit_beyond_the_instruments_range_is_refused_before_anything_changes(
        bench: Any) -> None:
    """Above ~21 V an SMU's high-voltage range sources only ~0.1 A: a 0.2 A drain compliance
    at 25 V is inside the SOA (5 W worst case) but not something the SMU can do."""
    sim, smu, history = bench
    k = kernel(smu, 0.2)
    sent = len(writes(smu))
    with pytest.raises(SoaViolation, match=r"point 1 \(Vgs -6 V, Vds 25 V\): drain limit 0.2 A "
                       r"at 25 V is beyond .* channel 2 \(0.1(05)? A there\)") as refused:
        k.sweep_drain(-6.0, [20.0, 25.0])
    assert len(refused.value.violations) == 1  # the SOA itself allows the point
    assert writes(smu)[sent:] == [] and history == []
    sweep = k.sweep_drain(-6.0, [20.0, 25.0], drain_current_limit_a=0.01)
    assert sweep.vds_v.size == 2 and not sweep.drain_in_compliance.any()
    k.power_down()
    assert_safe_history(history)
    assert not sim.bench.hemt.damaged


@pytest.mark.parametrize("interrupt", [RuntimeError, KeyboardInterrupt])
def test_exception_or_ctrl_c_inside_the_context_powers_down_in_order(
        bench: Any, interrupt: type[BaseException]) -> None:
    sim, smu, history = bench
    with pytest.raises(interrupt), kernel(smu) as k:
        k.power_up(-1.5, 4.0)
        if interrupt is KeyboardInterrupt:
            signal.raise_signal(signal.SIGINT)  # a real Ctrl-C, delivered by the handler
        raise interrupt("measurement failed")
    assert not k.biased and k.last_power_down is not None and k.last_power_down.safe
    assert_safe_history(history)
    assert [name for name, ok, _ in k.last_power_down.steps if ok] == [
        "drain ramp to 0 V", "drain current ≈ 0", "drain output off", "gate to pinch-off",
        "gate to 0 V", "gate output off"]
    assert not sim.bench.hemt.damaged


def test_drain_compliance_trip_powers_down(bench: Any) -> None:
    sim, smu, history = bench
    k = kernel(smu, drain_limit_a=0.1)
    k.power_up(-3.0, 5.0)
    with pytest.raises(BiasFault, match="drain compliance trip") as fault:
        k.set_point(0.0, 5.0)  # Idss ≈ 0.5 A against a 0.1 A compliance
    assert fault.value.reading is not None and fault.value.reading.drain_in_compliance
    assert fault.value.report is not None and fault.value.report.safe
    assert "bench safe" in str(fault.value)
    assert_safe_history(history)
    assert not sim.bench.hemt.damaged


def test_compliance_stop_ends_a_sweep_safely(bench: Any) -> None:
    sim, smu, history = bench
    k = kernel(smu, drain_limit_a=0.1)
    sweep = k.sweep_drain(-1.0, [0.5, 1.0, 3.0, 5.0], compliance_stops=True)
    assert sweep.stopped_by_compliance and sweep.drain_in_compliance[-1]
    assert len(sweep.id_a) < 4 and not k.biased
    assert_safe_history(history)
    assert not sim.bench.hemt.damaged


def test_a_gate_that_does_not_pinch_off_never_gets_a_drain(bench: Any) -> None:
    sim, smu, history = bench
    hemt = sim.bench.hemt
    hemt.damaged, hemt.damage_mode, hemt.damage_reason = True, "gate_short", "test"
    with pytest.raises(BiasFault, match="gate not pinched off"):
        kernel(smu).power_up(-1.5, 10.0)
    snaps = replay(history)
    assert not any(s.drain_on for s in snaps)
    assert any(s.gate_on and s.gate_v == PINCH_OFF_V for s in snaps)
    assert not snaps[-1].gate_on
