"""The simulated X-series analyzer through real sockets with plain pyvisa (pyvisa-py, SOCKET).

The virtual bench has no DUT here: the generator's tone reaches the analyzer through a flat
20 dB path, so the expected level at the analyzer input is exactly generator level - 20 dB.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import pyvisa
from pyvisa.resources import MessageBasedResource

from simulators import SimulatedBench
from simulators.bench import VirtualBench
from simulators.signals import Tone
from tests._visa import errors, raw_instrument

LOSS_DB = 20.0
CONFIG = {
    "seed": 20261123,
    "time_scale": 0.02,
    "instruments": {"signal_analyzer": "keysight_n9030b"},
    "paths": {"signal_analyzer": {"frequency_hz": [1e9, 27e9], "loss_db": [LOSS_DB, LOSS_DB]}},
}


Sim = tuple[VirtualBench, MessageBasedResource]


@pytest.fixture
def sim() -> Iterator[Sim]:
    with (SimulatedBench(CONFIG) as simbench,
          raw_instrument(simbench.resources["signal_analyzer"]) as inst):
        yield simbench.bench, inst


def tone_on(bench: VirtualBench, f_hz: float = 3.55e9, level_dbm: float = -10.0) -> None:
    with bench.lock:
        bench.generator.frequency_hz = f_hz
        bench.generator.level_dbm = level_dbm
        bench.generator.rf_on = True



def single_sweep_setup(inst: MessageBasedResource, span: str = "10 MHz") -> None:
    inst.write(f"*RST;:INIT:CONT OFF;:FREQ:CENT 3.55 GHz;:FREQ:SPAN {span};:BAND 100 kHz;"
               ":SWE:POIN 1001;:DET:TRAC POS")


def test_identity_options_and_modes(sim: Sim) -> None:
    _, inst = sim
    maker, model, serial, firmware = inst.query("*IDN?").split(",")
    assert (maker, model) == ("Keysight Technologies", "N9030B")
    assert serial.startswith("MY") and firmware.startswith("A.")
    opt = inst.query("*OPT?")
    assert opt.startswith('"') and opt.endswith('"') and "526" in opt[1:-1].split(",")
    assert inst.query(":INST:CAT?") == '"SA 1, BASIC 8"'
    assert inst.query(":INST?") == "SA" and inst.query(":CONF?") == "SAN"


def test_rst_restores_documented_defaults(sim: Sim) -> None:
    _, inst = sim
    inst.write(":INIT:CONT OFF;:FORM REAL,64;:FORM:BORD SWAP;:SWE:POIN 101;:POW:ATT 30;"
               ":DISP:WIND:TRAC:Y:RLEV 10;:BAND 1 kHz;:FREQ:CENT 1 GHz")
    inst.write("*RST")
    assert inst.query(":INIT:CONT?") == "1"
    assert inst.query(":FORM?") == "ASC,8" and inst.query(":FORM:BORD?") == "NORM"
    assert int(inst.query(":SWE:POIN?")) == 1001
    assert float(inst.query(":POW:ATT?")) == 10.0 and inst.query(":POW:ATT:AUTO?") == "1"
    assert float(inst.query(":DISP:WIND:TRAC:Y:RLEV?")) == 0.0
    assert inst.query(":BAND:AUTO?") == "1" and float(inst.query(":BAND?")) == 3e6
    assert float(inst.query(":FREQ:STAR?")) == 10e6
    assert float(inst.query(":FREQ:STOP?")) == 26.5e9
    assert inst.query(":DET:TRAC?") == "NORM" and inst.query(":AVER:TYPE?") == "LOG"
    assert errors(inst) == []


def test_couplings_over_the_wire(sim: Sim) -> None:
    _, inst = sim
    inst.write(":FREQ:CENT 3.55 GHz;:FREQ:SPAN 10 MHz")
    assert float(inst.query(":BAND?")) == pytest.approx(91e3)  # span/106 -> nearest RBW
    assert float(inst.query(":SWE:TIME?")) == pytest.approx(2.5 * 10e6 / 91e3**2)
    inst.write(":BAND 105 Hz")
    assert float(inst.query(":BAND?")) == pytest.approx(110.0)
    assert inst.query(":BAND:AUTO?") == "0" and inst.query(":SWE:TYPE?") == "FFT"
    inst.write(":BWID:AUTO ON;:DISP:WIND1:TRAC:Y:RLEV 13 dBm")
    assert float(inst.query(":POW:ATT?")) == 24.0  # ref + 10 dB to Max Mixer Level, 2 dB steps
    assert float(inst.query(":FREQ:STAR?")) == pytest.approx(3.545e9)
    assert errors(inst) == []


def test_initiate_opc_blocks_for_the_scaled_sweep_time(sim: Sim) -> None:
    _, inst = sim
    single_sweep_setup(inst)
    inst.write(":SWE:TIME 5 s")  # x time_scale 0.02 = 0.1 s
    t0 = time.perf_counter()
    assert inst.query(":INIT:IMM;*OPC?") == "1"
    assert 0.09 <= time.perf_counter() - t0 < 1.0
    inst.write(":SWE:TIME 0.5 s;:AVER:COUN 10;:AVER ON")  # averaging: 10 sweeps
    t0 = time.perf_counter()
    assert inst.query(":INIT;*OPC?") == "1"
    assert 0.09 <= time.perf_counter() - t0 < 1.0
    assert errors(inst) == []


def test_data_query_during_a_sweep_waits_for_it(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench)
    single_sweep_setup(inst)
    inst.write(":SWE:TIME 10 s;:FORM REAL,32;:FORM:BORD SWAP")  # 0.2 s on this bench
    inst.write(":INIT:IMM")
    t0 = time.perf_counter()
    y = inst.query_binary_values(":TRAC? TRACE1", datatype="f", is_big_endian=False,
                                 container=np.array)
    assert time.perf_counter() - t0 >= 0.15
    assert y.size == 1001 and y.max() == pytest.approx(-10.0 - LOSS_DB, abs=0.2)


def test_read_waits_for_its_sweep_without_holding_the_bench_lock(sim: Sim) -> None:
    bench, inst = sim
    single_sweep_setup(inst)
    inst.write(":SWE:TIME 10 s;:FORM REAL,32")  # 0.2 s on this bench
    done: list[float] = []

    def read() -> None:
        t0 = time.perf_counter()
        inst.query_binary_values(":READ:SAN?", datatype="f", is_big_endian=True)
        done.append(time.perf_counter() - t0)

    worker = threading.Thread(target=read)
    worker.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    with bench.lock:  # other instruments must not stall behind a sweep
        assert time.perf_counter() - t0 < 0.05
    worker.join(5.0)
    assert done and done[0] >= 0.18


def test_trace_formats_carry_the_same_trace(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench)
    single_sweep_setup(inst)
    assert inst.query(":INIT:IMM;*OPC?") == "1"
    inst.write(":FORM REAL,32;:FORM:BORD SWAP")
    r32 = inst.query_binary_values(":TRAC? TRACE1", datatype="f", is_big_endian=False,
                                   container=np.array)
    inst.write(":FORM:DATA REAL,64;:FORM:BORD NORM")
    r64 = inst.query_binary_values(":TRAC:DATA? TRACE1", datatype="d", is_big_endian=True,
                                   container=np.array)
    inst.write(":FORM ASCii")
    asc = np.array(inst.query_ascii_values(":TRAC? TRACE1"))
    inst.write(":FORM INT,32;:FORM:BORD SWAP")
    assert inst.query(":FORM?") == "INT,32"
    mdbm = inst.query_binary_values(":TRAC? TRACE1", datatype="i", is_big_endian=False,
                                    container=np.array)
    assert r64.size == r32.size == asc.size == mdbm.size == 1001
    np.testing.assert_allclose(r32, r64, rtol=1e-6)
    np.testing.assert_allclose(asc, r64, rtol=1e-8)
    np.testing.assert_array_equal(mdbm, np.round(r64 * 1000).astype(int))
    assert r64.max() == pytest.approx(-10.0 - LOSS_DB, abs=0.2)
    assert errors(inst) == []


def test_read_sanalyzer_returns_frequency_level_pairs(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench)
    single_sweep_setup(inst)
    inst.write(":SWE:POIN 201;:FORM REAL,64;:FORM:BORD SWAP")
    xy = inst.query_binary_values(":READ:SAN?", datatype="d", is_big_endian=False,
                                  container=np.array).reshape(-1, 2)
    np.testing.assert_allclose(xy[:, 0], np.linspace(3.545e9, 3.555e9, 201))
    assert xy[np.argmax(xy[:, 1]), 0] == pytest.approx(3.55e9)
    fetched = inst.query_binary_values(":FETC:SAN1?", datatype="d", is_big_endian=False,
                                       container=np.array).reshape(-1, 2)
    np.testing.assert_array_equal(fetched, xy)  # FETCh re-reads the same measurement


def test_marker_peak_on_a_generator_tone(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench, 3.5512e9, -7.5)
    single_sweep_setup(inst, span="20 MHz")
    assert inst.query(":INIT:IMM;*OPC?") == "1"
    inst.write(":CALC:MARK1:MAX")
    assert inst.query(":CALC:MARK1:MODE?") == "POS"
    assert float(inst.query(":CALC:MARK1:X?")) == pytest.approx(3.5512e9, abs=10e3)
    assert float(inst.query(":CALC:MARK1:Y?")) == pytest.approx(-7.5 - LOSS_DB, abs=0.2)
    inst.write(":CALC:MARK2:X 3.545 GHz")
    assert float(inst.query(":CALC:MARK2:Y?")) < -80.0  # noise floor away from the tone
    assert errors(inst) == []


def test_marker_next_peak(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    bench, inst = sim
    tones = [Tone(3.55e9, -20.0), Tone(3.552e9, -45.0), Tone(3.547e9, -60.0)]
    monkeypatch.setattr(bench, "tones_at", lambda role: tones)
    single_sweep_setup(inst)
    assert inst.query(":INIT:IMM;*OPC?") == "1"
    found = []
    for cmd in (":CALC:MARK3:MAX", ":CALC:MARK3:MAX:NEXT", ":CALC:MARK3:MAX:NEXT"):
        inst.write(cmd)
        found.append((float(inst.query(":CALC:MARK3:X?")), float(inst.query(":CALC:MARK3:Y?"))))
    np.testing.assert_allclose([f for f, _ in found], [3.55e9, 3.552e9, 3.547e9], atol=10e3)
    np.testing.assert_allclose([y for _, y in found], [-20.0, -45.0, -60.0], atol=0.3)
    assert errors(inst) == []


def test_single_mode_holds_the_trace_continuous_mode_follows(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench, level_dbm=-10.0)
    single_sweep_setup(inst)
    inst.write(":FORM REAL,32")
    assert inst.query(":INIT:IMM;*OPC?") == "1"
    tone_on(bench, level_dbm=0.0)
    held = inst.query_binary_values(":TRAC? TRACE1", datatype="f", is_big_endian=True)
    assert max(held) == pytest.approx(-30.0, abs=0.2)  # the last sweep saw -10 dBm
    inst.write(":INIT:CONT ON")
    live = inst.query_binary_values(":TRAC? TRACE1", datatype="f", is_big_endian=True)
    assert max(live) == pytest.approx(-20.0, abs=0.2)


def test_out_of_range_is_clipped_with_222_and_unknown_headers_give_113(sim: Sim) -> None:
    _, inst = sim
    inst.write(":FREQ:CENT 99 GHz")
    assert errors(inst) == [-222]
    assert float(inst.query(":FREQ:CENT?")) == pytest.approx(27e9 - 5)
    inst.write(":SWE:POIN 200000;:POW:ATT 99")
    assert errors(inst) == [-222, -222]
    assert int(inst.query(":SWE:POIN?")) == 100_001 and float(inst.query(":POW:ATT?")) == 70
    inst.write(":FOO:BAR 1")
    inst.write(":DET:TRAC BOGUS")
    inst.write(":FETC:WAV0?")  # IQ Basic result in SA mode
    assert errors(inst) == [-113, -224, -113]


def test_overload_and_over_range_status_bits(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench, level_dbm=25.0)  # +5 dBm at the analyzer input
    single_sweep_setup(inst)
    inst.write(":POW:ATT 20")
    assert inst.query(":INIT:IMM;*OPC?") == "1"
    assert int(inst.query(":STAT:QUES:INT:COND?")) == 0
    inst.write(":POW:ATT 0;:DISP:WIND:TRAC:Y:RLEV -10 dBm")  # mixer +5 dBm, 15 dB over ref
    assert inst.query(":INIT:IMM;*OPC?") == "1"
    assert int(inst.query(":STAT:QUES:INT:COND?")) == 16 + 32
    assert int(inst.query(":STAT:QUES:COND?")) & 512  # integrity summary
    inst.write(":FORM REAL,64")
    y = inst.query_binary_values(":TRAC? TRACE1", datatype="d", is_big_endian=True)
    assert max(y) < 5.0 - 0.5  # compressed reading


def test_iq_capture_is_phase_coherent_and_scaled_as_documented(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench, 3.55e9, -10.0)
    inst.write(":INST:SEL BASIC;:CONF:WAV;:INIT:CONT OFF;:FREQ:CENT 3.55 GHz;"
               ":WAV:SRAT 10 MHz;:WAV:SWE:TIME 1 ms;:FORM REAL,32;:FORM:BORD SWAP")
    assert inst.query(":INST?") == "BASIC" and inst.query(":CONF?") == "WAV"
    expected_phase = bench.tones_at("signal_analyzer")[0].phase_rad
    phases = []
    for _ in range(3):
        iq = inst.query_binary_values(":READ:WAV0?", datatype="f", is_big_endian=False,
                                      container=np.array)
        z = iq[0::2] + 1j * iq[1::2]
        assert z.size == 10_000
        # X-series volts: power = 10*log10(10*|v|^2) dBm, i.e. |v|^2/100 W
        p_dbm = 10 * math.log10(float(np.mean(np.abs(z) ** 2)) / 100.0) + 30
        assert p_dbm == pytest.approx(-10.0 - LOSS_DB, abs=0.2)
        phases.append(float(np.angle(np.mean(z))))
    assert np.ptp(phases) < 0.01
    assert phases[0] == pytest.approx(expected_phase, abs=0.02)
    inst.write(":FORM ASC")
    stats = inst.query_ascii_values(":FETC:WAV1?")
    assert stats[0] == pytest.approx(1e-7) and stats[3] == 10_000
    assert stats[1] == pytest.approx(-30.0, abs=0.2)
    # tuned 100 kHz above the tone, the phasor turns at -100 kHz
    inst.write(":FREQ:CENT 3.5501 GHz;:FORM REAL,64;:FORM:BORD NORM")
    iq = inst.query_binary_values(":READ:WAV0?", datatype="d", is_big_endian=True,
                                  container=np.array)
    z = iq[0::2] + 1j * iq[1::2]
    f_est = np.angle(np.sum(z[1:] * np.conj(z[:-1]))) * 10e6 / (2 * math.pi)
    assert f_est == pytest.approx(-100e3, rel=1e-3)
    inst.write(":FETC:SAN?")  # Swept SA result in Basic mode
    assert errors(inst) == [-113]


def test_n9020b_model() -> None:
    config = dict(CONFIG, instruments={"signal_analyzer": "keysight_n9020b"})
    with SimulatedBench(config) as simbench:
        rm = pyvisa.ResourceManager("@py")
        inst = rm.open_resource(simbench.resources["signal_analyzer"], read_termination="\n",
                                write_termination="\n", timeout=5000)
        assert inst.query("*IDN?").split(",")[1] == "N9020B"
        inst.write(":WAV:SRAT 200 MHz")  # MXA with B25: 31.25 MSa/s max
        assert errors(inst) == [-222]
        assert float(inst.query(":WAV:SRAT?")) == pytest.approx(31.25e6)
        inst.close()
        rm.close()
