"""Synchronous two-channel pulsed I-V (`SourceMeter.pulsed_iv_sweep`) on the Keysight B2902A and
the Keithley 2636B, over real sockets, with the simulated GaN HEMT wired gate → channel 1,
drain → channel 2: a family from Q = (0 V, 0 V) and from a stress Q = (-5 V, 20 V) shows current
collapse and a higher dynamic Ron, agrees with `hemt_bench.pulse_all` on a fresh equal model,
flags compliance per point and refuses pulse timing the instrument cannot do before anything
pulses. The single-channel Keithley 2450 cannot pulse two channels."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from instruments.interfaces import SmuSweepResult, SourceMeter
from instruments.registry import connect
from simulators import SimulatedBench, hemt_bench
from simulators.bench import SmuChannelState, VirtualBench
from tests._bias_bench import DRIVER, PINCH_OFF_V, hemt_config
from tests._visa import errors, raw_instrument

GATE, DRAIN = 1, 2
GATE_LIMIT_A, DRAIN_LIMIT_A = 1e-3, 1.0
WIDTH_S, PERIOD_S = 2e-4, 1e-2  # 2 % duty
#: the family: Vgs ∈ {-1, 0} V × Vds ∈ {0.5, 1, 5, 10} V, one (Vgs, Vds) pair per pulse
VGS, VDS = (a.ravel() for a in np.meshgrid([-1.0, 0.0], [0.5, 1.0, 5.0, 10.0], indexing="ij"))
KNEE = 6  # (Vgs 0 V, Vds 5 V)
LINEAR = 4  # (Vgs 0 V, Vds 0.5 V): the on-resistance region
MODELS = sorted(DRIVER)


@pytest.fixture(params=MODELS)
def bench(request: pytest.FixtureRequest) -> Iterator[tuple[SimulatedBench, SourceMeter, str]]:
    model = request.param
    with SimulatedBench(hemt_config(model)) as sim:
        smu = connect(DRIVER[model], sim.resources["smu"])
        smu.reset()
        yield sim, smu, model
        smu.make_safe()
        smu.close()


def move_to_q(smu: SourceMeter, vgs_v: float, vds_v: float) -> None:
    """The safe order (reference §2.6): gate pinched off (switched on first), drain on at 0 V
    or ramped in ≤ 5 V steps with the gate pinched off, then the gate to its quiescent level,
    held there."""
    smu.set_voltage_source(GATE, PINCH_OFF_V, GATE_LIMIT_A)
    if not smu.output_is_on(GATE):
        smu.set_output(GATE, True)
    if not smu.output_is_on(DRAIN):
        smu.set_voltage_source(DRAIN, 0.0, DRAIN_LIMIT_A)
        smu.set_output(DRAIN, True)
    present = smu.measure(DRAIN).voltage_v
    for v in [*np.arange(present, vds_v, np.sign(vds_v - present) * 5.0)[1:], vds_v]:
        smu.set_voltage_source(DRAIN, float(v), DRAIN_LIMIT_A)
    smu.set_voltage_source(GATE, vgs_v, GATE_LIMIT_A)
    # hold Q so the traps settle there (as the bias kernel's settle time does): 5 ms wall is
    # 0.5 s simulated at time_scale 0.01, 50 trap-emission time constants of the model
    time.sleep(0.005)


def family(smu: SourceMeter, q: tuple[float, float], drain_limit_a: float = DRAIN_LIMIT_A,
           **timing: Any) -> tuple[SmuSweepResult, SmuSweepResult]:
    kwargs: dict[str, Any] = {"pulse_width_s": WIDTH_S, "pulse_period_s": PERIOD_S, **timing}
    return smu.pulsed_iv_sweep(GATE, DRAIN, VGS, VDS, gate_base_v=q[0], drain_base_v=q[1],
                               gate_current_limit_a=GATE_LIMIT_A,
                               drain_current_limit_a=drain_limit_a, **kwargs)


def reference(model: str, q: tuple[float, float], drain_limit_a: float = DRAIN_LIMIT_A
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(Ig, Id, drain compliance) from `hemt_bench.pulse_all` on a fresh equal device biased
    at Q, pulsed point by point in the same order and timing (a pulse train: no time passes
    at Q between pulses other than each period's base time)."""
    vb = VirtualBench(hemt_config(model))
    g, d = ("smu", GATE), ("smu", DRAIN)
    vb.smu[g] = SmuChannelState("VOLT", q[0], GATE_LIMIT_A, True)
    vb.smu[d] = SmuChannelState("VOLT", q[1], drain_limit_a, True)
    hemt_bench.solve(vb)
    rows = []
    for k, (vg, vd) in enumerate(zip(VGS, VDS, strict=True)):
        if k:  # one pulse per period: the base time in between is charged by pulse_all
            vb.hemt.bias_since_s = time.monotonic()
        r = hemt_bench.pulse_all(vb, "smu", GATE, q[0], vg, WIDTH_S, PERIOD_S,
                                 synchronous={d: (q[1], vd)})
        rows.append((r[g].current_a, r[d].current_a, r[d].in_compliance))
    ig, i_d, hit = (np.array(c) for c in zip(*rows, strict=True))
    return ig, i_d, hit.astype(bool)


