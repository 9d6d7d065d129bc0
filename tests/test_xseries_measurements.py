"""X-series built-in Channel Power, ACP and Occupied BW: simulator SCPI and driver, over real
loopback sockets (pyvisa-py), with CW tones of known level and with a 100 MHz NR waveform played
by the MXG through the simulated PA.

Expected values come from the physics, not from the simulator: a tone's channel power is its
level; an ACP offset holding a tone reads tone minus carrier; a tone's 99 % OBW through a
Gaussian RBW filter (power response exp(-4 ln2 (f/RBW)^2), sigma = RBW/sqrt(8 ln2)) is
2 * 2.576 * sigma = 2.188 * RBW; a flat NR spectrum of N_RB*12*SCS = 98.28 MHz has a 99 % OBW of
0.99 * 98.28 = 97.3 MHz before the RBW and the PA widen it slightly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest
from pyvisa.resources import MessageBasedResource

from benchbot.waveforms import generate_nr
from instruments.errors import UnexpectedResponse
from instruments.interfaces import AclrOffset
from instruments.keysight.x_series import KeysightXSeriesAnalyzer
from instruments.registry import connect
from simulators import SimulatedBench, xseries_setups
from simulators import keysight_xseries as xs
from simulators.bench import VirtualBench
from simulators.signals import Tone
from tests._visa import errors, raw_instrument
from tests.test_drivers import BENCH_DOC, F0, Bench, bench_config, loss_db
from tests.test_sim_analyzer import CONFIG, LOSS_DB, tone_on

NAN = 9.91e37
GAUSS_OBW_PER_RBW = 2 * 2.5758 / math.sqrt(8 * math.log(2))  # 99 % of a Gaussian: 2.188*RBW
NR_BW_CONFIG_HZ = 273 * 12 * 30e3  # 98.28 MHz (38.104 Table 5.3.2-1, 100 MHz at 30 kHz)
NR_OFFSETS = (AclrOffset(100e6, NR_BW_CONFIG_HZ), AclrOffset(200e6, NR_BW_CONFIG_HZ))

Sim = tuple[VirtualBench, MessageBasedResource]


@pytest.fixture
def sim() -> Iterator[Sim]:
    """The flat 20 dB bench of test_sim_analyzer, plain pyvisa on the analyzer."""
    with (SimulatedBench(CONFIG) as simbench,
          raw_instrument(simbench.resources["signal_analyzer"]) as inst):
        yield simbench.bench, inst


@pytest.fixture
def flat() -> Iterator[tuple[VirtualBench, KeysightXSeriesAnalyzer]]:
    """The same flat bench through the driver."""
    with SimulatedBench(CONFIG) as simbench:
        sa = connect("keysight.n9030b", simbench.resources["signal_analyzer"])
        try:
            yield simbench.bench, sa  # type: ignore[misc]
        finally:
            sa.close()


def values(inst: MessageBasedResource, query: str) -> list[float]:
    inst.write(":FORM ASC")
    return [float(v) for v in inst.query(query).split(",")]


# -- SCPI: measurement selection, result layouts, errors -------------------------------------

def test_conf_selects_and_reports_the_measurement(sim: Sim) -> None:
    _, inst = sim
    assert inst.query(":CONF?") == "SAN"
    assert inst.query(":CONF:CAT?") == '"SAN,CHP,ACP,OBW,SEM,TOI,HARM"'
    for node, name in (("CHPower", "CHP"), ("ACP", "ACP"), ("OBW", "OBW"), ("SAN", "SAN")):
        inst.write(f":CONF:{node}")
        assert inst.query(":CONF?") == name
    inst.write(":CONF:OBW:NDEF;:OBW:PERC 95;:CONF:SAN;:CONF:OBW:NDEF")
    assert float(inst.query(":OBW:PERC?")) == 95.0  # NDEFault keeps the settings
    inst.write(":CONF:OBW")
    assert float(inst.query(":OBW:PERC?")) == 99.0  # CONFigure presets them
    inst.write("*RST")
    assert inst.query(":CONF?") == "SAN"  # Mode Preset: Swept SA
    assert errors(inst) == []


def test_fetch_needs_a_result_of_the_active_measurement(sim: Sim) -> None:
    _, inst = sim
    inst.write(":INIT:CONT OFF;:CONF:CHP")
    inst.write(":FETC:CHP?")  # single mode, nothing measured since the preset
    inst.write(":FETC:ACP?")  # not the active measurement
    inst.write(":FETC:SAN?")
    assert errors(inst) == [-230, -221, -221]
    assert len(values(inst, ":READ:CHP?")) == 2
    assert len(values(inst, ":FETC:CHP?")) == 2
    inst.write(":FETC:CHP2?")  # only n=1 results are simulated
    assert errors(inst) == [-113]


def test_chp_of_a_tone(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench, 3.5504e9, -10.0)
    inst.write(":INIT:CONT OFF;:CONF:CHP;:FREQ:CENT 3.55 GHz;:CHP:BAND:INT 1 MHz")
    assert float(inst.query(":CHP:FREQ:SPAN?")) == pytest.approx(1.5e6)  # ratio kept (3:2)
    inst.write(":CHP:FREQ:SPAN 2 MHz;:CHP:AVER:COUN 4")
    power, psd = values(inst, ":READ:CHP?")
    assert power == pytest.approx(-10.0 - LOSS_DB, abs=0.2)
    assert psd == pytest.approx(power - 60.0, abs=1e-3)  # dBm/Hz over the 1 MHz integ BW
    tone_on(bench, 3.5512e9, -10.0)  # 1.2 MHz away: outside the 1 MHz channel
    power, _ = values(inst, ":READ:CHP?")
    assert power < -80.0
    assert errors(inst) == []


def test_chp_results_honour_the_binary_format(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench)
    inst.write(":INIT:CONT OFF;:CONF:CHP;:FREQ:CENT 3.55 GHz;:READ:CHP?")
    inst.read()
    asc = values(inst, ":FETC:CHP?")
    inst.write(":FORM REAL,64;:FORM:BORD SWAP")
    real = inst.query_binary_values(":FETC:CHP?", datatype="d", is_big_endian=False)
    np.testing.assert_allclose(real, asc, rtol=1e-8)


def test_acp_result_layout_and_known_tones(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Carrier tone -20 dBm; -60 dBm in the upper A channel, -70 dBm in the lower B channel."""
    bench, inst = sim
    fc = 3.55e9
    tones = [Tone(fc, -20.0), Tone(fc + 5e6 + 0.3e6, -60.0), Tone(fc - 10e6 - 0.4e6, -70.0)]
    monkeypatch.setattr(bench, "tones_at", lambda role: tones)
    inst.write(":INIT:CONT OFF;:CONF:ACP;:FREQ:CENT 3.55 GHz;:DISP:WIND:TRAC:Y:RLEV -10;"
               ":ACP:CARR1:COUN 1;:ACP:CARR1:LIST:BAND:INT 2 MHz;:ACP:CARR1:LIST:WIDT 2 MHz;"
               ":ACP:OFFS1:LIST:FREQ 5 MHz,10 MHz,0,0,0,0;"
               ":ACP:OFFS1:LIST:BAND:INT 2MHz,2MHz,2MHz,2MHz,2MHz,2MHz;"
               ":ACP:OFFS1:LIST:STAT ON,ON,OFF,OFF,OFF,OFF;:ACP:METH IBW;:ACP:AVER:COUN 5")
    r = values(inst, ":READ:ACP?")
    assert len(r) == 28
    assert r[0] == 0.0 and r[1] == pytest.approx(-20.0, abs=0.2) and r[3] == r[1]
    lower_a, upper_a, lower_b, upper_b = r[4:6], r[6:8], r[8:10], r[10:12]
    assert upper_a[0] == pytest.approx(-40.0, abs=0.2)
    assert upper_a[1] == pytest.approx(-60.0, abs=0.2)
    assert lower_b[0] == pytest.approx(-50.0, abs=0.2)
    assert lower_b[1] == pytest.approx(lower_b[0] + r[1], abs=1e-3)  # rel = abs - carrier
    # analyzer noise only: DANL -155 dBm/Hz + 2.5 dB (RMS) + 6 dB atten + 63 dB (2 MHz)
    assert lower_a[1] == pytest.approx(-83.5, abs=1.5) and upper_b[0] < -60.0
    assert r[12:] == [NAN] * 16  # offsets C..F are off
    span = float(inst.query(":ACP:FREQ:SPAN?"))
    assert span == pytest.approx(2 * 11e6 * 1.05)  # outer edge of offset B, 5 % margin
    rbw = float(inst.query(":ACP:BAND?"))
    assert rbw >= 2 * span / 1000  # auto RBW: two points per RBW at least
    assert errors(inst) == []


