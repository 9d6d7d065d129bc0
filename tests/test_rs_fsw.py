"""The simulated R&S FSW and its driver over real loopback sockets (pyvisa-py, no VISA mocks).

The bench has no DUT for the CW tests: the generator's tone reaches the analyzer through a flat
20 dB path, so the level at the analyzer input is exactly generator level − 20 dB. The NR test
adds the default PA and an X-series analyzer on an identical path, and checks that the two
vendors' built-in measurements agree within noise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pyvisa.resources import MessageBasedResource

from benchbot.waveforms.nr import generate_nr
from instruments.errors import IdentityMismatch, InstrumentError
from instruments.interfaces import AclrOffset, SignalAnalyzer, SignalGenerator
from instruments.registry import connect
from instruments.rohde_schwarz.fsw import RohdeSchwarzFSW
from simulators import SimulatedBench
from simulators import spectrum as sp
from simulators.bench import VirtualBench
from simulators.rs_fsw import FSW_MODELS, adjust_rbw_hz, snap_bandwidth
from simulators.signals import Tone
from tests._visa import errors, raw_instrument
from tests.test_sim_analyzer import tone_on

F0 = 3.55e9
LOSS_DB = 20.0
PATH = {"frequency_hz": [1e9, 27e9], "loss_db": [LOSS_DB, LOSS_DB]}


def config(analyzer: str = "rs_fsw26", **extra: Any) -> dict[str, Any]:
    instruments = {"signal_analyzer": analyzer, "signal_generator": "keysight_n5182b"}
    instruments.update(extra.pop("instruments", {}))
    paths = {role: PATH for role in instruments if role != "signal_generator"}
    return {"seed": 20261124, "time_scale": 0.02, "instruments": instruments, "paths": paths,
            **extra}


Sim = tuple[VirtualBench, MessageBasedResource, RohdeSchwarzFSW]


@pytest.fixture
def sim() -> Iterator[Sim]:
    with (SimulatedBench(config()) as simbench,
          raw_instrument(simbench.resources["signal_analyzer"]) as inst):
        fsw = connect("rs.fsw", simbench.resources["signal_analyzer"])
        assert isinstance(fsw, RohdeSchwarzFSW)
        try:
            yield simbench.bench, inst, fsw
        finally:
            fsw.close()




def mean_dbm(power_dbm: np.ndarray) -> float:
    return 10.0 * math.log10(float(np.mean(10.0 ** (np.asarray(power_dbm) / 10.0))))


# -- identity, presets, errors ------------------------------------------------------------------

@pytest.mark.parametrize(("key", "model", "part", "stop_hz"), [
    ("rs_fsw26", "FSW-26", "1312.8000K26/", 26.5e9),
    ("rs_fsw43", "FSW-43", "1312.8000K43/", 43.5e9),
])
def test_identity_options_and_frequency_range(key: str, model: str, part: str,
                                              stop_hz: float) -> None:
    with SimulatedBench(config(key)) as simbench:
        fsw = connect("rs.fsw", simbench.resources["signal_analyzer"])
        try:
            assert isinstance(fsw, SignalAnalyzer) and fsw.supports_iq_capture()
            ident = fsw.identity
            assert (ident.manufacturer, ident.model) == ("Rohde&Schwarz", model)
            assert ident.serial.startswith(part) and {"B24", "B160"} <= set(ident.options)
            assert fsw.session.query("*OPT?") == ",".join(ident.options)  # bare list
            fsw.session.write("FREQ:STOP MAX")
            assert float(fsw.session.query("FREQ:STOP?")) == stop_hz
            assert fsw.session.query("SYST:ERR?") == '0,"No error"'
        finally:
            fsw.close()


def test_driver_refuses_another_vendors_analyzer() -> None:
    with SimulatedBench(config("keysight_n9030b")) as simbench, \
            pytest.raises(IdentityMismatch):
        connect("rs.fsw", simbench.resources["signal_analyzer"])


def test_rst_presets_one_spectrum_channel(sim: Sim) -> None:
    _, inst, _ = sim
    inst.write("INST:CRE IQ,'IQ Analyzer';:INIT:CONT OFF;:FORM REAL,32")
    inst.write("INST:SEL 'Spectrum';:SWE:POIN 201;:INP:ATT 30;:BAND 1 kHz;:DET RMS")
    inst.write("*RST")
    assert inst.query("INST:LIST?") == "'SANALYZER','Spectrum'"
    assert inst.query("INIT:CONT?") == "1" and inst.query("FORM?") == "ASC,0"
    assert float(inst.query("FREQ:CENT?")) == 13.25e9 and float(inst.query("FREQ:SPAN?")) == 26.5e9
    assert int(inst.query("SWE:POIN?")) == 1001 and float(inst.query("BAND?")) == 3e6
    assert inst.query("BAND:AUTO?") == "1" and float(inst.query("INP:ATT?")) == 10.0
    assert float(inst.query("DISP:WIND:TRAC:Y:SCAL:RLEV?")) == 0.0
    assert inst.query("DET?") == "APE" and inst.query("DISP:TRAC1:MODE?") == "WRIT"
    assert errors(inst) == []


def test_couplings_and_rs_error_reporting(sim: Sim) -> None:
    _, inst, _ = sim
    inst.write("FREQ:CENT 3.55 GHz;SPAN 10 MHz")
    assert float(inst.query("BAND?")) == 100e3  # span/100
    inst.write("BAND 150 kHz")  # between 100 and 200 kHz: ties go up [verify]
    assert float(inst.query("BAND?")) == 200e3 and inst.query("BAND:AUTO?") == "0"
    inst.write("DISP:WIND:TRAC:Y:SCAL:RLEV 13 dBm")
    assert float(inst.query("INP:ATT?")) == 23.0  # ref + 10 dB, 1 dB steps
    inst.write("SWE:POIN 50;:INP:ATT 99")
    assert errors(inst) == [-222, -222]
    assert int(inst.query("SWE:POIN?")) == 101 and float(inst.query("INP:ATT?")) == 79.0
    inst.write("FORM:BORD SWAP")  # no byte-order switch on the FSW
    inst.write("TRAC:IQ:SRAT 10 MHz")  # an I/Q Analyzer command in the Spectrum channel
    inst.write("DET BOGUS")
    assert errors(inst) == [-113, -113, -224]
    inst.write("FOO:BAR")
    assert inst.query("SYST:ERR?") == '-113,"Undefined header"'


def test_initiate_opc_and_trace_queries_wait_for_the_scaled_sweep(sim: Sim) -> None:
    bench, inst, _ = sim
    tone_on(bench)
    inst.write("INIT:CONT OFF;:FREQ:CENT 3.55 GHz;SPAN 10 MHz;:SWE:TIME 5 s")  # 0.1 s here
    t0 = time.perf_counter()
    assert inst.query("INIT:IMM;*OPC?") == "1"
    assert 0.09 <= time.perf_counter() - t0 < 1.0
    inst.write("FORM REAL,32;:INIT")
    t0 = time.perf_counter()
    y = inst.query_binary_values("TRAC? TRACE1", datatype="f", is_big_endian=False,
                                 container=np.array)
    assert time.perf_counter() - t0 >= 0.08
    assert y.size == 1001 and y.max() == pytest.approx(-10.0 - LOSS_DB, abs=0.3)
    x = inst.query_binary_values("TRAC:DATA:X? TRACE1", datatype="f", is_big_endian=False,
                                 container=np.array)
    np.testing.assert_allclose(x, np.linspace(3.545e9, 3.555e9, 1001), rtol=1e-7)
    inst.write("FORM ASC")
    np.testing.assert_allclose(inst.query_ascii_values("TRAC? TRACE1"), y, rtol=1e-6)
    assert errors(inst) == []


# -- swept spectrum through the driver ------------------------------------------------------------

def configure(fsw: RohdeSchwarzFSW, **overrides: Any) -> None:
    kwargs: dict[str, Any] = dict(center_hz=F0, span_hz=10e6, rbw_hz=100e3, points=1001,
                                  detector="rms", reference_level_dbm=0.0, attenuation_db=10.0)
    kwargs.update(overrides)
    fsw.configure_sweep(**kwargs)


def test_sweep_settings_round_trip(sim: Sim) -> None:
    _, _, fsw = sim
    configure(fsw, points=2001, rbw_hz=120e3, vbw_hz=30e3, attenuation_db=20.0,
              reference_level_dbm=-5.0)
    s = fsw.settings()
    assert (s["center_hz"], s["span_hz"], s["points"]) == (F0, 10e6, 2001)
    assert (s["rbw_hz"], s["vbw_hz"]) == (100e3, 30e3)  # 120 kHz snaps to the 100 kHz filter
    assert (s["attenuation_db"], s["reference_level_dbm"]) == (20.0, -5.0)
    assert (s["detector"], s["average_type"], s["average_count"]) == ("rms", "RMS", 1)
    assert s["byte_order"] == "SWAP" and float(s["sweep_time_s"]) > 0
    assert fsw.session.query("INIT:CONT?") == "0"


@pytest.mark.parametrize("detector", ["rms", "peak", "sample", "negative_peak", "normal"])
def test_detectors_round_trip(sim: Sim, detector: str) -> None:
    _, _, fsw = sim
    configure(fsw, detector=detector)
    assert fsw.settings()["detector"] == detector


@pytest.mark.parametrize(("rbw_hz", "snapped_hz"), [(100e3, 100e3), (150e3, 200e3),
                                                    (2.6e6, 3e6)])
def test_cw_tone_level_through_trace_and_marker(sim: Sim, rbw_hz: float,
                                                snapped_hz: float) -> None:
    bench, _, fsw = sim
    tone_on(bench, F0 + 1.23e6, -7.5)
    configure(fsw, span_hz=20e6, rbw_hz=rbw_hz, detector="peak")
    fsw.single_sweep()
    trace = fsw.fetch_trace()
    assert trace.settings["rbw_hz"] == snapped_hz
    assert trace.power_dbm.dtype == np.float32 and trace.power_dbm.shape == (1001,)
    np.testing.assert_array_equal(trace.frequency_hz, np.linspace(F0 - 10e6, F0 + 10e6, 1001))
    peak = int(np.argmax(trace.power_dbm))
    assert trace.frequency_hz[peak] == pytest.approx(F0 + 1.23e6, abs=20e3)
    assert float(trace.power_dbm[peak]) == pytest.approx(-7.5 - LOSS_DB, abs=0.3)
    f, p = fsw.peak_marker()
    assert (f, p) == (pytest.approx(trace.frequency_hz[peak]),
                      pytest.approx(float(trace.power_dbm[peak]), abs=1e-4))


def test_noise_floor_follows_danl_attenuation_and_preamp(sim: Sim) -> None:
    """RMS noise per RBW = DANL (log-averaged, 1 Hz) + 2.51 dB + 10·log10(ENBW) + attenuation
    (spectrum.py conventions), with the FSW26's own DANL; the preamp swaps in its DANL."""
    _, _, fsw = sim
    hw = FSW_MODELS["FSW26"]
    rbw = 1e6
    for atten_db, preamp in ((10.0, False), (20.0, False), (0.0, True)):
        configure(fsw, span_hz=50e6, rbw_hz=rbw, attenuation_db=atten_db)
        fsw.session.write(f"INP:GAIN:STAT {'ON' if preamp else 'OFF'}")
        fsw.single_sweep()
        floor = mean_dbm(fsw.fetch_trace().power_dbm)
        danl = float(sp.danl_dbm_hz(hw, F0, preamp))
        expected = danl + sp.LOG_AVERAGE_BIAS_DB + 10 * math.log10(rbw) + atten_db
        assert floor == pytest.approx(expected, abs=0.3), (atten_db, preamp)
    assert danl == pytest.approx(-167.0, abs=0.1)


