"""The HEMT between two SMU channels (simulators.hemt_bench): compliance clamping, open outputs,
damage charged for the time a point is held, and pulsed readings (collapse, no self-heating)."""

from __future__ import annotations

import time

import pytest

from simulators import hemt_bench as hb
from simulators.bench import SmuChannelState, VirtualBench

GATE, DRAIN, SPARE = ("smu", 1), ("smu", 2), ("smu2", 1)


def make_bench(hemt: bool = True) -> VirtualBench:
    cfg: dict = {"seed": 1, "time_scale": 1.0,
                 "wiring": {"gate": {"role": "smu", "channel": 1},
                            "drain": {"role": "smu", "channel": 2}}}
    if hemt:
        cfg["dut"] = {"model": "gan_hemt"}
    bench = VirtualBench(cfg)
    bench.smu[GATE] = SmuChannelState("VOLT", 0.0, 1e-3, False)
    bench.smu[DRAIN] = SmuChannelState("VOLT", 0.0, 0.1, False)
    return bench


def bias(bench: VirtualBench, vg: float, vd: float, ig_lim: float = 1e-3,
         id_lim: float = 1.2) -> dict:
    bench.smu[GATE] = SmuChannelState("VOLT", vg, ig_lim, True)
    bench.smu[DRAIN] = SmuChannelState("VOLT", vd, id_lim, True)
    return hb.solve(bench)


def test_no_device_every_channel_open() -> None:
    bench = make_bench(hemt=False)
    bench.smu[GATE] = SmuChannelState("VOLT", -5.0, 1e-3, True)
    bench.smu[DRAIN] = SmuChannelState("CURR", 1e-3, 20.0, True)
    bench.smu[SPARE] = SmuChannelState("VOLT", 3.0, 1e-3, False)
    r = hb.solve(bench)
    assert r[GATE] == hb.TerminalReading(-5.0, 0.0, False)
    assert r[DRAIN] == hb.TerminalReading(20.0, 0.0, True)  # current into an open: V at limit
    assert r[SPARE] == hb.TerminalReading(0.0, 0.0, False)


def test_unwired_channel_reads_open_while_device_biased() -> None:
    bench = make_bench()
    bench.smu[SPARE] = SmuChannelState("VOLT", 3.0, 1e-3, True)
    r = bias(bench, -5.0, 10.0)
    assert r[SPARE] == hb.TerminalReading(3.0, 0.0, False)
    assert r[DRAIN].voltage_v == 10.0 and 0 < r[DRAIN].current_a < 1e-4  # pinched off


def test_pinched_off_and_on_state_currents() -> None:
    bench = make_bench()
    r = bias(bench, -5.0, 5.0)
    # reverse leakage of both gate diodes: gate-source at -5 V, gate-drain at -10 V
    assert r[GATE].current_a == pytest.approx(-5e-6 * (0.5 ** 1.3 + 1.0), rel=0.05)
    r = bias(bench, 0.0, 5.0)
    assert not r[DRAIN].in_compliance and 0.4 < r[DRAIN].current_a < 0.7
    assert not bench.hemt.damaged


def test_gate_current_limited_voltage_backs_off() -> None:
    bench = make_bench()
    r = bias(bench, 2.5, 0.0, ig_lim=1e-3)
    g = r[GATE]
    assert g.in_compliance and abs(g.current_a) == pytest.approx(1e-3, rel=1e-9)
    assert 0.9 < g.voltage_v < 1.4  # the Schottky turn-on, not the programmed 2.5 V
    ig = float(bench.hemt.currents(g.voltage_v, r[DRAIN].voltage_v)[0])
    assert ig == pytest.approx(1e-3, rel=1e-3)  # the device really draws the limit there
    assert not bench.hemt.damaged  # 1 mA/mm forward is inside the rating


def test_drain_current_limited_voltage_backs_off() -> None:
    bench = make_bench()
    r = bias(bench, 0.0, 10.0, id_lim=0.1)
    d = r[DRAIN]
    assert d.in_compliance and d.current_a == pytest.approx(0.1, rel=1e-12)
    assert 0.0 < d.voltage_v < 1.0  # on the linear region: ≈ 0.1 A · Ron
    # the device draws the limit there (the traps moved a hair once the point was applied)
    i_d = float(bench.hemt.currents(r[GATE].voltage_v, d.voltage_v)[1])
    assert i_d == pytest.approx(0.1, rel=2e-3)
    assert not r[GATE].in_compliance


def test_current_forced_drain_injection_reads_breakdown_voltage() -> None:
    bench = make_bench()
    bench.smu[GATE] = SmuChannelState("VOLT", -7.0, 1e-2, True)
    bench.smu[DRAIN] = SmuChannelState("CURR", 1e-3, 200.0, True)
    r = hb.solve(bench)
    bv = bench.hemt.reference_values().bv_v
    assert not r[DRAIN].in_compliance and r[DRAIN].current_a == 1e-3
    assert r[DRAIN].voltage_v == pytest.approx(bv, abs=3.0)  # Vgs -7 vs Vth - 5: close
    assert not bench.hemt.damaged