def test_acp_lists_and_options(sim: Sim) -> None:
    _, inst = sim
    inst.write(":CONF:ACP;:ACP:OFFS:LIST 1 MHz,2 MHz;:ACP:OFFS:LIST:STAT ON")
    assert values(inst, ":ACP:OFFS:LIST?") == [1e6, 2e6, 2e6, 2e6, 2e6, 2e6]  # filled
    assert inst.query(":ACP:OFFS1:LIST:STAT?") == "1,1,1,1,1,1"
    inst.write(":ACP:OFFS:LIST:BWID:INT 1,2,3,4,5,6,7")  # seven values for six offsets
    inst.write(":ACP:METH RBW")  # only the integration-bandwidth method is simulated
    inst.write(":ACP:FREQ:SPAN 10 MHz")  # the ACP span follows the offsets
    assert errors(inst) == [-108, -221, -221]
    inst.write(":ACP:CORR:NOIS ON;:ACP:OFFS2:LIST:FREQ 9 MHz")  # MS subopcode: ignored
    assert inst.query(":ACP:CORR:NOIS?") == "1"
    assert values(inst, ":ACP:OFFS1:LIST:FREQ?")[0] == 1e6
    assert errors(inst) == []


def test_obw_of_a_tone(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench, 3.55e9, -10.0)
    inst.write(":INIT:CONT OFF;:CONF:OBW;:FREQ:CENT 3.55 GHz;:OBW:FREQ:SPAN 3 MHz")
    rbw = float(inst.query(":OBW:BAND?"))
    obw, total, error, xdb = values(inst, ":READ:OBW?")
    assert obw == pytest.approx(GAUSS_OBW_PER_RBW * rbw, rel=0.05)
    assert total == pytest.approx(-10.0 - LOSS_DB, abs=0.2)
    assert abs(error) < 3e6 / 1000  # within a display point of the tone
    # -26 dB points of the Gaussian RBW: 2 * RBW * sqrt(26 / (10 log10(e) * 4 ln2))
    assert xdb == pytest.approx(2 * rbw * math.sqrt(26 / (4 * math.log(2) * 4.343)), rel=0.05)
    assert errors(inst) == []