# -- I/Q Analyzer -------------------------------------------------------------------------------

def test_iq_capture_of_a_tone_power_and_phase(sim: Sim) -> None:
    bench, _, fsw = sim
    tone_on(bench, F0, -10.0)
    configure(fsw, span_hz=7e6)
    capture = fsw.capture_iq(F0, 2e6, 1e-3)
    assert (capture.center_frequency_hz, capture.sample_rate_hz) == (F0, 2e6)
    assert capture.iq.dtype == np.complex64 and capture.iq.size == 2000
    power_dbm = 10 * math.log10(float(np.mean(np.abs(capture.iq) ** 2)) / 50.0) + 30.0
    assert power_dbm == pytest.approx(-10.0 - LOSS_DB, abs=0.3)
    reference_phase = bench.tones_at("signal_analyzer")[0].phase_rad
    assert float(np.angle(np.mean(capture.iq))) == pytest.approx(reference_phase, abs=0.02)
    # the Spectrum channel kept its own settings while the I/Q Analyzer captured
    assert fsw.session.query("INST?") == "SAN"
    assert float(fsw.session.query("FREQ:SPAN?")) == 7e6
    tone_on(bench, F0 + 250e3, -10.0)
    offset = fsw.capture_iq(F0, 2e6, 1e-3)
    spectrum = np.abs(np.fft.fft(offset.iq)) ** 2
    assert np.fft.fftfreq(offset.iq.size, 1 / 2e6)[int(np.argmax(spectrum))] == 250e3