def test_output_off_reads_zero_and_floating_gate_lets_channel_conduct() -> None:
    bench = make_bench()
    bench.smu[GATE] = SmuChannelState("VOLT", -5.0, 1e-3, False)
    bench.smu[DRAIN] = SmuChannelState("VOLT", 1.0, 0.05, True)
    r = hb.solve(bench)
    assert r[GATE] == hb.TerminalReading(0.0, 0.0, False)
    # D-mode: an open gate does not pinch the channel off; the drain hits its limit
    assert r[DRAIN].in_compliance and r[DRAIN].current_a == pytest.approx(0.05)
    bench.smu[DRAIN].output_on = False
    assert hb.solve(bench)[DRAIN] == hb.TerminalReading(0.0, 0.0, False)


def test_drain_before_gate_destroys_the_device_and_logs_it() -> None:
    bench = make_bench()
    bench.smu[DRAIN] = SmuChannelState("VOLT", 28.0, 2.0, True)  # gate still at 0 V, off
    hb.solve(bench)
    time.sleep(0.02)  # held for 20 ms: far beyond the 1 ms thermal time constant
    hb.solve(bench)
    assert bench.hemt.damaged and bench.hemt.damage_mode == "drain_source_short"
    assert any("DAMAGED" in t for t in bench.event_texts())
    r = hb.solve(bench)  # a shorted device: the drain current is set by the short
    assert r[DRAIN].current_a == pytest.approx(2.0) and r[DRAIN].in_compliance


def test_kernel_sequence_keeps_device_intact() -> None:
    bench = make_bench()
    bias(bench, -5.0, 0.0)
    for vd in (7.0, 14.0, 21.0, 28.0):  # ramped drain with the gate pinched off
        r = bias(bench, -5.0, vd)
    time.sleep(0.02)
    r = bias(bench, -5.0, 28.0)
    assert not bench.hemt.damaged and r[DRAIN].current_a < 1e-3
    assert bench.hemt.tj_c < 30.0


def test_held_point_is_charged_for_its_duration() -> None:
    bench = make_bench()
    bias(bench, 0.0, 25.0, id_lim=1.2)  # ≈ 10 W DC: survives the first millisecond...
    assert not bench.hemt.damaged
    time.sleep(0.03)  # ... but not a held DC point (steady Tj > 225 °C)
    hb.solve(bench)
    assert bench.hemt.damaged and "Tj" in bench.hemt.damage_reason


def test_pulsed_current_collapse_and_recovery() -> None:
    bench = make_bench()
    bias(bench, 0.0, 0.0)

    def knee_from(vgq: float, vdq: float) -> float:
        bias(bench, vgq, vdq)
        return hb.pulse(bench, "smu", 2, vdq, 5.0, 1e-6, 1e-3,
                        synchronous={GATE: (vgq, 0.0)}).current_a

    ref = knee_from(0.0, 0.0)
    assert ref == pytest.approx(float(bench.hemt.channel_current(0.0, 5.0, 25.0, 0.0)), rel=0.01)
    stressed = knee_from(-5.0, 28.0)
    collapse_pct = (1 - stressed / ref) * 100
    assert 15.0 < collapse_pct < 25.0
    bias(bench, 0.0, 0.0)
    time.sleep(0.1)  # ten emission time constants at (0 V, 0 V)
    recovered = knee_from(0.0, 0.0)
    assert recovered == pytest.approx(ref, rel=0.01)
    assert not bench.hemt.damaged


def test_short_pulses_show_no_self_heating_long_ones_do() -> None:
    bench = make_bench()

    def pulsed(vd: float, width_s: float) -> float:
        bias(bench, 0.0, 0.0)
        return hb.pulse(bench, "smu", 2, 0.0, vd, width_s, 1000 * width_s).current_a

    assert pulsed(15.0, 1e-6) > pulsed(5.0, 1e-6)  # isothermal: positive conductance
    assert pulsed(15.0, 20e-3) < pulsed(5.0, 20e-3)  # a 20 ms pulse heats like DC
    assert not bench.hemt.damaged


def test_pulse_of_an_unknown_or_off_channel_is_open() -> None:
    bench = make_bench()
    assert hb.pulse(bench, "smu9", 1, 0.0, 5.0, 1e-6, 1e-3) == hb.TerminalReading(0, 0, False)
    bench.smu[DRAIN].output_on = False
    assert hb.pulse(bench, "smu", 2, 0.0, 5.0, 1e-6, 1e-3) == hb.TerminalReading(0, 0, False)


def test_list_sweep_dwell_is_charged_without_wall_time() -> None:
    bench = make_bench()
    bias(bench, -5.0, 0.0)
    bench.smu[GATE].level = 0.0
    bench.smu[DRAIN].level = 25.0
    hb.solve(bench, dwell_s=1e-4)
    assert not bench.hemt.damaged  # 100 µs at 10 W: Tj ≈ 45 °C
    hb.solve(bench, dwell_s=0.05)  # the same point for 50 ms more
    assert bench.hemt.damaged