def test_measurement_sweep_time_blocks_opc(sim: Sim) -> None:
    _, inst = sim
    inst.write(":INIT:CONT OFF;:CONF:ACP;:ACP:AVER OFF;:ACP:SWE:TIME 5 s")  # x 0.02 = 0.1 s
    t0 = time.perf_counter()
    assert inst.query(":INIT:IMM;*OPC?") == "1"
    assert 0.09 <= time.perf_counter() - t0 < 1.0
    inst.write(":ACP:SWE:TIME 1 s;:ACP:AVER ON;:ACP:AVER:COUN 5")  # 5 averages: 0.1 s
    t0 = time.perf_counter()
    assert len(values(inst, ":READ:ACP?")) == 28
    assert 0.09 <= time.perf_counter() - t0 < 1.0
    inst.write(":ACP:SWE:TIME:AUTO ON")
    rbw = float(inst.query(":ACP:BAND?"))
    assert float(inst.query(":ACP:SWE:TIME?")) >= 1001 * xseries_setups.ACCURACY_SAMPLES / rbw
    assert errors(inst) == []


def test_mixer_overload_in_a_measurement_sets_the_integrity_bits(sim: Sim) -> None:
    bench, inst = sim
    tone_on(bench, level_dbm=25.0)  # +5 dBm at the analyzer
    inst.write(":INIT:CONT OFF;:CONF:CHP;:FREQ:CENT 3.55 GHz;:DISP:WIND:TRAC:Y:RLEV 10")
    values(inst, ":READ:CHP?")
    assert int(inst.query(":STAT:QUES:INT:COND?")) == 0
    inst.write(":POW:ATT 0;:DISP:WIND:TRAC:Y:RLEV -10")
    values(inst, ":READ:CHP?")
    assert int(inst.query(":STAT:QUES:INT:COND?")) == 16 + 32