def test_iq_data_formats_carry_the_same_samples(sim: Sim) -> None:
    bench, inst, _ = sim
    tone_on(bench, F0 + 100e3)
    inst.write("INST:CRE IQ,'IQ Analyzer';:INIT:CONT OFF;:FREQ:CENT 3.55 GHz")
    inst.write("TRAC:IQ:SRAT 1 MHz;RLEN 600;:FORM REAL,32")
    assert inst.query("INIT;*OPC?") == "1"
    assert float(inst.query("SWE:TIME?")) == pytest.approx(600e-6)
    assert float(inst.query("TRAC:IQ:BWID?")) == pytest.approx(0.8e6)
    got = {}
    for fmt in ("IQBL", "IQP"):
        inst.write(f"TRAC:IQ:DATA:FORM {fmt}")
        got[fmt] = inst.query_binary_values("TRAC:IQ:DATA:MEM?", datatype="f",
                                            is_big_endian=False, container=np.array)
    block, pairs = got["IQBL"], got["IQP"]
    assert block.size == pairs.size == 1200
    np.testing.assert_array_equal(block[:600], pairs[0::2])
    np.testing.assert_array_equal(block[600:], pairs[1::2])
    part = inst.query_binary_values("TRAC:IQ:DATA:MEM? 100,50", datatype="f",
                                    is_big_endian=False, container=np.array)
    np.testing.assert_array_equal(part, pairs[200:300])
    fresh = inst.query_binary_values("TRAC:IQ:DATA?", datatype="f", is_big_endian=False,
                                     container=np.array)  # a new capture
    assert fresh.size == 1200 and not np.array_equal(fresh, pairs)
    inst.write("TRAC:IQ:DATA:MEM? 590,20")
    inst.write("SWE:POIN 1001")  # a Spectrum command in the I/Q Analyzer
    assert errors(inst) == [-222, -113]