def configuring_writes(smu: SourceMeter, since: int) -> list[str]:
    """What the driver sent after `since` other than queries."""
    return [text for _, kind, text in list(smu.session.traffic)[since:]
            if kind == "w" and "?" not in text and not text.startswith("print(")]


def assert_at_q(sim: SimulatedBench, q: tuple[float, float],
                limits: tuple[float, float] = (GATE_LIMIT_A, DRAIN_LIMIT_A)) -> None:
    for n, level, limit in ((GATE, q[0], limits[0]), (DRAIN, q[1], limits[1])):
        state = sim.bench.smu[("smu", n)]
        assert (state.mode, state.level, state.limit, state.output_on) == (
            "VOLT", level, limit, True), (n, state)


def test_family_from_two_quiescent_points(
        bench: tuple[SimulatedBench, SourceMeter, str]) -> None:
    sim, smu, model = bench
    results = {}
    for q in ((0.0, 0.0), (-5.0, 20.0)):
        move_to_q(smu, *q)
        gate, drain = family(smu, q)
        for r, levels in ((gate, VGS), (drain, VDS)):
            for array in (r.source_values, r.voltage_v, r.current_a, r.time_s,
                          r.in_compliance):
                assert array.shape == (VGS.size,)
            np.testing.assert_allclose(r.source_values, levels)
            np.testing.assert_allclose(r.voltage_v, levels, atol=2e-3)  # sampled in the pulse
            np.testing.assert_allclose(np.diff(r.time_s), PERIOD_S, rtol=1e-6)
            assert r.time_s[0] == 0.0 and not r.in_compliance.any()
        np.testing.assert_array_equal(gate.time_s, drain.time_s)  # one pulse, both channels
        assert_at_q(sim, q)  # back at the bases with the DC limits
        assert smu.measure(DRAIN).voltage_v == pytest.approx(q[1], abs=2e-3)
        ig, i_d, _ = reference(model, q)
        np.testing.assert_allclose(drain.current_a, i_d, rtol=2e-3, atol=1e-6)
        np.testing.assert_allclose(gate.current_a, ig, rtol=2e-2, atol=2e-9)
        results[q] = drain
    fresh, stressed = results[(0.0, 0.0)], results[(-5.0, 20.0)]
    collapse = 1.0 - stressed.current_a[KNEE] / fresh.current_a[KNEE]
    assert 0.05 < collapse < 0.5, collapse
    ron_fresh = VDS[LINEAR] / fresh.current_a[LINEAR]
    ron_stressed = VDS[LINEAR] / stressed.current_a[LINEAR]
    assert ron_stressed > 1.1 * ron_fresh, (ron_fresh, ron_stressed)  # dynamic Ron
    assert np.all(stressed.current_a < fresh.current_a)
    move_to_q(smu, PINCH_OFF_V, 0.0)
    assert not sim.bench.hemt.damaged


def test_drain_limit_below_the_pulse_current_sets_compliance(
        bench: tuple[SimulatedBench, SourceMeter, str]) -> None:
    """A 100 mA pulse limit clamps every point whose in-pulse current would exceed it, point by
    point; the DC limit (1 A) is back afterwards and a plain list sweep still works."""
    sim, smu, model = bench
    q = (0.0, 0.0)
    move_to_q(smu, *q)
    gate, drain = family(smu, q, drain_limit_a=0.1)
    _, i_d, hit = reference(model, q, drain_limit_a=0.1)
    free_expected = reference(model, q)[1]
    np.testing.assert_array_equal(hit, free_expected > 0.1)
    assert hit.any() and not hit.all()
    np.testing.assert_array_equal(drain.in_compliance, hit)
    np.testing.assert_allclose(drain.current_a[hit], 0.1, rtol=1e-2)
    np.testing.assert_allclose(drain.current_a, i_d, rtol=2e-3, atol=1e-6)
    assert np.all(drain.voltage_v[hit] < VDS[hit])  # the clamped channel's voltage backs off
    assert not gate.in_compliance.any()
    assert_at_q(sim, q)
    dc = smu.voltage_list_sweep(DRAIN, np.array([0.0, 0.2]), DRAIN_LIMIT_A, aperture_s=1e-3)
    np.testing.assert_allclose(dc.voltage_v, [0.0, 0.2], atol=2e-3)
    assert 0.0 < dc.current_a[1] < 0.1 and not dc.in_compliance.any()
    move_to_q(smu, PINCH_OFF_V, 0.0)
    assert not sim.bench.hemt.damaged


