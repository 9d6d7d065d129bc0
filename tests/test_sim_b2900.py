"""Keysight B2902A/B2912A simulator through plain pyvisa-py over real sockets (raw SCPI)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from pyvisa.resources import MessageBasedResource

from simulators import SimulatedBench
from tests._visa import errors, raw_instrument


def _bench(model: str = "keysight_b2902a", time_scale: float = 0.01) -> SimulatedBench:
    return SimulatedBench({"seed": 3, "time_scale": time_scale, "instruments": {"smu": model}})


@pytest.fixture
def sim() -> Iterator[SimulatedBench]:
    with _bench() as s:
        yield s


@pytest.fixture
def smu(sim: SimulatedBench) -> Iterator[MessageBasedResource]:
    with raw_instrument(sim.resources["smu"]) as inst:
        yield inst


def floats(reply: str) -> np.ndarray:
    return np.array([float(x) for x in reply.split(",")])


def test_identity_and_reset_defaults(sim: SimulatedBench, smu: MessageBasedResource) -> None:
    assert smu.query("*IDN?").split(",")[:2] == ["Keysight Technologies", "B2902A"]
    smu.write(":SOUR1:VOLT 2;:SENS1:CURR:PROT 0.05;:OUTP1 ON;:OUTP2 ON")
    assert smu.query("*OPC?") == "1"  # the writes are processed
    assert sim.bench.smu[("smu", 1)].output_on and sim.bench.smu[("smu", 1)].level == 2.0
    smu.write("*RST")
    for n in (1, 2):
        assert smu.query(f":OUTP{n}?") == "0"
        assert smu.query(f":SOUR{n}:FUNC:MODE?") == "VOLT"
        assert float(smu.query(f":SENS{n}:CURR:PROT?")) == pytest.approx(1e-4)
        assert smu.query(f":SOUR{n}:FUNC:SHAP?") == "DC"
        state = sim.bench.smu[("smu", n)]
        assert (state.output_on, state.level, state.limit) == (False, 0.0, 1e-4)
    assert errors(smu) == []


def test_b2912a_identity() -> None:
    with _bench("keysight_b2912a") as s, raw_instrument(s.resources["smu"]) as inst:
        assert inst.query("*IDN?").split(",")[1] == "B2912A"


def test_programme_is_published_to_the_bench(sim: SimulatedBench,
                                             smu: MessageBasedResource) -> None:
    smu.write(":SOUR2:FUNC:MODE CURR;:SOUR2:CURR 1e-3;:SENS2:VOLT:PROT 5;:OUTP2 ON")
    assert smu.query("*OPC?") == "1"
    state = sim.bench.smu[("smu", 2)]
    assert (state.mode, state.level, state.limit, state.output_on) == ("CURR", 1e-3, 5.0, True)
    assert smu.query(":SOUR2:CURR?") == "+1.00000000000E-03"


def test_open_circuit_readings_and_compliance_status(smu: MessageBasedResource) -> None:
    """Nothing wired: a voltage source reads its level at ~0 A; a current source runs into its
    voltage limit (compliance: status bits, TRIP?, STAT:QUES voltage summary)."""
    smu.write(":OUTP1:ON:AUTO OFF;:OUTP2:ON:AUTO OFF;:FORM:ELEM:SENS VOLT,CURR,STAT")
    smu.write(":SOUR1:VOLT -3;:SENS1:CURR:PROT 0.01;:OUTP1 ON")
    v, i, stat = floats(smu.query(":MEAS? (@1)"))
    assert v == pytest.approx(-3.0, abs=1e-3) and abs(i) < 1e-9 and int(stat) & 6 == 0
    assert smu.query(":SENS1:CURR:PROT:TRIP?") == "0"
    assert int(smu.query("STAT:QUES:COND?")) == 0
    smu.write(":SOUR2:FUNC:MODE CURR;:SOUR2:CURR 1e-3;:SENS2:VOLT:PROT 5;:OUTP2 ON")
    v, i, stat = floats(smu.query(":MEAS? (@2)"))
    assert v == pytest.approx(5.0, abs=1e-3) and abs(i) < 1e-9
    assert int(stat) & 1 == 1 and int(stat) & 6 != 0  # current source, in compliance
    assert smu.query(":SENS2:VOLT:PROT:TRIP?") == "1"
    assert int(smu.query("STAT:QUES:COND?")) & 1
    assert float(smu.query(":MEAS:VOLT? (@2)")) == pytest.approx(5.0, abs=1e-3)
    assert errors(smu) == []


def test_automatic_output_on_and_its_refusal(sim: SimulatedBench,
                                             smu: MessageBasedResource) -> None:
    """After *RST a MEAS? switches the output on by itself (OUTP:ON:AUTO ON); with it off the
    acquisition is refused and the output stays off."""
    smu.query(":MEAS:CURR? (@1)")
    assert sim.bench.smu[("smu", 1)].output_on and smu.query(":OUTP1?") == "1"
    smu.write(":OUTP1 OFF;:OUTP1:ON:AUTO OFF")
    smu.write(":MEAS:CURR? (@1)")
    assert errors(smu) == [-221]
    assert not sim.bench.smu[("smu", 1)].output_on


def test_list_sweep_points_time_stamps_and_binary_data(smu: MessageBasedResource) -> None:
    smu.write(":OUTP1 ON;:SOUR1:VOLT:MODE LIST;:SOUR1:LIST:VOLT 0.1,0,-0.1")
    smu.write(":SOUR1:LIST:VOLT:APP 0.2,0.3")
    assert smu.query(":SOUR1:LIST:VOLT:POIN?") == "5"
    smu.write(":TRIG1:COUN 5;:TRIG1:ACQ:DEL 5e-4;:SENS1:CURR:APER 1e-3;:INIT (@1)")
    assert smu.query("*OPC?") == "1"
    source = floats(smu.query(":FETC:ARR:SOUR? (@1)"))
    assert source.tolist() == [0.1, 0.0, -0.1, 0.2, 0.3]
    volts = floats(smu.query(":FETC:ARR:VOLT? (@1)"))
    np.testing.assert_allclose(volts, source, atol=2e-3)
    t = floats(smu.query(":FETC:ARR:TIME? (@1)"))
    # each point: settling 100 µs + acquire delay + aperture
    np.testing.assert_allclose(np.diff(t), 1e-4 + 5e-4 + 1e-3, rtol=1e-9)
    smu.write(":FORM:DATA REAL,64;:FORM:BORD SWAP")
    block = smu.query_binary_values(":FETC:ARR:CURR? (@1)", datatype="d",
                                    is_big_endian=False)
    assert len(block) == 5
    smu.write(":FORM:DATA ASC;:FORM:ELEM:SENS CURR,TIME")
    assert floats(smu.query(":FETC:ARR? (@1)")).size == 10
    assert errors(smu) == []


def test_linear_sweep_and_count_mismatch(smu: MessageBasedResource) -> None:
    smu.write(":OUTP1 ON;:SOUR1:VOLT:MODE SWE;:SOUR1:VOLT:STAR 0;:SOUR1:VOLT:STOP 10")
    smu.write(":SOUR1:VOLT:POIN 11;:TRIG1:COUN 11")
    np.testing.assert_allclose(floats(smu.query(":MEAS:VOLT? (@1)")), np.arange(11.0),
                               atol=5e-3)
    smu.write(":TRIG1:COUN 4;:INIT (@1)")
    assert errors(smu) == [-221]
    smu.write(":FETC:ARR:CURR? (@1)")  # nothing acquired since the refused INIT
    assert errors(smu) == [-230]


def test_sweep_takes_its_time(sim: SimulatedBench) -> None:
    """FETCh waits for the sweep: 20 points × 10 ms timer = 0.2 s at time_scale 1."""
    with _bench(time_scale=1.0) as s, raw_instrument(s.resources["smu"]) as inst:
        inst.write(":OUTP1 ON;:SOUR1:VOLT:MODE LIST;:SOUR1:LIST:VOLT " + ",".join(["1"] * 20))
        inst.write(":TRIG1:COUN 20;:TRIG1:SOUR TIM;:TRIG1:TIM 0.01;:SENS1:CURR:APER 1e-3")
        t0 = time.monotonic()
        inst.write(":INIT (@1)")
        assert floats(inst.query(":FETC:ARR:VOLT? (@1)")).size == 20
        assert 0.18 < time.monotonic() - t0 < 1.0


def test_pulse_limits_per_model(smu: MessageBasedResource) -> None:
    """B2902A: 50 µs minimum pulse width; the B2912A takes 10 µs. The pulse and the base time
    must fit in the transient timer period."""
    smu.write(":SOUR1:PULS:WIDT 1e-5")
    assert errors(smu) == [-222]
    smu.write(":SOUR1:PULS:WIDT 5e-5")
    assert errors(smu) == []
    smu.write(":OUTP1 ON;:SOUR1:FUNC:SHAP PULS;:SOUR1:PULS:WIDT 1e-3;:TRIG1:TRAN:SOUR TIM")
    smu.write(":TRIG1:TRAN:TIM 5e-4;:INIT (@1)")
    assert errors(smu) == [-221]
    with _bench("keysight_b2912a") as s, raw_instrument(s.resources["smu"]) as inst:
        inst.write(":SOUR1:PULS:WIDT 1e-5")
        assert errors(inst) == []


def test_pulsed_list_sweep(sim: SimulatedBench, smu: MessageBasedResource) -> None:
    """Pulses from a base of -1 V: one point per period, the base restored afterwards."""
    smu.write(":SOUR1:VOLT -1;:OUTP1 ON;:SOUR1:FUNC:SHAP PULS;:SOUR1:PULS:WIDT 2e-4")
    smu.write(":SOUR1:VOLT:MODE LIST;:SOUR1:LIST:VOLT 1,2,3;:TRIG1:COUN 3")
    smu.write(":TRIG1:TRAN:SOUR TIM;:TRIG1:TRAN:TIM 1e-2;:TRIG1:ACQ:DEL 1e-4")
    smu.write(":SENS1:CURR:APER 1e-4;:INIT (@1)")
    np.testing.assert_allclose(floats(smu.query(":FETC:ARR:VOLT? (@1)")), [1, 2, 3], atol=5e-3)
    np.testing.assert_allclose(np.diff(floats(smu.query(":FETC:ARR:TIME? (@1)"))), 1e-2)
    assert sim.bench.smu[("smu", 1)].level == -1.0
    # an aperture reaching past the pulse end reads partly the base
    smu.write(":TRIG1:ACQ:DEL 1.5e-4;:INIT (@1)")
    v = floats(smu.query(":FETC:ARR:VOLT? (@1)"))
    np.testing.assert_allclose(v, 0.5 * np.array([1, 2, 3]) + 0.5 * -1.0, atol=5e-3)
    assert errors(smu) == []


def test_high_current_compliance_needs_pulses(smu: MessageBasedResource) -> None:
    smu.write(":SENS1:CURR:PROT 5;:OUTP1 ON")
    assert errors(smu) == [-221]
    assert smu.query(":OUTP1?") == "0"
    smu.write(":SOUR1:FUNC:SHAP PULS;:SOUR1:PULS:WIDT 2e-3;:OUTP1 ON")
    smu.write(":TRIG1:TRAN:SOUR TIM;:TRIG1:TRAN:TIM 1;:INIT (@1)")
    assert errors(smu) == [-221]  # wider than 1 ms above the DC range
    smu.write(":SOUR1:PULS:WIDT 5e-4;:INIT (@1)")
    assert errors(smu) == []


def test_command_errors(smu: MessageBasedResource) -> None:
    smu.write(":SOUR3:VOLT 1")
    smu.write(":MEAS:CURR? (@3)")
    smu.write(":SOUR1:VOLT 300")
    smu.write(":SOUR1:FUNC:MODE RES")
    smu.write(":TRIG1:COUN 0")
    assert errors(smu) == [-114, -224, -222, -224, -222]
