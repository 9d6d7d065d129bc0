"""The simulated Keysight PNA/ENA over real sockets with plain pyvisa (SCPI behaviour).

What is checked: identity and ports per model, SCPI errors with their codes, *OPC? blocking
for the sweep time (points/IFBW per source port, × group count, scaled by `time_scale`), data
latched only when a sweep completes, FORM ASC = REAL,64 NORM = REAL,64 SWAP, the SNP block
against individual SDATA traces, calibration state read-back and the error box without it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pyvisa.resources import MessageBasedResource

from simulators import SimulatedBench
from tests._visa import errors, raw_instrument

CAL = {"cal_set": "CS_4P", "cal_type": "SOLT", "ports": [1, 2, 3, 4]}


def config(model: str = "keysight_n5247b", dut: dict[str, Any] | None = None,
           calibration: dict[str, Any] | None = None, time_scale: float = 0.0) -> dict[str, Any]:
    cfg: dict[str, Any] = {"seed": 7, "time_scale": time_scale, "instruments": {"vna": model},
                           "vna": {} if calibration is None else {"calibration": calibration}}
    cfg["dut"] = {"model": "thru"} if dut is None else dut
    return cfg


@pytest.fixture
def pna() -> Iterator[tuple[SimulatedBench, MessageBasedResource]]:
    with SimulatedBench(config(dut={"model": "filter"}, calibration=CAL)) as sim, \
            raw_instrument(sim.resources["vna"]) as inst:
        yield sim, inst


def define_all(inst: MessageBasedResource, ports: tuple[int, ...], ch: int = 1) -> None:
    inst.write(f"CALC{ch}:PAR:DEL:ALL")
    for i in ports:
        for j in ports:
            inst.write(f"CALC{ch}:PAR:DEF:EXT 'm{i}{j}',S{i}{j}")
    inst.write(f"CALC{ch}:PAR:SEL 'm{ports[0]}{ports[0]}'")


def sweep_once(inst: MessageBasedResource, points: int = 201, ifbw: float = 1e3) -> None:
    inst.write(f"SENS:SWE:MODE HOLD;:SENS:FREQ:STAR 3e9;STOP 4e9;:SENS:SWE:POIN {points};"
               f":SENS:BWID {ifbw:g}")
    inst.write("SENS:SWE:MODE SING")
    assert inst.query("*OPC?") == "1"


def snp(inst: MessageBasedResource, ports: str) -> np.ndarray:
    inst.write("FORM REAL,64;FORM:BORD SWAP;:MMEM:STOR:TRAC:FORM:SNP RI")
    return inst.query_binary_values(f"CALC:DATA:SNP:PORTS? '{ports}'", datatype="d",
                                    container=np.array)


@pytest.mark.parametrize("model,name,ports,fmin,fmax", [
    ("keysight_n5247b", "N5247B", 4, 10e6, 67e9), ("keysight_n5227b", "N5227B", 2, 10e6, 67e9),
    ("keysight_e5080b", "E5080B", 4, 9e3, 20e9), ("keysight_n5291a", "N5291A", 2, 900, 120e9)])
def test_identity_ports_and_frequency_limits(model: str, name: str, ports: int, fmin: float,
                                             fmax: float) -> None:
    with SimulatedBench(config(model)) as sim, raw_instrument(sim.resources["vna"]) as inst:
        maker, idn_model, serial, _ = inst.query("*IDN?").split(",")
        assert (maker, idn_model) == ("Keysight Technologies", name) and serial.startswith("MY")
        assert int(inst.query("SYST:CAP:HARD:PORT:COUN?")) == ports
        inst.write(f"SENS:FREQ:STAR {fmin:g};STOP {fmax:g}")
        assert errors(inst) == []
        inst.write(f"SENS:FREQ:STAR {fmin * 0.5:g}")
        inst.write(f"SENS:FREQ:STOP {fmax * 1.01:g}")
        inst.write(f"CALC:PAR:DEF:EXT 'bad',S{ports + 1}1")
        assert errors(inst) == [-222, -222, -224]
        assert float(inst.query("SENS:FREQ:STAR?")) == fmin


def test_preset_states_and_measurement_errors(pna: tuple[SimulatedBench, Any]) -> None:
    _, inst = pna
    assert inst.query("CALC1:PAR:CAT:EXT?") == '"CH1_S11_1,S11"'
    assert inst.query("SENS1:SWE:MODE?") == "CONT" and inst.query("FORM?") == "ASC,+0"
    inst.write("SYST:FPR")
    assert inst.query("CALC1:PAR:CAT:EXT?") == '"NO CATALOG"'
    inst.write("CALC1:DATA? SDATA")  # no measurement selected: no reply, an error
    inst.write("CALC1:PAR:DEF:EXT 'a',S21;:CALC1:PAR:DEF:EXT 'a',S12")  # name in use
    inst.write("CALC1:PAR:DEF:EXT 'b',X21")
    inst.write("CALC1:PAR:SEL 'nope'")
    inst.write("SENS1:SWE:TYPE LOG")
    assert errors(inst) == [-221, -224, -224, -224, -221]
    inst.write("CALC1:PAR:DEF:EXT 'c',S3_4")
    assert inst.query("CALC1:PAR:CAT:EXT?") == '"a,S21,c,S34"'
    assert inst.query("SYST:MEAS:CAT? 1") == '"1,2"'
    inst.write("CALC1:PAR:SEL 'c'")
    assert inst.query("CALC1:PAR:MNUM?") == "2"
    inst.write("SENS1:BWID 1100")
    assert float(inst.query("SENS1:BWID?")) == 1000.0  # nearest available IF bandwidth


def test_opc_blocks_for_the_sweep_time_which_follows_points_over_ifbw() -> None:
    scale = 0.02
    with SimulatedBench(config(calibration={"cal_set": "CS", "cal_type": "SOLT",
                                            "ports": [1, 2]}, time_scale=scale)) as sim, \
            raw_instrument(sim.resources["vna"]) as inst:
        define_all(inst, (1, 2))
        inst.write("SENS:SWE:MODE HOLD;:SENS:FREQ:STAR 1e9;STOP 2e9;:SENS:SWE:POIN 201;"
                   ":SENS:BWID 100")
        t1 = float(inst.query("SENS:SWE:TIME?"))
        assert t1 == pytest.approx(2 * 201 * (1 / 100 + 10e-6) + 5e-3, rel=1e-9)  # 2 sources
        inst.write("SENS:SWE:POIN 401;:SENS:BWID 1000")
        assert float(inst.query("SENS:SWE:TIME?")) == pytest.approx(
            2 * 401 * (1 / 1000 + 10e-6) + 5e-3, rel=1e-9)
        inst.write("SENS:SWE:POIN 201;:SENS:BWID 100")
        for command, sweeps in (("SENS:SWE:MODE SING", 1),
                                ("SENS:SWE:GRO:COUN 3;:SENS:SWE:MODE GRO", 3)):
            start = time.monotonic()
            inst.write(command)
            assert inst.query("SENS:SWE:MODE?") in ("SING", "GRO")  # still sweeping
            assert inst.query("*OPC?") == "1"
            elapsed = time.monotonic() - start
            assert 0.95 * sweeps * t1 * scale <= elapsed <= sweeps * t1 * scale + 0.25
            assert inst.query("SENS:SWE:MODE?") == "HOLD"


def test_data_are_latched_when_the_sweep_completes() -> None:
    with SimulatedBench(config(calibration=CAL, time_scale=0.5)) as sim, \
            raw_instrument(sim.resources["vna"]) as inst:
        define_all(inst, (1, 2))
        inst.write("SENS:SWE:MODE HOLD;:SENS:SWE:POIN 101;:SENS:BWID 1000;"
                   ":SENS:FREQ:STAR 1e9;STOP 2e9")
        inst.write("FORM REAL,64;:CALC:PAR:SEL 'm21'")
        before = inst.query_binary_values("CALC:DATA? SDATA", datatype="d", is_big_endian=True,
                                          container=np.array)
        assert before.size == 202 and not before.any()  # nothing swept since the change
        inst.write("SENS:SWE:MODE SING")  # ≈ 0.2 s × 0.5 = 0.1 s
        during = inst.query_binary_values("CALC:DATA? SDATA", datatype="d", is_big_endian=True,
                                          container=np.array)
        inst.query("*OPC?")
        after = inst.query_binary_values("CALC:DATA? SDATA", datatype="d", is_big_endian=True,
                                         container=np.array)
        assert not during.any()
        assert np.abs(after[0::2] + 1j * after[1::2]).mean() == pytest.approx(1.0, abs=0.01)


def test_ascii_and_binary_formats_give_the_same_data(pna: tuple[SimulatedBench, Any]) -> None:
    _, inst = pna
    define_all(inst, (1, 2))
    sweep_once(inst)
    inst.write("CALC:PAR:SEL 'm21'")
    inst.write("FORM ASC,0")
    ascii_values = np.array(inst.query("CALC:DATA? SDATA").split(","), dtype=float)
    inst.write("FORM REAL,64;FORM:BORD NORM")
    big = inst.query_binary_values("CALC:DATA? SDATA", datatype="d", is_big_endian=True,
                                   container=np.array)
    inst.write("FORM:BORD SWAP")
    little = inst.query_binary_values("CALC:DATA? SDATA", datatype="d", container=np.array)
    inst.write("FORM REAL,32")
    single = inst.query_binary_values("CALC:DATA? SDATA", datatype="f", container=np.array)
    assert big.size == 2 * 201
    np.testing.assert_array_equal(big, little)
    np.testing.assert_allclose(ascii_values, big, rtol=1e-9, atol=1e-300)
    np.testing.assert_allclose(single, big, rtol=1e-6, atol=1e-12)
    inst.write("FORM ASC,0")
    x = np.array(inst.query("CALC:X?").split(","), dtype=float)
    np.testing.assert_allclose(x, np.linspace(3e9, 4e9, 201))
    inst.write("CALC:FORM MLOG")
    mlog = np.array(inst.query("CALC:DATA? FDATA").split(","), dtype=float)
    np.testing.assert_allclose(mlog, 20 * np.log10(np.abs(big[0::2] + 1j * big[1::2])),
                               rtol=1e-8)


@pytest.mark.parametrize("ports", ["1,2", "1,2,4", "2,1"])
def test_snp_block_matches_the_individual_traces(pna: tuple[SimulatedBench, Any],
                                                 ports: str) -> None:
    _, inst = pna
    plist = tuple(int(p) for p in ports.split(","))
    define_all(inst, tuple(sorted(plist)))
    sweep_once(inst, points=51)
    n = len(plist)
    table = snp(inst, ports).reshape(1 + 2 * n * n, 51)
    np.testing.assert_allclose(table[0], np.linspace(3e9, 4e9, 51))
    # .sNp order: a 2-port file lists S11 S21 S12 S22, larger ones row by row
    order = ([(r, c) for c in range(n) for r in range(n)] if n == 2
             else [(r, c) for r in range(n) for c in range(n)])
    for k, (r, c) in enumerate(order):
        inst.write(f"CALC:PAR:SEL 'm{plist[r]}{plist[c]}'")
        sdata = inst.query_binary_values("CALC:DATA? SDATA", datatype="d", container=np.array)
        np.testing.assert_array_equal(table[1 + 2 * k], sdata[0::2])
        np.testing.assert_array_equal(table[2 + 2 * k], sdata[1::2])
    inst.write("CALC:DATA:SNP:PORTS? '1,5'")
    assert errors(inst) == [-224]


def test_unswept_source_ports_are_zero_filled(pna: tuple[SimulatedBench, Any]) -> None:
    sim, inst = pna
    inst.write("SENS:CORR OFF")  # no full cal forcing every port to be sourced
    inst.write("CALC:PAR:DEL:ALL;:CALC:PAR:DEF:EXT 'f',S21;:CALC:PAR:SEL 'f'")
    sweep_once(inst, points=11)
    s = snp(inst, "1,2").reshape(9, 11)
    assert np.abs(s[1:5]).min() > 0 and not s[5:9].any()  # S11, S21 measured; S12, S22 zero


def test_calibration_read_back_and_preset_unapplies_it(pna: tuple[SimulatedBench, Any]) -> None:
    _, inst = pna
    assert inst.query("SENS:CORR:STAT?") == "1"
    assert inst.query("SENS:CORR:CSET:ACT? NAME") == '"CS_4P"'
    define_all(inst, (1, 2))
    inst.write("CALC:PAR:SEL 'm21'")
    mnum = inst.query("CALC:PAR:MNUM?")
    assert inst.query(f"CALC:MEAS{mnum}:CORR:TYPE?") == '"Full 4 Port(1,2,3,4)"'
    assert inst.query(f"CALC:MEAS{mnum}:CORR:IND?") == "MAST"
    inst.write("*RST")
    assert inst.query("SENS:CORR:STAT?") == "0"
    assert inst.query("SENS:CORR:CSET:ACT? NAME") == '"No Calset Selected"'
    assert inst.query("CALC:MEAS1:CORR:TYPE?") == '""'
    inst.write("SENS:CORR ON")  # nothing to apply
    inst.write("SENS:CORR:CSET:ACT 'other',1")
    assert errors(inst) == [-221, -224]
    inst.write("SENS:CORR:CSET:ACT 'CS_4P',1")
    assert inst.query("SENS:CORR:STAT?") == "1"


def test_uncalibrated_data_carry_the_error_box() -> None:
    """No cal set: a thru reads with the raw port errors (directivity, match, cable loss)."""
    with SimulatedBench(config("keysight_n5227b")) as sim, \
            raw_instrument(sim.resources["vna"]) as inst:
        assert inst.query("SENS:CORR:STAT?") == "0"
        assert inst.query("SENS:CORR:CSET:ACT? NAME") == '"No Calset Selected"'
        define_all(inst, (1, 2))
        sweep_once(inst)
        s = snp(inst, "1,2").reshape(9, 201)
        s11 = s[1] + 1j * s[2]
        s21 = s[3] + 1j * s[4]
        s11_db = 20 * np.log10(np.abs(s11))
        s21_db = 20 * np.log10(np.abs(s21))
        # an ideal thru: S11 = 0, |S21| = 1; raw data show the -25 dB directivity with the
        # source/load match ripple, and two test-port cables of ≈ 0.6·sqrt(f/GHz) dB each
        assert -40 < s11_db.mean() < -15 and s11_db.std() > 0.5
        assert -3.5 < s21_db.mean() < -1.5
        inst.write("SENS:CORR ON")
        assert errors(inst) == [-221]


def test_rf_off_and_open_ports_without_a_network_dut() -> None:
    cfg = config(calibration={"cal_set": "CS", "cal_type": "SOLT", "ports": [1, 2]})
    cfg["dut"] = None  # the PA bench: no network DUT, the test ports are open
    with SimulatedBench(cfg) as sim, raw_instrument(sim.resources["vna"]) as inst:
        assert sim.bench.vna_rf_on["vna"] is True  # preset: RF on
        define_all(inst, (1, 2))
        sweep_once(inst)
        s = snp(inst, "1,2").reshape(9, 201)
        np.testing.assert_allclose(np.abs(s[1] + 1j * s[2]), 1.0, atol=0.01)  # |S11| of an open
        inst.write("OUTP OFF")
        assert inst.query("OUTP?") == "0" and sim.bench.vna_rf_on["vna"] is False
        sweep_once(inst)
        s = snp(inst, "1,2").reshape(9, 201)
        assert np.abs(s[1] + 1j * s[2]).max() < 1e-3  # receivers see noise only


def test_a_paced_instrument_link_delivers_the_same_block() -> None:
    """`link_rate_bit_per_s` (an instrument's LAN: replies leave no faster) sends a block in
    64 kB pieces; what arrives is byte for byte what the unpaced link delivers."""
    blocks = []
    for rate in (0.0, 2e8):
        cfg = {**config(dut={"model": "filter"}, calibration=CAL), "link_rate_bit_per_s": rate}
        with SimulatedBench(cfg) as sim, raw_instrument(sim.resources["vna"]) as inst:
            assert sim.devices["vna"].link_rate_bit_per_s == rate
            define_all(inst, (1, 2, 3, 4))
            sweep_once(inst, points=1601)
            blocks.append(snp(inst, "1,2,3,4"))
    assert blocks[0].size == 33 * 1601 > 65536 // 8  # several paced pieces
    np.testing.assert_array_equal(blocks[0], blocks[1])