# -- driver ---------------------------------------------------------------------------------

def test_driver_refuses_seven_offsets_before_sending(
        flat: tuple[VirtualBench, KeysightXSeriesAnalyzer]) -> None:
    _, sa = flat
    sent = len(sa.session.traffic)
    offsets = tuple(AclrOffset(k * 5e6, 1e6) for k in range(1, 8))
    with pytest.raises(ValueError, match="1..6"):
        sa.measure_aclr(3.55e9, 1e6, offsets, 0.0)
    with pytest.raises(ValueError, match="1..6"):
        sa.measure_aclr(3.55e9, 1e6, (), 0.0)
    with pytest.raises(ValueError, match="bandwidth_hz"):
        sa.measure_aclr(3.55e9, 1e6, (AclrOffset(5e6, 0.0),), 0.0)
    assert len(sa.session.traffic) == sent


def test_driver_acp_of_tones_and_back_to_swept_sa(
        flat: tuple[VirtualBench, KeysightXSeriesAnalyzer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    bench, sa = flat
    fc = 3.55e9
    tones = [Tone(fc, -20.0), Tone(fc - 5e6, -55.0), Tone(fc + 10e6, -65.0)]
    monkeypatch.setattr(bench, "tones_at", lambda role: tones)
    offsets = (AclrOffset(5e6, 2e6), AclrOffset(10e6, 2e6), AclrOffset(15e6, 2e6))
    r = sa.measure_aclr(fc, 2e6, offsets, reference_level_dbm=-10.0, average_count=4)
    assert r.offsets == offsets and len(r.lower_dbc) == 3
    assert r.carrier_power_dbm == pytest.approx(-20.0, abs=0.2)
    assert r.lower_dbc[0] == pytest.approx(-35.0, abs=0.2)
    assert r.upper_dbc[1] == pytest.approx(-45.0, abs=0.2)
    assert r.upper_dbm[1] == pytest.approx(-65.0, abs=0.2)
    assert r.aclr_db(0) == pytest.approx(35.0, abs=0.2)
    assert r.settings["average_count"] == 4 and r.settings["rbw_hz"] > 0
    assert sa.session.query(":ACP:OFFS:LIST:STAT?") == "1,1,1,0,0,0"
    sa.configure_sweep(fc, 20e6, 100e3, reference_level_dbm=-10.0)
    assert sa.session.query(":CONF?") == "SAN"
    sa.single_sweep()
    trace = sa.fetch_trace()
    assert float(trace.power_dbm.max()) == pytest.approx(-20.0, abs=0.3)


def test_driver_chp_and_obw_of_a_tone(flat: tuple[VirtualBench, KeysightXSeriesAnalyzer]) -> None:
    bench, sa = flat
    tone_on(bench, 3.55e9, -10.0)
    chp = sa.measure_channel_power(3.55e9, 2e6, 3e6, reference_level_dbm=-10.0)
    assert chp == pytest.approx(-10.0 - LOSS_DB, abs=0.2)
    obw = sa.measure_obw(3.55e9, 3e6, reference_level_dbm=-10.0, average_count=3)
    rbw = float(obw.settings["rbw_hz"])
    assert obw.occupied_bandwidth_hz == pytest.approx(GAUSS_OBW_PER_RBW * rbw, rel=0.05)
    assert obw.total_power_dbm == pytest.approx(-10.0 - LOSS_DB, abs=0.2)
    assert obw.centroid_hz == pytest.approx(3.55e9, abs=3e3)
    assert obw.power_percent == 99.0 and obw.settings["average_count"] == 3
    with pytest.raises(ValueError):
        sa.measure_obw(3.55e9, 3e6, 0.0, power_percent=100.0)
    sa.single_sweep()  # no configure_sweep: the Swept SA is selected again with its settings
    assert sa.session.query(":CONF?") == "SAN"
    trace = sa.fetch_trace()
    assert trace.settings["reference_level_dbm"] == -10.0 and trace.settings["points"] == 1001
    assert float(trace.power_dbm.max()) == pytest.approx(-10.0 - LOSS_DB, abs=0.5)


def test_driver_rejects_a_wrong_result_count(
        flat: tuple[VirtualBench, KeysightXSeriesAnalyzer],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An instrument answering three CHP values (fault injected in the simulator)."""
    _, sa = flat
    monkeypatch.setitem(xs._RESULTS, "CHP", lambda acq: np.array([-30.0, -90.0, 0.0]))
    with pytest.raises(UnexpectedResponse) as info:
        sa.measure_channel_power(3.55e9, 2e6, 3e6, reference_level_dbm=0.0)
    assert info.value.command == ":FETC:CHP?" and "3 values" in str(info.value)
    assert "N9030B" in sa.session.query("*IDN?")  # still in step


# -- a 100 MHz NR waveform through the simulated PA ------------------------------------------

@pytest.fixture(scope="module")
def nr() -> Iterator[Bench]:
    """The built-in simulated bench, PA powered, the MXG playing one slot of 100 MHz NR."""
    wave = generate_nr(100, 30, "NR-FR1-TM3.1", n_slots=1, seed=3)
    with SimulatedBench(bench_config()) as sim:
        bench = Bench(sim)
        try:
            bench.power_up(-20.0)
            bench.gen.load_arb_waveform("NR100", wave.iq, wave.sample_rate_hz)
            bench.gen.play_arb_waveform("NR100", wave.sample_rate_hz)
            yield bench
        finally:
            for driver in (bench.gen, bench.sa, bench.pm, bench.ps):
                driver.close()


def analyzer_level_dbm(generator_dbm: float) -> float:
    """Generator RMS level + small-signal gain - both path losses at F0."""
    gain = BENCH_DOC["simulation"]["dut"]["small_signal_gain_db"]
    return (generator_dbm - loss_db("signal_generator", F0) + gain
            - loss_db("signal_analyzer", F0))


def test_nr_channel_power(nr: Bench) -> None:
    nr.gen.set_power_dbm(-20.0)
    expected = analyzer_level_dbm(-20.0)
    chp = nr.sa.measure_channel_power(F0, NR_BW_CONFIG_HZ, 150e6, expected + 10.0,
                                      average_count=3)
    assert chp == pytest.approx(expected, abs=0.3)


def test_nr_aclr_rises_with_drive(nr: Bench) -> None:
    aclr = []
    for level in (-8.0, -5.0, -2.0):
        nr.gen.set_power_dbm(level)
        r = nr.sa.measure_aclr(F0, NR_BW_CONFIG_HZ, NR_OFFSETS,
                               analyzer_level_dbm(level) + 10.0, noise_correction=True)
        assert r.lower_dbc[1] < r.lower_dbc[0] and r.upper_dbc[1] < r.upper_dbc[0]
        aclr.append(r.aclr_db(0))
    assert aclr[0] > aclr[1] + 1.0 > aclr[2] + 4.0  # regrowth grows faster near compression
    assert 30.0 < aclr[2] < 45.0


def test_nr_noise_correction_lowers_a_danl_limited_aclr(nr: Bench) -> None:
    nr.gen.set_power_dbm(-20.0)  # clean PA; -30 dBm at the analyzer: ACLR at the noise floor
    ref = analyzer_level_dbm(-20.0) + 10.0
    raw = nr.sa.measure_aclr(F0, NR_BW_CONFIG_HZ, NR_OFFSETS, ref, average_count=2)
    corrected = nr.sa.measure_aclr(F0, NR_BW_CONFIG_HZ, NR_OFFSETS, ref, average_count=2,
                                   noise_correction=True)
    assert raw.settings["noise_correction"] == "OFF"
    assert corrected.settings["noise_correction"] == "ON"
    assert corrected.carrier_power_dbm == pytest.approx(raw.carrier_power_dbm, abs=0.1)
    assert corrected.aclr_db(0) > raw.aclr_db(0) + 5.0
    # raw: analyzer noise in 98.28 MHz at the auto attenuation against the carrier
    noise_dbm = (-155.0 + 2.51 + float(raw.settings["attenuation_db"])
                 + 10 * math.log10(NR_BW_CONFIG_HZ / 1.0645) - 3.0)
    assert raw.lower_dbm[0] > noise_dbm


def test_nr_fetch_acp_layout(nr: Bench) -> None:
    nr.gen.set_power_dbm(-10.0)
    nr.sa.measure_aclr(F0, NR_BW_CONFIG_HZ, NR_OFFSETS, analyzer_level_dbm(-10.0) + 10.0)
    nr.sa.session.write(":FORM ASC")
    reply = [float(v) for v in nr.sa.session.query(":FETC:ACP?").split(",")]
    assert len(reply) == 28 and reply[12:] == [NAN] * 16
    assert all(v < 0 for v in reply[4:12:2])  # relative values: negative dBc
    nr.sa.configure_sweep(F0, 300e6, 1e6)  # back to Swept SA, binary traces again
    nr.sa.single_sweep()
    trace = nr.sa.fetch_trace()
    inside = np.abs(trace.frequency_hz - F0) < 40e6
    outside = np.abs(trace.frequency_hz - F0) > 60e6  # a short RMS sweep: noise-like points
    assert np.median(trace.power_dbm[inside]) > np.median(trace.power_dbm[outside]) + 30.0


def test_nr_occupied_bandwidth(nr: Bench) -> None:
    nr.gen.set_power_dbm(-10.0)
    obw = nr.sa.measure_obw(F0, 200e6, analyzer_level_dbm(-10.0) + 10.0, average_count=2)
    assert 97.0e6 < obw.occupied_bandwidth_hz < 99.0e6
    assert obw.total_power_dbm == pytest.approx(analyzer_level_dbm(-10.0), abs=0.3)
    assert abs(obw.centroid_hz - F0) < 0.5e6


def test_nr_iq_capture_carries_the_waveform(nr: Bench) -> None:
    nr.gen.set_power_dbm(-20.0)
    capture = nr.sa.capture_iq(F0, 125e6, 0.5e-3)
    power_dbm = 10 * np.log10(np.mean(np.abs(capture.iq) ** 2) / 50.0) + 30.0
    assert power_dbm == pytest.approx(analyzer_level_dbm(-20.0), abs=0.3)
    spectrum = np.abs(np.fft.fftshift(np.fft.fft(capture.iq))) ** 2
    f = np.fft.fftshift(np.fft.fftfreq(capture.iq.size, 1 / capture.sample_rate_hz))
    in_band = spectrum[np.abs(f) < 45e6].mean()
    guard = spectrum[(np.abs(f) > 52e6) & (np.abs(f) < 58e6)].mean()
    assert 10 * np.log10(in_band / guard) > 20.0  # an NR channel, not a tone or white noise
