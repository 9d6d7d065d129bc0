"""Keithley 2636B (TSP) driver against its simulator over real sockets (pyvisa-py), with the
GaN HEMT between smua (gate) and smub (drain)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from instruments.errors import IdentityMismatch, InstrumentError
from instruments.interfaces import SourceMeter
from instruments.keithley.k2636b import Keithley2636B
from instruments.registry import DRIVERS, connect
from simulators import MODELS, SimulatedBench
from tests._visa import raw_instrument

CONFIG: dict[str, Any] = {
    "seed": 5, "time_scale": 0.01,
    "instruments": {"smu": "keithley_2636b"},
    "dut": {"model": "gan_hemt", "gate_width_mm": 1.0},
    "wiring": {"gate": {"role": "smu", "channel": 1}, "drain": {"role": "smu", "channel": 2}},
}


@pytest.fixture()
def sim() -> Iterator[SimulatedBench]:
    with SimulatedBench(CONFIG) as bench:
        yield bench


@pytest.fixture()
def open_sim() -> Iterator[SimulatedBench]:
    with SimulatedBench({"seed": 1, "time_scale": 0.01,
                         "instruments": {"smu": "keithley_2636b"}}) as bench:
        yield bench


def _driver(bench: SimulatedBench) -> Keithley2636B:
    smu = connect("keithley.2636b", bench.resources["smu"])
    assert isinstance(smu, Keithley2636B)
    smu.reset()
    return smu


def test_registered_identity_and_channels(open_sim: SimulatedBench) -> None:
    assert MODELS["keithley_2636b"] and DRIVERS["keithley.2636b"]
    smu = _driver(open_sim)
    assert isinstance(smu, SourceMeter) and smu.channels == (1, 2)
    assert smu.identity.model == "Model 2636B"
    with pytest.raises(IdentityMismatch):
        connect("keithley.2450", open_sim.resources["smu"])
    with pytest.raises(ValueError):
        smu.set_output(3, True)


def test_sources_outputs_and_measure_open_circuit(open_sim: SimulatedBench) -> None:
    smu = _driver(open_sim)
    smu.set_voltage_source(1, -3.0, 1e-3)
    smu.set_current_source(2, 1e-3, 5.0)
    a, b = open_sim.bench.smu[("smu", 1)], open_sim.bench.smu[("smu", 2)]
    assert (a.mode, a.level, a.limit) == ("VOLT", -3.0, 1e-3)
    assert (b.mode, b.level, b.limit) == ("CURR", 1e-3, 5.0)
    assert not smu.output_is_on(1) and not smu.output_is_on(2)
    smu.set_output(1, True)
    smu.set_output(2, True)
    assert smu.output_is_on(1) and smu.output_is_on(2)
    ra, rb = smu.measure(1), smu.measure(2)
    assert ra.voltage_v == pytest.approx(-3.0, abs=1e-3) and not ra.in_compliance
    assert rb.voltage_v == pytest.approx(5.0, abs=1e-3) and rb.in_compliance  # open: rails
    smu.make_safe()
    assert not a.output_on and not b.output_on
    events = open_sim.bench.event_texts()
    assert events.index("smu: smub output OFF") < events.index("smu: smua output OFF")


def test_tsp_errors_as_the_instrument_reports_them(open_sim: SimulatedBench) -> None:
    smu = _driver(open_sim)
    with pytest.raises(InstrumentError) as info:
        smu._tsp("smua.source.levelv = = 1")
    assert info.value.code == -285 and "TSP Syntax error" in info.value.message
    with pytest.raises(InstrumentError) as info:
        smu._tsp("smua.source.nothing()")
    assert info.value.code == -286 and "nothing" in info.value.message
    with pytest.raises(InstrumentError):
        smu._tsp("smua.source.levelv = 500")
    with pytest.raises(ValueError):
        smu.set_voltage_source(2, 100.0, 0.5)  # above 20 V: 100 mA at most
    with raw_instrument(open_sim.resources["smu"]) as raw:
        raw.write("smua.source.levelv = 1 smua.source.bogus(")  # nothing of it runs
        assert raw.query("print(errorqueue.count)") == "1.00000000000e+00"
        assert raw.query("print(smua.source.levelv)") == "0.00000000000e+00"
        code, message, *_ = raw.query("print(errorqueue.next())").split("\t")
        assert float(code) == -285 and "near" in message
        assert raw.query("print(errorqueue.next())").split("\t")[1] == "Queue Is Empty"
        assert raw.query("*OPC?") == "1"


def test_printbuffer_after_a_raw_trigger_sweep(open_sim: SimulatedBench) -> None:
    with raw_instrument(open_sim.resources["smu"]) as raw:
        for statement in ("smub.source.limiti = 0.01", "smub.source.output = smub.OUTPUT_ON",
                          "smub.trigger.source.linearv(0, 2, 5)",
                          "smub.trigger.source.action = smub.ENABLE",
                          "smub.trigger.measure.action = smub.ENABLE",
                          "smub.trigger.measure.v(smub.nvbuffer1)",
                          "smub.trigger.count = 5", "smub.trigger.initiate()", "waitcomplete()"):
            raw.write(statement)
        assert float(raw.query("print(smub.nvbuffer1.n)")) == 5
        values = [float(v) for v in raw.query(
            "printbuffer(1, 5, smub.nvbuffer1.readings)").split(", ")]
        np.testing.assert_allclose(values, [0, 0.5, 1, 1.5, 2], atol=1e-3)
        raw.write("printbuffer(1, 5, smub.nvbuffer1.sourcevalues)")  # not collected: error
        assert float(raw.query("print(errorqueue.count)")) == 1


def test_hemt_compliance_clamps_the_drain(sim: SimulatedBench) -> None:
    smu = _driver(sim)
    smu.set_voltage_source(1, 0.0, 1e-3)
    smu.set_voltage_source(2, 1.0, 10e-3)
    smu.set_output(1, True)
    smu.set_output(2, True)
    drain = smu.measure(2)
    assert drain.in_compliance and smu.compliance(2)
    assert drain.current_a == pytest.approx(10e-3, rel=0.02) and drain.voltage_v < 0.2
    smu.set_voltage_source(1, -6.0, 1e-3)  # pinched off: the limit no longer binds
    drain = smu.measure(2)
    assert not drain.in_compliance and drain.voltage_v == pytest.approx(1.0, abs=1e-3)
    assert abs(drain.current_a) < 1e-3
    assert not sim.bench.hemt.damaged


def test_hemt_dc_and_pulsed_list_sweeps(sim: SimulatedBench) -> None:
    smu = _driver(sim)
    smu.set_voltage_source(1, -1.0, 1e-3)
    smu.set_voltage_source(2, 0.0, 0.2)
    smu.set_output(1, True)
    smu.set_output(2, True)
    volts = np.linspace(0.0, 3.0, 13)
    dc = smu.voltage_list_sweep(2, volts, 0.2, aperture_s=1e-3)
    expected = np.array([float(sim.bench.hemt.currents(-1.0, v)[1]) for v in volts])
    free = ~dc.in_compliance
    assert free[:3].all()
    np.testing.assert_allclose(dc.current_a[free], expected[free], rtol=0.05, atol=2e-5)
    np.testing.assert_allclose(dc.voltage_v[:3], volts[:3], atol=1e-3)
    assert np.all(np.diff(dc.time_s) > 0)
    pulsed = smu.voltage_list_sweep(2, volts, 0.2, aperture_s=1e-4, pulse_width_s=5e-4,
                                    pulse_period_s=5e-2, pulse_base_v=0.0)
    np.testing.assert_allclose(np.diff(pulsed.time_s), 5e-2, rtol=1e-6)
    assert pulsed.current_a[4] == pytest.approx(expected[4], rel=0.1)
    state = sim.bench.smu[("smu", 2)]
    assert (state.level, state.limit, state.output_on) == (0.0, 0.2, True)  # restored
    with pytest.raises(ValueError):
        smu.voltage_list_sweep(2, volts, 0.2, aperture_s=1e-3, pulse_width_s=5e-4)
    assert not sim.bench.hemt.damaged


def test_sweep_refused_with_output_off(open_sim: SimulatedBench) -> None:
    smu = _driver(open_sim)
    smu.set_voltage_source(1, 0.0, 1e-3)
    with pytest.raises(RuntimeError):
        smu.voltage_list_sweep(1, np.array([0.0, 1.0]), 1e-3)


def test_a_query_the_instrument_rejects_times_out_into_its_tsp_error(
        open_sim: SimulatedBench) -> None:
    """A TSP statement that fails prints nothing: after the timeout the session resyncs and
    drains the queue with ``print(errorqueue.next())`` (not SYST:ERR?, which a 2636B rejects),
    so the error names the statement, and the session keeps working."""
    smu = _driver(open_sim)
    with pytest.raises(InstrumentError) as info:
        smu.session.query("print(smua.nosuch())", timeout_s=0.3)
    assert info.value.code == -286 and "print(smua.nosuch())" in str(info.value)
    assert smu.session.query("*IDN?").startswith("Keithley")
    smu.check_errors("after recovery")  # the queue is empty again
