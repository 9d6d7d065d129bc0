"""Keysight B2902A/B2912A driver against the simulator over real sockets, with the simulated
GaN HEMT wired gate → channel 1, drain → channel 2 (source grounded)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from instruments.errors import IdentityMismatch, InstrumentError
from instruments.interfaces import SmuReading, SourceMeter
from instruments.keysight.b2900 import KeysightB2900
from instruments.registry import connect
from simulators import SimulatedBench

GATE, DRAIN = 1, 2


def hemt_config(model: str = "keysight_b2902a", **extra: Any) -> dict[str, Any]:
    return {"seed": 5, "time_scale": 0.01, "instruments": {"smu": model},
            "dut": {"model": "gan_hemt", "gate_width_mm": 1.0},
            "wiring": {"gate": {"role": "smu", "channel": GATE},
                       "drain": {"role": "smu", "channel": DRAIN}}, **extra}


@pytest.fixture
def sim() -> Iterator[SimulatedBench]:
    with SimulatedBench(hemt_config()) as s:
        yield s


@pytest.fixture
def smu(sim: SimulatedBench) -> Iterator[KeysightB2900]:
    driver = connect("keysight.b2902a", sim.resources["smu"])
    assert isinstance(driver, KeysightB2900)
    driver.reset()
    yield driver
    driver.close()


def bias_pinched_off(smu: KeysightB2900, vgs_v: float = -5.0) -> None:
    """Gate below pinch-off with its limit, then on: the sequence of reference §2.6."""
    smu.set_voltage_source(GATE, vgs_v, 1e-3)
    smu.set_output(GATE, True)


def test_registry_identity_and_prepared_state(sim: SimulatedBench, smu: KeysightB2900) -> None:
    assert isinstance(smu, SourceMeter) and smu.channels == (1, 2)
    assert smu.identity.model == "B2902A"
    # an INIT or MEAS? must never switch a bias on by itself
    assert smu.session.query(":OUTP1:ON:AUTO?") == "0"
    assert smu.session.query(":OUTP2:ON:AUTO?") == "0"
    assert not smu.output_is_on(GATE) and not sim.bench.smu[("smu", GATE)].output_on
    with (SimulatedBench({"instruments": {"ps": "keysight_e36312a"}}) as other,
          pytest.raises(IdentityMismatch)):
        connect("keysight.b2902a", other.resources["ps"])


def test_sources_outputs_and_read_backs(sim: SimulatedBench, smu: KeysightB2900) -> None:
    smu.set_voltage_source(GATE, -4.0, 2e-3)
    state = sim.bench.smu[("smu", GATE)]
    assert (state.mode, state.level, state.limit, state.output_on) == ("VOLT", -4.0, 2e-3, False)
    assert smu.measure(GATE) == SmuReading(0.0, 0.0, False)  # off: nothing flows
    smu.set_output(GATE, True)
    assert smu.output_is_on(GATE) and sim.bench.smu[("smu", GATE)].output_on
    reading = smu.measure(GATE)
    assert reading.voltage_v == pytest.approx(-4.0, abs=1e-3)
    assert 0 < -reading.current_a < 1e-4 and not reading.in_compliance  # reverse leakage
    smu.set_current_source(DRAIN, 1e-6, 5.0)
    state = sim.bench.smu[("smu", DRAIN)]
    assert (state.mode, state.level, state.limit) == ("CURR", 1e-6, 5.0)
    smu.set_output(DRAIN, True)
    reading = smu.measure(DRAIN)
    assert reading.current_a == pytest.approx(1e-6, rel=1e-3)
    smu.make_safe()
    assert not any(sim.bench.smu[("smu", n)].output_on for n in (1, 2))
    writes = [text for _, kind, text in smu.session.traffic if kind == "w"]
    assert writes.index(":OUTP2 OFF") < writes.index(":OUTP1 OFF")  # drain before gate
    assert not sim.bench.hemt.damaged


def test_gate_current_limit_clamps_the_forward_gate(sim: SimulatedBench,
                                                    smu: KeysightB2900) -> None:
    """+2 V on the Schottky gate would draw far more than 1 mA: the channel holds 1 mA and its
    voltage backs off; the status bits and TRIP? say so."""
    smu.set_voltage_source(GATE, 2.0, 1e-3)
    smu.set_output(GATE, True)
    reading = smu.measure(GATE)
    assert reading.in_compliance
    assert reading.current_a == pytest.approx(1e-3, rel=1e-2)
    assert 0.5 < reading.voltage_v < 2.0
    assert smu.session.query(":SENS1:CURR:PROT:TRIP?") == "1"
    assert not sim.bench.hemt.damaged


def test_drain_current_limit_clamps_the_channel(sim: SimulatedBench,
                                                smu: KeysightB2900) -> None:
    """Vgs = 0 V conducts Idss ≈ 0.5 A at 5 V; a 100 mA limit holds the drain at 100 mA."""
    bias_pinched_off(smu, 0.0)
    smu.set_voltage_source(DRAIN, 5.0, 0.1)
    smu.set_output(DRAIN, True)
    reading = smu.measure(DRAIN)
    assert reading.in_compliance and reading.current_a == pytest.approx(0.1, rel=1e-2)
    assert 0.0 < reading.voltage_v < 5.0
    assert not smu.measure(GATE).in_compliance
    smu.set_voltage_source(DRAIN, 5.0, 1.0)  # enough headroom: no compliance
    reading = smu.measure(DRAIN)
    assert not reading.in_compliance and reading.voltage_v == pytest.approx(5.0, abs=1e-3)
    assert 0.1 < reading.current_a < 1.0
    smu.make_safe()
    assert not sim.bench.hemt.damaged


def test_dc_list_sweep_points_time_stamps_and_restore(sim: SimulatedBench,
                                                      smu: KeysightB2900) -> None:
    bias_pinched_off(smu, -1.0)
    smu.set_voltage_source(DRAIN, 0.0, 0.5)
    smu.set_output(DRAIN, True)
    vds = np.linspace(0.0, 5.0, 11)
    result = smu.voltage_list_sweep(DRAIN, vds, 0.2, aperture_s=1e-3)
    for array in (result.source_values, result.voltage_v, result.current_a, result.time_s,
                  result.in_compliance):
        assert array.shape == (11,)
    np.testing.assert_allclose(result.source_values, vds)
    assert result.time_s[0] == 0.0 and np.all(np.diff(result.time_s) > 0)
    np.testing.assert_allclose(np.diff(result.time_s), 1e-3 + 1e-4, rtol=1e-6)
    assert np.all(np.diff(result.current_a[:3]) > 0)  # the linear region rises
    # above 0.2 A the channel clamps and says so point by point
    clamped = result.current_a > 0.199
    np.testing.assert_array_equal(result.in_compliance, clamped)
    assert clamped.any() and not clamped[:2].any()
    np.testing.assert_allclose(result.voltage_v[~clamped], vds[~clamped], atol=2e-3)
    # back to the programme before the sweep: 0 V, 0.5 A limit, DC, fixed, one trigger
    state = sim.bench.smu[("smu", DRAIN)]
    assert (state.mode, state.level, state.limit, state.output_on) == ("VOLT", 0.0, 0.5, True)
    assert smu.session.query(":SOUR2:VOLT:MODE?") == "FIX"
    assert smu.session.query(":TRIG2:ACQ:COUN?") == "1"
    assert smu.measure(DRAIN).voltage_v == pytest.approx(0.0, abs=1e-3)
    assert not sim.bench.hemt.damaged


def test_pulsed_list_sweep_beats_self_heating(sim: SimulatedBench,
                                              smu: KeysightB2900) -> None:
    """100 µs pulses every 10 ms from a 0 V base: one point per period, sampled in the pulse;
    at 10 V the pulsed current exceeds the self-heated DC current."""
    bias_pinched_off(smu, 0.0)
    smu.set_voltage_source(DRAIN, 0.0, 1.0)
    smu.set_output(DRAIN, True)
    vds = np.array([1.0, 5.0, 10.0])
    pulsed = smu.voltage_list_sweep(DRAIN, vds, 1.0, aperture_s=2e-5, pulse_width_s=1e-4,
                                    pulse_period_s=1e-2, pulse_base_v=0.0)
    assert pulsed.current_a.shape == (3,) and not pulsed.in_compliance.any()
    np.testing.assert_allclose(np.diff(pulsed.time_s), 1e-2, rtol=1e-6)
    np.testing.assert_allclose(pulsed.voltage_v, vds, atol=5e-3)
    dc = smu.voltage_list_sweep(DRAIN, vds, 1.0, aperture_s=1e-3)
    assert pulsed.current_a[-1] > dc.current_a[-1] * 1.05
    assert sim.bench.smu[("smu", DRAIN)].level == 0.0
    smu.make_safe()
    assert not sim.bench.hemt.damaged


def test_sweep_and_source_refusals(sim: SimulatedBench, smu: KeysightB2900) -> None:
    """Checked before anything is sent: ranges, pulse minimum (B2902A: 50 µs), base time,
    aperture inside the pulse, a switched-off output, channel numbers."""
    before = len(smu.session.traffic)
    with pytest.raises(ValueError, match="range"):
        smu.set_voltage_source(GATE, 250.0, 1e-3)
    with pytest.raises(ValueError, match="range"):
        smu.set_voltage_source(GATE, 1.0, 5.0)
    with pytest.raises(ValueError, match="compliance"):
        smu.set_voltage_source(GATE, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"0.5 A limit at 28 V is beyond the DC range there "
                       r"\(0.105 A\)"):  # the 200 V range
        smu.set_voltage_source(DRAIN, 28.0, 0.5)
    assert smu.max_current_limit_a(DRAIN, 5.0) == 3.03
    assert smu.max_current_limit_a(DRAIN, -15.0) == 1.515
    with pytest.raises(ValueError, match="channels"):
        smu.set_output(3, True)
    assert len(smu.session.traffic) == before
    smu.set_voltage_source(DRAIN, 0.0, 0.1)
    with pytest.raises(RuntimeError, match="off"):
        smu.voltage_list_sweep(DRAIN, np.array([0.0, 1.0]), 0.1)
    smu.set_output(DRAIN, True)
    with pytest.raises(ValueError, match="minimum"):
        smu.voltage_list_sweep(DRAIN, np.ones(2), 0.1, aperture_s=1e-5, pulse_width_s=2e-5,
                               pulse_period_s=1e-2)
    with pytest.raises(ValueError, match="base time"):
        smu.voltage_list_sweep(DRAIN, np.ones(2), 0.1, aperture_s=1e-5, pulse_width_s=1e-4,
                               pulse_period_s=1e-4)
    with pytest.raises(ValueError, match="fit"):
        smu.voltage_list_sweep(DRAIN, np.ones(2), 0.1, aperture_s=1e-3, pulse_width_s=1e-4,
                               pulse_period_s=1e-2)
    with pytest.raises(ValueError, match="points"):
        smu.voltage_list_sweep(DRAIN, np.zeros(2501), 0.1)
    smu.make_safe()


def test_b2912a_takes_short_pulses() -> None:
    with SimulatedBench(hemt_config("keysight_b2912a")) as s:
        smu = connect("keysight.b2912a", s.resources["smu"])
        assert isinstance(smu, KeysightB2900)
        bias_pinched_off(smu, -5.0)
        smu.set_voltage_source(DRAIN, 0.0, 0.1)
        smu.set_output(DRAIN, True)
        result = smu.voltage_list_sweep(DRAIN, np.array([5.0, 10.0]), 0.1, aperture_s=1e-5,
                                        pulse_width_s=2e-5, pulse_period_s=1e-3)
        assert result.current_a.shape == (2,) and np.all(result.current_a < 1e-3)
        smu.make_safe()
        smu.close()


def test_instrument_errors_surface_and_the_sweep_restores(sim: SimulatedBench,
                                                          smu: KeysightB2900) -> None:
    """An error the instrument queues during setup raises InstrumentError naming the commands;
    the channel is restored to its programme all the same."""
    bias_pinched_off(smu)
    sim.servers["smu"].push_error(-221, "Settings conflict")
    with pytest.raises(InstrumentError) as info:
        smu.set_output(GATE, True)
    assert info.value.code == -221 and ":OUTP1 ON" in info.value.command
    smu.set_voltage_source(DRAIN, 1.0, 0.05)
    smu.set_output(DRAIN, True)
    sim.servers["smu"].push_error(-222, "Data out of range")
    with pytest.raises(InstrumentError):
        smu.voltage_list_sweep(DRAIN, np.array([2.0, 3.0]), 0.05)
    state = sim.bench.smu[("smu", DRAIN)]
    assert (state.level, state.limit) == (1.0, 0.05)
    assert smu.session.query(":SOUR2:VOLT:MODE?") == "FIX"
    smu.make_safe()
    assert not sim.bench.hemt.damaged
