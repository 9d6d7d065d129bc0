"""Keithley 2450 driver against its simulator over real sockets (pyvisa-py), with and without
the GaN HEMT between two 2450s (gate and drain; the source is grounded)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from instruments.errors import IdentityMismatch, InstrumentError
from instruments.interfaces import SourceMeter
from instruments.keithley.k2450 import Keithley2450
from instruments.registry import DRIVERS, connect
from simulators import MODELS, SimulatedBench
from tests._visa import errors, raw_instrument

HEMT_CONFIG: dict[str, Any] = {
    "seed": 3, "time_scale": 0.01,
    "instruments": {"gate_smu": "keithley_2450", "drain_smu": "keithley_2450"},
    "dut": {"model": "gan_hemt", "gate_width_mm": 1.0},
    "wiring": {"gate": {"role": "gate_smu", "channel": 1},
               "drain": {"role": "drain_smu", "channel": 1}},
}


@pytest.fixture()
def open_bench() -> Iterator[tuple[SimulatedBench, Keithley2450]]:
    """One 2450 with nothing on its terminals."""
    with SimulatedBench({"seed": 1, "time_scale": 0.01,
                         "instruments": {"smu": "keithley_2450"}}) as sim:
        smu = connect("keithley.2450", sim.resources["smu"])
        assert isinstance(smu, Keithley2450)
        smu.reset()
        yield sim, smu
        smu.close()


@pytest.fixture()
def hemt_bench() -> Iterator[tuple[SimulatedBench, Keithley2450, Keithley2450]]:
    with SimulatedBench(HEMT_CONFIG) as sim:
        gate = connect("keithley.2450", sim.resources["gate_smu"])
        drain = connect("keithley.2450", sim.resources["drain_smu"])
        assert isinstance(gate, Keithley2450) and isinstance(drain, Keithley2450)
        gate.reset()
        drain.reset()
        yield sim, gate, drain
        drain.make_safe()
        gate.make_safe()
        gate.close()
        drain.close()


def test_registered_and_identity(open_bench: tuple[SimulatedBench, Keithley2450]) -> None:
    sim, smu = open_bench
    assert MODELS["keithley_2450"] and DRIVERS["keithley.2450"]
    assert isinstance(smu, SourceMeter) and smu.channels == (1,)
    assert smu.identity.model == "MODEL 2450"
    with pytest.raises(IdentityMismatch):
        connect("keithley.2636b", sim.resources["smu"])


def test_voltage_source_into_open_circuit(open_bench: tuple[SimulatedBench, Keithley2450]
                                          ) -> None:
    sim, smu = open_bench
    smu.set_voltage_source(1, -3.0, 1e-3)
    state = sim.bench.smu[("smu", 1)]
    assert (state.mode, state.level, state.limit, state.output_on) == ("VOLT", -3.0, 1e-3, False)
    assert not smu.output_is_on(1)
    smu.set_output(1, True)
    assert smu.output_is_on(1) and state.output_on
    reading = smu.measure(1)
    assert reading.voltage_v == pytest.approx(-3.0, abs=1e-3)
    assert abs(reading.current_a) < 1e-9
    assert not reading.in_compliance and not smu.limit_tripped(1)


def test_current_source_into_open_circuit_rails_at_the_limit(
        open_bench: tuple[SimulatedBench, Keithley2450]) -> None:
    sim, smu = open_bench
    smu.set_current_source(1, 1e-3, 5.0)
    smu.set_output(1, True)
    reading = smu.measure(1)
    assert reading.in_compliance and smu.limit_tripped(1)
    assert reading.voltage_v == pytest.approx(5.0, abs=1e-3)
    assert sim.bench.smu[("smu", 1)].mode == "CURR"


def test_make_safe_and_reset_turn_the_output_off(
        open_bench: tuple[SimulatedBench, Keithley2450]) -> None:
    sim, smu = open_bench
    smu.set_voltage_source(1, 1.0, 1e-3)
    smu.set_output(1, True)
    smu.make_safe()
    assert not sim.bench.smu[("smu", 1)].output_on
    smu.set_output(1, True)
    smu.reset()
    assert not sim.bench.smu[("smu", 1)].output_on and not smu.output_is_on(1)


def test_driver_refuses_values_beyond_the_ratings(
        open_bench: tuple[SimulatedBench, Keithley2450]) -> None:
    _, smu = open_bench
    with pytest.raises(ValueError):
        smu.set_voltage_source(1, 250.0, 1e-3)
    with pytest.raises(ValueError):
        smu.set_voltage_source(1, 100.0, 0.5)  # 200 V range: 105 mA at most
    with pytest.raises(ValueError):
        smu.set_current_source(1, 2.0, 5.0)
    with pytest.raises(ValueError):
        smu.set_output(2, True)


def test_instrument_errors_reach_the_driver(
        open_bench: tuple[SimulatedBench, Keithley2450]) -> None:
    sim, smu = open_bench
    with pytest.raises(InstrumentError) as info:
        smu._configure(":SOUR:VOLT 300")
    assert info.value.code == -222
    with raw_instrument(sim.resources["smu"]) as raw:
        raw.write(":SOUR:VOLT:NOPE 1")
        raw.write(":SOUR:VOLT:ILIM 5")
        assert errors(raw) == [-113, -222]


def test_sweep_without_pulse_mode_and_with_output_off(
        open_bench: tuple[SimulatedBench, Keithley2450]) -> None:
    _, smu = open_bench
    smu.set_voltage_source(1, 0.0, 1e-3)
    with pytest.raises(RuntimeError):
        smu.voltage_list_sweep(1, np.array([0.0, 1.0]), 1e-3)
    smu.set_output(1, True)
    with pytest.raises(NotImplementedError):
        smu.voltage_list_sweep(1, np.array([0.0, 1.0]), 1e-3, pulse_width_s=1e-4)


def test_list_sweep_open_circuit_restores_the_level(
        open_bench: tuple[SimulatedBench, Keithley2450]) -> None:
    sim, smu = open_bench
    smu.set_voltage_source(1, -1.0, 1e-3)
    smu.set_output(1, True)
    volts = np.linspace(0.0, 5.0, 151)  # > one :SOUR:LIST chunk
    result = smu.voltage_list_sweep(1, volts, 2e-3, aperture_s=0.002)
    np.testing.assert_allclose(result.voltage_v, volts, atol=1e-3)
    assert np.all(np.abs(result.current_a) < 1e-9) and not result.in_compliance.any()
    assert np.all(np.diff(result.time_s) > 0)
    state = sim.bench.smu[("smu", 1)]
    assert (state.level, state.limit) == (-1.0, 1e-3)


def test_raw_linear_sweep_and_buffer_elements(
        open_bench: tuple[SimulatedBench, Keithley2450]) -> None:
    sim, _ = open_bench
    with raw_instrument(sim.resources["smu"]) as raw:
        raw.write(':SOUR:FUNC VOLT;:SOUR:VOLT:ILIM 0.01;:SENS:FUNC "CURR";:SENS:CURR:NPLC 0.1')
        raw.write(':SOUR:SWE:VOLT:LIN 0,2,5,0.001,1,BEST,OFF,OFF,"defbuffer1"')
        raw.write(":INIT;*WAI")
        assert raw.query(':TRAC:ACT? "defbuffer1"') == "5"
        sources = raw.query(':TRAC:DATA? 1,5,"defbuffer1",SOUR').split(",")
        np.testing.assert_allclose([float(s) for s in sources], [0, 0.5, 1, 1.5, 2], atol=1e-3)
        assert raw.query(":OUTP?") == "1"  # a sweep turns the output on [verify]
        raw.write(':TRAC:DATA? 1,9,"defbuffer1"')  # beyond the buffer: no reply, -222
        assert errors(raw) == [-222]


def test_hemt_drain_current_clamps_at_the_limit(
        hemt_bench: tuple[SimulatedBench, Keithley2450, Keithley2450]) -> None:
    sim, gate, drain = hemt_bench
    gate.set_voltage_source(1, 0.0, 1e-3)
    drain.set_voltage_source(1, 1.0, 10e-3)
    gate.set_output(1, True)
    drain.set_output(1, True)  # D-mode: conducts at Vgs = 0 and wants ~0.3 A at 1 V
    reading = drain.measure(1)
    assert reading.in_compliance and drain.limit_tripped(1)
    assert reading.current_a == pytest.approx(10e-3, rel=0.02)
    assert 0.0 < reading.voltage_v < 0.2
    assert not gate.measure(1).in_compliance
    assert not sim.bench.hemt.damaged


def test_hemt_output_curve_sweep(
        hemt_bench: tuple[SimulatedBench, Keithley2450, Keithley2450]) -> None:
    sim, gate, drain = hemt_bench
    gate.set_voltage_source(1, -1.0, 1e-3)
    drain.set_voltage_source(1, 0.0, 0.1)
    gate.set_output(1, True)
    drain.set_output(1, True)
    volts = np.linspace(0.0, 2.0, 21)
    result = drain.voltage_list_sweep(1, volts, 0.1, aperture_s=0.002)
    expected = np.array([float(sim.bench.hemt.currents(-1.0, v)[1]) for v in volts])
    free = ~result.in_compliance
    assert result.in_compliance[-1] and free[:3].all()
    np.testing.assert_allclose(result.current_a[free], expected[free], rtol=0.05, atol=2e-5)
    np.testing.assert_allclose(result.current_a[~free], 0.1, rtol=0.01)
    assert np.all(np.diff(result.current_a) > -1e-4)
    assert not sim.bench.hemt.damaged
