"""The simulated R&S ZNA/ZNB through real sockets with plain pyvisa (pyvisa-py, SOCKET).

The bench holds a network DUT (`simulators.network_models`) and, unless a test says otherwise,
a 4-port TOSM cal group installed in the analyzer's cal pool and applied to channel 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pyvisa.resources import MessageBasedResource

from simulators import SimulatedBench
from simulators.bench import VirtualBench
from simulators.rs_znb import round_up_ifbw
from simulators.vna_core import VnaFrontEnd, VnaSweep
from tests._visa import errors, raw_instrument

CAL = {"cal_set": "Lab_TOSM_4port.cal", "cal_type": "TOSM", "ports": [1, 2, 3, 4]}


def config(dut: dict[str, Any] | None = None, cal: dict[str, Any] | None = CAL,
           model: str = "rs_zna26", time_scale: float = 0.001) -> dict[str, Any]:
    vna: dict[str, Any] = {"calibration": cal} if cal is not None else {}
    return {"seed": 4242, "time_scale": time_scale, "instruments": {"vna": model},
            "dut": dut or {"model": "filter"}, "vna": vna}


Sim = tuple[VirtualBench, MessageBasedResource]


def started(cfg: dict[str, Any]) -> Iterator[Sim]:
    with SimulatedBench(cfg) as sim, raw_instrument(sim.resources["vna"]) as inst:
        yield sim.bench, inst


@pytest.fixture
def sim() -> Iterator[Sim]:
    yield from started(config())


def hold_sweep(inst: MessageBasedResource, start: str = "3 GHz", stop: str = "4 GHz",
               points: int = 101, ifbw: str = "1 kHz") -> None:
    inst.write(f"INIT:CONT OFF;:SENS:FREQ:STAR {start};STOP {stop};:SENS:SWE:POIN {points};"
               f":SENS:BWID {ifbw};:OUTP ON")


def sdata(inst: MessageBasedResource, query: str) -> np.ndarray:
    inst.write("FORM REAL,64;:FORM:BORD SWAP")
    values = inst.query_binary_values(query, datatype="d", is_big_endian=False, container=np.array)
    return values[0::2] + 1j * values[1::2]


# -- identity, presets, errors ---------------------------------------------------------------


@pytest.mark.parametrize(("model", "idn_model", "f_max"),
                         [("rs_znb20", "ZNB20-4Port", 20e9), ("rs_zna26", "ZNA26-4Port", 26.5e9),
                          ("rs_zna67", "ZNA67-4Port", 67e9)])
def test_identity_and_preset(model: str, idn_model: str, f_max: float) -> None:
    for _, inst in started(config(model=model)):
        maker, name, serial, firmware = inst.query("*IDN?").split(",")
        assert (maker, name) == ("Rohde-Schwarz", idn_model) and serial.isdigit()
        assert inst.query("INST:PORT:COUN?") == "4"
        inst.write("INIT:CONT OFF;:FORM REAL,64;:FORM:BORD NORM;:SWE:POIN 11;:OUTP OFF")
        inst.write("*RST")
        assert inst.query("CALC:PAR:CAT?") == "'Trc1,S21'"
        assert inst.query("CALC:PAR:SEL?") == "'Trc1'"
        assert inst.query("FORM?") == "ASC,0" and inst.query("FORM:BORD?") == "SWAP"
        assert inst.query("SENS:SWE:POIN?") == "201" and float(inst.query("BWID?")) == 10e3
        assert float(inst.query("SOUR:POW?")) == -10.0
        assert float(inst.query("FREQ:STOP?")) == f_max
        assert inst.query("INIT:CONT?") == "1" and inst.query("OUTP?") == "1"
        assert inst.query("INIT:SCOP?") == "ALL" and inst.query("AVER?") == "0"
        assert inst.query("AVER:COUN?") == "10" and inst.query("SWE:COUN?") == "1"
        assert inst.query("SYST:ERR?") == '0,"No error"'


ERROR_CASES = [
    ("SENS:FOO 1", -113),
    ("SENS:FREQ:STAR 30 GHz", -222),
    ("SENS:SWE:POIN 0", -222),
    ("CALC:PAR:SDEF 'Trc1','S21'", -221),  # the name exists
    ("CALC:PAR:SDEF 'T5','S51'", -222),  # port 5 on a 4-port analyzer
    ("CALC:PAR:SDEF 'T6','Y21'", -224),
    ("CALC:PAR:SEL 'Nope'", -224),
    ("CALC:PAR:DEF:SGR 2,1", -224),
    ("SENS2:FREQ:STAR 1 GHz", -114),  # channel 2 does not exist
    ("INIT", -213),  # continuous mode after *RST
    ("MMEM:LOAD:CORR 1,'Other.cal'", -256),
    ("FORM REAL,16", -224),
]


@pytest.mark.parametrize(("command", "code"), ERROR_CASES)
def test_errors_are_queued_rs_style(sim: Sim, command: str, code: int) -> None:
    _, inst = sim
    inst.write("*RST")
    before = inst.query("SENS:FREQ:STAR?")
    inst.write(command)
    reply = inst.query("SYST:ERR?")
    assert reply.startswith(f'{code},"') and not reply.startswith("+")
    assert errors(inst) == []
    assert inst.query("SENS:FREQ:STAR?") == before  # a refused setting changes nothing


def test_error_queue_fifo_and_command_error_discards_the_rest(sim: Sim) -> None:
    _, inst = sim
    inst.write("SENS:FREQ:STAR 99 GHz;:BOGUS;:SENS:SWE:POIN 11")
    assert errors(inst) == [-222, -113]
    assert inst.query("SENS:SWE:POIN?") == "201"  # discarded after the command error


def test_data_before_a_sweep_in_hold_mode_is_stale(sim: Sim) -> None:
    _, inst = sim
    hold_sweep(inst)
    inst.write("CALC:PAR:SDEF 'Trc2','S11'")
    inst.write("FORM ASC")
    inst.write("CALC:DATA? SDAT")
    assert errors(inst) == [-230]
    assert inst.query("INIT;*OPC?") == "1"
    assert len(inst.query("CALC:DATA? SDAT").split(",")) == 2 * 101
    inst.write("SENS:SWE:POIN 51")  # new stimulus: the old sweep no longer fits
    inst.write("CALC:DATA? SDAT")
    assert errors(inst) == [-230]


# -- traces and S-parameter groups -----------------------------------------------------------

TRACE_STEPS = [
    ("CALC:PAR:SDEF 'Trc2','S11'", "'Trc1,S21,Trc2,S11'", "'Trc2'"),
    ("CALC:PAR:MEAS 'Trc2','S22'", "'Trc1,S21,Trc2,S22'", "'Trc2'"),
    ("CALC:PAR:SEL 'Trc1'", "'Trc1,S21,Trc2,S22'", "'Trc1'"),
    ("CALC:PAR:DEL 'Trc1'", "'Trc2,S22'", "'Trc2'"),
    ("CALC:PAR:DEF:SGR 1,3", "'Trc2,S22,Ch1_SG_S11,S11,Ch1_SG_S13,S13,Ch1_SG_S31,S31,"
     "Ch1_SG_S33,S33'", "'Ch1_SG_S33'"),
    ("CALC:PAR:DEL:SGR", "'Trc2,S22'", "'Trc2'"),
    ("CALC:PAR:DEL:CALL", "''", "''"),
]


def test_trace_management_table(sim: Sim) -> None:
    _, inst = sim
    for command, catalog, selected in TRACE_STEPS:
        inst.write(command)
        assert inst.query("CALC:PAR:CAT?") == catalog, command
        assert inst.query("CALC:PAR:SEL?") == selected, command
    assert errors(inst) == []
    inst.write("CALC2:PAR:SDEF 'Other','S12';:CALC:PAR:SDEF 'Mine','S21'")
    assert inst.query("CONF:CHAN:CAT?") == "'1,Ch1,2,Ch2'"
    inst.write("CALC:PAR:DEL:ALL")
    assert inst.query("CALC2:PAR:CAT?") == "''" and inst.query("CALC1:PAR:CAT?") == "''"
    inst.write("CALC:PAR:DEF:SGR 2,4;:DISP:WIND:TRAC2:FEED 'Ch1_SG_S42'")
    assert inst.query("CALC:PAR:DEF:SGR?") == "2,4" and errors(inst) == []


def test_sgroup_block_order_matches_the_individual_traces(sim: Sim) -> None:
    bench, inst = sim
    hold_sweep(inst, points=41, ifbw="100 Hz")
    inst.write("CALC:PAR:DEL:CALL;:CALC:PAR:DEF:SGR 1,2,3")
    assert inst.query("INIT;*OPC?") == "1"
    group = sdata(inst, "CALC:DATA:SGR? SDAT").reshape(3, 3, 41)
    for i in (1, 2, 3):
        for j in (1, 2, 3):
            trace = sdata(inst, f"CALC:DATA:TRAC? 'Ch1_SG_S{i}{j}', SDAT")
            assert np.array_equal(group[i - 1, j - 1], trace), (i, j)
    inst.write("CALC:PAR:SEL 'Ch1_SG_S21'")
    assert np.array_equal(sdata(inst, "CALC:DATA? SDAT"), group[1, 0])
    # the filter: S21 = S12 (reciprocal) and the true S21 is in the group's (1, 0) slot
    assert np.max(np.abs(group[1, 0] - group[0, 1])) < 1e-3
    true = bench.network.s_matrix(np.linspace(3e9, 4e9, 41))
    assert np.max(np.abs(group[1, 0] - true[:, 1, 0])) < 1e-3
    # with the 4-port cal active, CALL? is the full 4x4 matrix of the calibrated ports
    assert inst.query("CALC:DATA:CALL:CAT?").count("S") == 16


def test_formatted_data_and_formats(sim: Sim) -> None:
    _, inst = sim
    hold_sweep(inst, points=21)
    inst.write("CALC:PAR:SDEF 'Trc2','S11'")
    assert inst.query("INIT;*OPC?") == "1"
    s11 = sdata(inst, "CALC:DATA? SDAT")
    inst.write("FORM ASC")
    ascii_values = np.array(inst.query("CALC:DATA? SDAT").split(","), dtype=float)
    assert np.allclose(ascii_values[0::2] + 1j * ascii_values[1::2], s11, rtol=1e-8, atol=1e-15)
    cases = {"MLOG": 20 * np.log10(np.abs(s11)), "PHAS": np.degrees(np.angle(s11)),
             "MLIN": np.abs(s11), "REAL": s11.real, "IMAG": s11.imag}
    for fmt, expected in cases.items():
        inst.write(f"CALC:FORM {fmt}")
        got = np.array(inst.query("CALC:DATA? FDAT").split(","), dtype=float)
        assert np.allclose(got, expected, rtol=1e-8, atol=1e-12), fmt
    inst.write("CALC:FORM SMIT")
    assert len(inst.query("CALC:DATA? FDAT").split(",")) == 2 * 21
    for bits, border, dtype in ((32, "SWAP", "<f4"), (64, "NORM", ">f8")):
        inst.write(f"FORM REAL,{bits};:FORM:BORD {border}")
        raw = inst.query_binary_values("CALC:DATA? SDAT", datatype="f" if bits == 32 else "d",
                                       is_big_endian=border == "NORM", container=np.array)
        assert raw.size == 42 and np.allclose(raw[0::2] + 1j * raw[1::2], s11, rtol=1e-6), dtype
    inst.write("FORM ASC")
    stim = np.array(inst.query("CALC:DATA:STIM?").split(","), dtype=float)
    assert np.allclose(stim, np.linspace(3e9, 4e9, 21))


def test_ifbw_rounds_up_and_frequency_coupling(sim: Sim) -> None:
    _, inst = sim
    inst.write("SENS:BWID 1.2kHz")
    assert float(inst.query("SENS:BWID?")) == 1.5e3 == round_up_ifbw(1.2e3, 10e6)
    inst.write("SENS:FREQ:STAR 5 GHz;STOP 3 GHz")  # stop below start pulls start down
    assert float(inst.query("FREQ:STAR?")) == 3e9 == float(inst.query("FREQ:STOP?"))
    inst.write("SENS:FREQ:CENT 2 GHz;SPAN 1 GHz")
    assert (float(inst.query("FREQ:STAR?")), float(inst.query("FREQ:STOP?"))) == (1.5e9, 2.5e9)
    assert errors(inst) == []


# -- timing ----------------------------------------------------------------------------------


def test_opc_blocks_for_every_sweep_of_the_sequence() -> None:
    for bench, inst in started(config(time_scale=0.05)):
        hold_sweep(inst, points=201, ifbw="1 kHz")
        inst.write("CALC:PAR:DEL:CALL;:CALC:PAR:DEF:SGR 1,2;:SENS:AVER ON;:SENS:AVER:COUN 4;"
                   ":SENS:SWE:COUN 4")
        one = float(inst.query("SENS:SWE:TIME?"))
        # 4 source ports (full 4-port correction), points x (1/IFBW + overhead) + retrace
        front_end = VnaFrontEnd(bench, "probe", 4, (10e6, 26.5e9))
        assert one == pytest.approx(front_end.sweep_time_s(
            VnaSweep(3e9, 4e9, 201, 1e3, -10.0), 4), rel=1e-9)
        expected = 4 * one * 0.05
        t0 = time.monotonic()
        assert inst.query("INIT;*OPC?") == "1"
        elapsed = time.monotonic() - t0
        assert expected * 0.95 < elapsed < expected + 0.5
        inst.write("INIT")
        t0 = time.monotonic()
        inst.write("FORM REAL,64")
        inst.query_binary_values("CALC:DATA:SGR? SDAT", datatype="d", container=np.array)
        assert time.monotonic() - t0 > expected * 0.8  # the data query waited for the sweeps
        inst.write("SENS:CORR OFF")  # uncorrected: only the traces' source ports (1 and 2)
        assert float(inst.query("SENS:SWE:TIME?")) == pytest.approx(
            front_end.sweep_time_s(VnaSweep(3e9, 4e9, 201, 1e3, -10.0), 2), rel=1e-9)


def test_scope_all_sweeps_every_single_sweep_channel(sim: Sim) -> None:
    _, inst = sim
    hold_sweep(inst)
    inst.write("CALC2:PAR:SDEF 'Ch2Trc','S11';:INIT2:CONT OFF;:SENS2:FREQ:STAR 1 GHz")
    assert inst.query("INIT1;*OPC?") == "1"  # scope ALL: channel 2 swept as well
    inst.write("FORM ASC")
    assert len(inst.query("CALC2:DATA? SDAT").split(",")) == 2 * 201
    inst.write("INIT:SCOP SING;:SENS2:SWE:POIN 11;:INIT1")
    inst.query("*OPC?")
    inst.write("CALC2:DATA? SDAT")  # channel 2 was not swept at its new stimulus
    assert errors(inst) == [-230]


# -- calibration, averaging, source -------------------------------------------------------------


def test_calibration_state_read_back_and_preset(sim: Sim) -> None:
    _, inst = sim
    assert inst.query("SENS:CORR:SST?") == "'CAL'" and inst.query("SENS:CORR?") == "1"
    assert inst.query("MMEM:LOAD:CORR? 1") == "'Lab_TOSM_4port.cal'"
    assert inst.query("SENS:CORR:COLL:METH:DEF?") == "'Lab_TOSM_4port.cal',TOSM,1,2,3,4"
    inst.write("SENS:CORR OFF")
    assert inst.query("SENS:CORR:SST?") == "'CAL OFF'" and inst.query("SENS:CORR?") == "0"
    # without correction: the S-parameters of the traces' ports (Trc1 = S21)
    assert inst.query("CALC:DATA:CALL:CAT?") == "'S11,S12,S21,S22'"
    inst.write("*RST")
    assert inst.query("SENS:CORR:SST?") == "''" and inst.query("MMEM:LOAD:CORR? 1") == "''"
    inst.write("MMEM:LOAD:CORR 1,'Lab_TOSM_4port'")
    assert inst.query("SENS:CORR:SST?") == "'CAL'" and errors(inst) == []


def test_no_cal_installed_and_partial_cal() -> None:
    for _, inst in started(config(cal=None)):
        assert inst.query("SENS:CORR:SST?") == "''" and inst.query("SENS:CORR?") == "0"
        inst.write("SENS:CORR ON")
        assert errors(inst) == [-221]
    partial = {"cal_set": "P12.cal", "cal_type": "TOSM", "ports": [1, 2]}
    for _, inst in started(config(dut={"model": "thru"}, cal=partial)):
        hold_sweep(inst, points=51)
        inst.write("CALC:PAR:DEL:CALL;:CALC:PAR:DEF:SGR 1,2,3")
        assert inst.query("CALC:DATA:CALL:CAT?") == "'S11,S12,S21,S22'"
        assert inst.query("INIT;*OPC?") == "1"
        s = sdata(inst, "CALC:DATA:SGR? SDAT").reshape(3, 3, 51)
        assert np.max(np.abs(s[1, 0] - 1.0)) < 1e-3  # corrected thru: S21 = 1
        # port 3 is not calibrated: a matched load seen through the raw error box
        assert np.mean(np.abs(s[2, 2])) > 10 ** (-30 / 20)
        inst.write("SENS:CORR OFF;:INIT")
        raw = sdata(inst, "CALC:DATA:SGR? SDAT").reshape(3, 3, 51)
        assert np.min(np.abs(raw[1, 0] - 1.0)) > 0.02  # cable loss and mismatch


def noise_rms(inst: MessageBasedResource, count: int) -> float:
    inst.write(f"SENS:AVER {'ON' if count > 1 else 'OFF'};:SENS:AVER:COUN {count};"
               f":SENS:SWE:COUN {count};:SENS:AVER:CLE")
    inst.query("INIT;*OPC?")
    a = sdata(inst, "CALC:DATA? SDAT")
    inst.write("SENS:AVER:CLE")
    inst.query("INIT;*OPC?")
    b = sdata(inst, "CALC:DATA? SDAT")
    return float(np.sqrt(np.mean(np.abs(a - b) ** 2)))


def test_averaging_reduces_trace_noise_and_rf_off_leaves_noise(sim: Sim) -> None:
    bench, inst = sim
    hold_sweep(inst, points=401, ifbw="100 kHz")
    inst.write("CALC:PAR:MEAS 'Trc1','S31'")  # no transmission: receiver noise only
    single, averaged = noise_rms(inst, 1), noise_rms(inst, 16)
    assert 2.8 < single / averaged < 5.7  # sqrt(16) = 4
    assert bench.vna_rf_on["vna"] is True
    # a write is handled by the server thread after it returns: *OPC? makes the state visible
    assert inst.query("OUTP OFF;:CALC:PAR:MEAS 'Trc1','S21';*OPC?") == "1"
    assert bench.vna_rf_on["vna"] is False
    inst.query("INIT;*OPC?")
    assert np.max(np.abs(sdata(inst, "CALC:DATA? SDAT"))) < 1e-3  # no source: noise only