def test_impossible_timing_and_wrong_state_refused_before_anything_pulses(
        bench: tuple[SimulatedBench, SourceMeter, str]) -> None:
    """B2902A: ≥ 50 µs pulses; 2636B: ≥ 100 µs with the aperture and its measurement overhead
    inside; both: base time in every period, equal level counts, outputs on at the bases."""
    sim, smu, model = bench
    q = (-5.0, 20.0)
    move_to_q(smu, *q)
    before = len(smu.session.traffic)
    with pytest.raises(ValueError, match="minimum"):
        family(smu, q, pulse_width_s=2e-5, pulse_period_s=1e-2)
    with pytest.raises(ValueError, match="base time"):
        family(smu, q, pulse_period_s=WIDTH_S)  # 100 % duty
    with pytest.raises(ValueError, match="fit"):
        family(smu, q, aperture_s=WIDTH_S * 1.5)
    with pytest.raises(ValueError, match="in step"):
        smu.pulsed_iv_sweep(GATE, DRAIN, VGS, VDS[:-1], gate_base_v=q[0], drain_base_v=q[1],
                            gate_current_limit_a=GATE_LIMIT_A,
                            drain_current_limit_a=DRAIN_LIMIT_A, pulse_width_s=WIDTH_S,
                            pulse_period_s=PERIOD_S)
    with pytest.raises(ValueError, match="both on channel"):
        smu.pulsed_iv_sweep(DRAIN, DRAIN, VDS, VDS, gate_base_v=q[1], drain_base_v=q[1],
                            gate_current_limit_a=GATE_LIMIT_A,
                            drain_current_limit_a=DRAIN_LIMIT_A, pulse_width_s=WIDTH_S,
                            pulse_period_s=PERIOD_S)
    assert len(smu.session.traffic) == before  # refused on the arguments alone
    with pytest.raises(RuntimeError, match="base"):
        family(smu, (-5.0, 10.0))  # the drain sits at 20 V, not at the asked base
    assert configuring_writes(smu, before) == []
    assert_at_q(sim, q)
    move_to_q(smu, PINCH_OFF_V, 0.0)
    smu.set_output(DRAIN, False)
    with pytest.raises(RuntimeError, match="off"):
        family(smu, (PINCH_OFF_V, 0.0))
    assert not sim.bench.hemt.damaged


def test_b2900_checks_every_channel_before_either_pulses() -> None:
    """Raw SCPI on the simulator: two channels initiated together in pulse mode pulse in step;
    a pulse that does not fit in channel 2's period refuses the whole INIT (@1,2), so
    channel 1 acquires nothing either."""
    with SimulatedBench(hemt_config("keysight_b2902a")) as sim, \
            raw_instrument(sim.resources["smu"]) as inst:
        for n in (1, 2):
            inst.write(f":SOUR{n}:VOLT -5;:OUTP{n} ON;:SOUR{n}:FUNC:SHAP PULS;"
                       f":SOUR{n}:PULS:WIDT 1e-4;:SOUR{n}:VOLT:MODE LIST;"
                       f":SOUR{n}:LIST:VOLT -4,-3;:TRIG{n}:COUN 2;:TRIG{n}:TRAN:SOUR TIM;"
                       f":TRIG{n}:TRAN:TIM 1e-2;:TRIG{n}:ACQ:DEL 5e-5;:SENS{n}:CURR:APER 5e-5")
        inst.write(":TRIG2:TRAN:TIM 1e-4;:INIT (@1,2)")
        assert errors(inst) == [-221]
        inst.write(":FETC:ARR:CURR? (@1)")
        assert errors(inst) == [-230]  # nothing acquired
        inst.write(":TRIG2:TRAN:TIM 1e-2;:INIT (@1,2)")
        times = [inst.query(f":FETC:ARR:TIME? (@{n})") for n in (1, 2)]
        assert times[0] == times[1] and errors(inst) == []
        assert sim.bench.smu[("smu", 1)].level == sim.bench.smu[("smu", 2)].level == -5.0


def test_keithley_2450_cannot_pulse_two_channels() -> None:
    with SimulatedBench({"seed": 1, "instruments": {"smu": "keithley_2450"}}) as sim:
        smu = connect("keithley.2450", sim.resources["smu"])
        with pytest.raises(NotImplementedError, match="in step"):
            smu.pulsed_iv_sweep(1, 2, VGS, VDS, gate_base_v=0.0, drain_base_v=0.0,
                                gate_current_limit_a=GATE_LIMIT_A,
                                drain_current_limit_a=DRAIN_LIMIT_A, pulse_width_s=WIDTH_S,
                                pulse_period_s=PERIOD_S)
        smu.close()