# -- channel power, ACLR, OBW of tones ----------------------------------------------------------

TONES = [Tone(F0, -20.0), Tone(F0 + 2e6, -40.0), Tone(F0 - 4e6, -55.0)]


def test_power_functions_of_tones(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    bench, _, fsw = sim
    monkeypatch.setattr(bench, "tones_at", lambda role: TONES)
    chp = fsw.measure_channel_power(F0, 1e6, 5e6, reference_level_dbm=0.0)
    assert chp == pytest.approx(-20.0, abs=0.3)
    aclr = fsw.measure_aclr(F0, 1e6, (AclrOffset(2e6, 1e6), AclrOffset(4e6, 1e6)), 0.0)
    assert aclr.carrier_power_dbm == pytest.approx(-20.0, abs=0.3)
    assert aclr.upper_dbc[0] == pytest.approx(-20.0, abs=0.3)
    assert aclr.lower_dbm[1] == pytest.approx(-55.0, abs=0.3)
    assert aclr.lower_dbc[0] < -50.0 and aclr.upper_dbc[1] < -50.0  # noise only
    assert aclr.aclr_db(0) == pytest.approx(20.0, abs=0.3)
    s = aclr.settings
    assert s["detector"] == "rms" and s["measurement"] == "ACP"
    assert s["span_hz"] == pytest.approx(2.1 * (4e6 + 1e6))  # Adjust Settings span rule
    assert s["rbw_hz"] == adjust_rbw_hz(1e6) == 10e3  # largest 1/3 step <= BW/40
    assert float(s["sweep_time_s"]) >= 1001 * 20 / 10e3 - 1e-9
    obw = fsw.measure_obw(F0 + 2e6, 3e6, reference_level_dbm=-20.0)  # the -40 dBm tone alone
    rbw = float(obw.settings["rbw_hz"])
    assert rbw == 30e3  # span/100
    # a tone's trace is the Gaussian RBW response: 99 % of its power within ±2.576 sigma,
    # sigma = RBW/sqrt(8 ln 2)
    assert obw.occupied_bandwidth_hz == pytest.approx(2 * 2.576 * rbw / math.sqrt(8 * math.log(2)),
                                                      rel=0.03)
    assert obw.centroid_hz == pytest.approx(F0 + 2e6, abs=3e3)
    assert obw.total_power_dbm == pytest.approx(-40.0, abs=0.3)


def test_power_function_scpi(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    bench, inst, _ = sim
    monkeypatch.setattr(bench, "tones_at", lambda role: TONES)
    inst.write("INIT:CONT OFF;:FREQ:CENT 3.55 GHz;:CALC:MARK:FUNC:POW:SEL ACP")
    inst.write("POW:ACH:ACP 2;:POW:ACH:BWID:CHAN1 1 MHz;ACH 1 MHz;:POW:ACH:SPAC:ACH 1 MHz;"
               "ALT1 2 MHz")
    assert errors(inst) == []
    alt2 = float(inst.query("POW:ACH:SPAC:ALT2?"))
    inst.write("POW:ACH:SPAC 2 MHz")  # ALT spacings scale by the same factor as ADJ
    assert float(inst.query("POW:ACH:SPAC:ALT1?")) == pytest.approx(4e6)
    assert float(inst.query("POW:ACH:SPAC:ALT2?")) == pytest.approx(2 * alt2)
    assert float(inst.query("POW:ACH:BWID:ALT2?")) == 1e6  # ADJ bandwidth copied to ALTs
    inst.write("POW:ACH:PRES ACP;*WAI")
    assert float(inst.query("FREQ:SPAN?")) == pytest.approx(10.5e6)
    assert float(inst.query("BAND?")) == 10e3 and float(inst.query("BAND:VID?")) == 30e3
    assert inst.query("DET?") == "RMS" and inst.query("POW:ACH:MODE?") == "REL"
    assert inst.query("INIT;*OPC?") == "1"
    rel = [float(v) for v in inst.query("CALC:MARK:FUNC:POW:RES? ACP").split(",")]
    inst.write("POW:ACH:MODE ABS")
    ab = [float(v) for v in inst.query("CALC:MARK:FUNC:POW:RES? ACP").split(",")]
    assert len(rel) == len(ab) == 5  # TX, ADJ lower/upper, ALT1 lower/upper
    assert rel[0] == ab[0] == pytest.approx(-20.0, abs=0.3)
    np.testing.assert_allclose(rel[1:], np.array(ab[1:]) - ab[0], atol=1e-6)
    assert ab[2] == pytest.approx(-40.0, abs=0.3) and ab[3] == pytest.approx(-55.0, abs=0.3)
    inst.write("CALC:MARK:FUNC:POW:RES? OBW")  # not the selected power function
    inst.write("CALC:MARK:FUNC:POW OFF")
    inst.write("CALC:MARK:FUNC:POW:RES? ACP")
    assert errors(inst) == [-221, -221]


def test_power_measurement_errors_name_the_command(sim: Sim) -> None:
    _, _, fsw = sim
    with pytest.raises(ValueError, match="ACLR offsets"):
        fsw.measure_aclr(F0, 1e6, (), 0.0)
    with pytest.raises(InstrumentError) as info:
        fsw.measure_channel_power(F0, 1e6, 5e6, reference_level_dbm=45.0)  # max +30 dBm
    assert info.value.code == -222 and "RLEV 45" in info.value.command


# -- NR waveform: the same numbers as the X-series ---------------------------------------------

@pytest.fixture(scope="module")
def nr_iq() -> tuple[np.ndarray, float]:
    w = generate_nr(100, 30, "NR-FR1-TM3.1", n_slots=1, seed=1)
    return w.iq / max(np.abs(w.iq.real).max(), np.abs(w.iq.imag).max()), w.sample_rate_hz


def test_nr_chp_aclr_obw_and_iq_match_the_x_series(nr_iq: tuple[np.ndarray, float]) -> None:
    """A 100 MHz NR carrier through the PA in compression (ACLR ≈ −40 dBc), measured by an
    FSW26 and an N9030B on identical paths: channel power, carrier power, adjacent ACLR and
    I/Q power agree within 0.3 dB, the occupied bandwidth within 1 %."""
    iq, rate = nr_iq
    cfg = config(instruments={"keysight_analyzer": "keysight_n9030b"}, dut={})
    with SimulatedBench(cfg) as simbench:
        res = simbench.resources
        with simbench.bench.lock:
            supply = simbench.bench.supply
            supply.outputs[1], supply.voltage_set[1], supply.current_limit[1] = True, 5.0, 2.0
        gen = connect("keysight.n5182b", res["signal_generator"])
        assert isinstance(gen, SignalGenerator)
        analyzers = {"fsw": connect("rs.fsw", res["signal_analyzer"]),
                     "pxa": connect("keysight.n9030b", res["keysight_analyzer"])}
        try:
            gen.load_arb_waveform("NR100", iq, rate)
            gen.play_arb_waveform("NR100", rate)
            gen.set_frequency_hz(F0)
            gen.set_power_dbm(-5.0)
            gen.set_rf_output(True)
            offsets = (AclrOffset(100e6, 98.28e6), AclrOffset(200e6, 98.28e6))
            got: dict[str, dict[str, Any]] = {}
            for name, sa in analyzers.items():
                assert isinstance(sa, SignalAnalyzer)
                aclr = sa.measure_aclr(F0, 98.28e6, offsets, 10.0, average_count=4)
                obw = sa.measure_obw(F0, 150e6, 10.0, average_count=4)
                cap = sa.capture_iq(F0, 122.88e6, 0.5e-3)
                got[name] = {
                    "chp": sa.measure_channel_power(F0, 98.28e6, 150e6, 10.0, average_count=4),
                    "carrier": aclr.carrier_power_dbm, "lower": aclr.lower_dbc[0],
                    "upper": aclr.upper_dbc[0], "obw": obw.occupied_bandwidth_hz,
                    "centroid": obw.centroid_hz, "total": obw.total_power_dbm,
                    "iq": 10 * math.log10(float(np.mean(np.abs(cap.iq) ** 2)) / 50.0) + 30.0}
        finally:
            for driver in (gen, *analyzers.values()):
                driver.close()
    fsw, pxa = got["fsw"], got["pxa"]
    assert -44.0 < pxa["upper"] < -37.0  # the PA's regrowth, well above both noise floors
    for key in ("chp", "carrier", "lower", "upper", "total", "iq"):
        assert fsw[key] == pytest.approx(pxa[key], abs=0.3), key
    assert fsw["obw"] == pytest.approx(pxa["obw"], rel=0.01)
    assert fsw["centroid"] == pytest.approx(pxa["centroid"], abs=300e3)


def test_snap_bandwidth_table() -> None:
    assert [snap_bandwidth(v) for v in (1.0, 1.4, 1.5, 4e3, 7.5e6, 9e9)] == [
        1.0, 1.0, 2.0, 5e3, 10e6, 40e6]
    assert adjust_rbw_hz(98.28e6) == 1e6 and adjust_rbw_hz(5e6) == 100e3
