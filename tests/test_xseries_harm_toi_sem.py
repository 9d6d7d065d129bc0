"""X-series built-in Harmonics, TOI and SEM: simulator SCPI and result layouts with tones of known
level, then the driver on the simulated PA bench over real loopback sockets (pyvisa-py).

Expected values come from the physics and the PA model, not from the simulator: a tone's level
is its level; an intercept is P_tone + (P_tone - P_IM3)/2; harmonics and two-tone products of the
PA are `PowerAmplifier.harmonics_dbc` and the model's own envelope response
(`tests.test_harmonics_two_tone.model_two_tone`), referred from the analyzer input to the DUT
output with the bench's path loss at each frequency; the SEM's margins are checked against
`benchbot.analysis.sem.evaluate_sem` on swept traces of the same analyzer, with the same
RMS-sample count per point (4 SEM averages x 20 samples = 32 trace averages x 2.5 samples).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest
import pyvisa
from pyvisa.resources import MessageBasedResource

from benchbot.analysis.sem import MaskSegment, SemMask, bs_obue_mask, evaluate_sem
from benchbot.measurements.two_tone import two_tone_arb
from benchbot.waveforms import generate_nr
from instruments.errors import UnexpectedResponse
from instruments.interfaces import SemResult, SemSegment
from instruments.keysight.x_series import KeysightXSeriesAnalyzer, sem_rbw_hz
from instruments.registry import connect
from simulators import SimulatedBench
from simulators import keysight_xseries as xs
from simulators.bench import VirtualBench
from simulators.signals import Tone
from tests._visa import errors
from tests.test_drivers import F0, Bench, bench_config, loss_db, started_bench
from tests.test_harmonics_two_tone import SUPPLY_V, model_two_tone
from tests.test_sim_analyzer import CONFIG

NAN = 9.91e37
FC = 1e9
NR_BW_HZ = 20e6  # 20 MHz NR at 30 kHz SCS: x5 = 153.6 MS/s, within the MXG's 200 MHz ARB clock
PER_TONE_DB = 10 * math.log10(2)  # two equal tones: generator RMS = per tone + 3.01 dB

Sim = tuple[VirtualBench, MessageBasedResource]


@pytest.fixture
def sim() -> Iterator[Sim]:
    """The flat 20 dB bench of test_sim_analyzer, plain pyvisa on the analyzer."""
    with SimulatedBench(CONFIG) as simbench:
        rm = pyvisa.ResourceManager("@py")
        inst = rm.open_resource(simbench.resources["signal_analyzer"], read_termination="\n",
                                write_termination="\n", timeout=5000)
        try:
            inst.write(":FORM ASC;:INIT:CONT OFF")
            yield simbench.bench, inst  # type: ignore[misc]
        finally:
            inst.close()
            rm.close()


@pytest.fixture
def flat() -> Iterator[KeysightXSeriesAnalyzer]:
    """The same flat bench through the driver."""
    with SimulatedBench(CONFIG) as simbench:
        sa = connect("keysight.n9030b", simbench.resources["signal_analyzer"])
        try:
            yield sa  # type: ignore[misc]
        finally:
            sa.close()


def use_tones(bench: VirtualBench, monkeypatch: pytest.MonkeyPatch, tones: list[Tone]) -> None:
    monkeypatch.setattr(bench, "tones_at", lambda role: tones)


def read(inst: MessageBasedResource, query: str) -> list[float]:
    return [float(v) for v in inst.query(query).split(",")]


# -- SCPI: result layouts with known tones ---------------------------------------------------

def test_harmonics_result_layout(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """-10 dBm at 1 GHz, H2 -30 dBc, H3 -45 dBc; four harmonics measured."""
    bench, inst = sim
    use_tones(bench, monkeypatch, [Tone(FC, -10.0), Tone(2 * FC, -40.0), Tone(3 * FC, -55.0)])
    inst.write(":CONF:HARM;:FREQ:CENT 1 GHz;:HARM:NUMB 4;:HARM:AVER OFF")
    assert inst.query(":CONF?") == "HARM" and inst.query(":HARM:FREQ:FUND:AUTO?") == "1"
    amplitudes = read(inst, ":READ:HARM:AMPL:ALL?")
    assert len(amplitudes) == 10 and amplitudes[4:] == [0.0] * 6  # not measured: 0
    assert amplitudes[0] == pytest.approx(-10.0, abs=0.15)
    assert amplitudes[1:3] == pytest.approx([-30.0, -45.0], abs=0.15)
    assert amplitudes[3] < -60.0  # H4: the analyzer's noise in zero span
    assert read(inst, ":FETC:HARM:FREQ:ALL?") == [FC, 2 * FC, 3 * FC, 4 * FC] + [0.0] * 6
    thd = 100 * math.sqrt(10 ** -3.0 + 10 ** -4.5)  # voltage ratio, percent
    assert read(inst, ":FETC:HARM?") == pytest.approx([thd], rel=0.02)
    assert read(inst, ":FETC:HARM:AMPL3?") == [amplitudes[2]]
    assert read(inst, ":FETC:HARM:FREQ2?") == [2 * FC]
    assert read(inst, ":FETC:HARM:FUND?") == [FC]
    inst.write(":FETC:HARM:AMPL11?")
    inst.write(":HARM:NUMB 11")  # 2..10: clipped to 10
    assert errors(inst) == [-113, -222] and inst.query(":HARM:NUMB?") == "10"
    inst.write(":HARM:NUMB 5;:HARM:FREQ:FUND 2 GHz;:HARM:SWE:TIME 1 s")  # 5 x 1 s x 0.02
    t0 = time.perf_counter()
    amplitudes = read(inst, ":READ:HARM:AMPL:ALL?")
    assert 0.09 <= time.perf_counter() - t0 < 1.0
    assert amplitudes[0] == pytest.approx(-40.0, abs=0.15)  # the fundamental is now 2 GHz
    assert read(inst, ":FETC:HARM:FUND?") == [2 * FC]
    assert errors(inst) == []


def test_toi_result_layout(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tones -20 dBm at 1 GHz -+ 0.5 MHz; IM3 -70 dBm below, -60 dBm above: intercepts
    -20 + 50/2 = +5 dBm (lower) and -20 + 40/2 = 0 dBm (upper, the worse)."""
    bench, inst = sim
    spacing = 1e6
    use_tones(bench, monkeypatch, [Tone(FC - spacing / 2, -20.0), Tone(FC + spacing / 2, -20.0),
                                   Tone(FC - 1.5 * spacing, -70.0),
                                   Tone(FC + 1.5 * spacing, -60.0)])
    inst.write(":CONF:TOI;:FREQ:CENT 1 GHz;:TOI:FREQ:SPAN 5 MHz;:TOI:BAND 5 kHz;:TOI:AVER OFF")
    worst, worst_im_hz, lower, lower_im_hz, upper, upper_im_hz = read(inst, ":READ:TOI?")
    assert (lower, upper, worst) == pytest.approx((5.0, 0.0, 0.0), abs=0.15)
    assert worst_im_hz == upper_im_hz == pytest.approx(FC + 1.5 * spacing, abs=5e3)
    assert lower_im_hz == pytest.approx(FC - 1.5 * spacing, abs=5e3)
    r = read(inst, ":FETC:TOI2?")
    assert len(r) == 13
    assert r[3] == pytest.approx(FC - spacing / 2, abs=5e3) and r[4] == pytest.approx(-20, abs=0.15)
    assert r[5] == pytest.approx(FC + spacing / 2, abs=5e3) and r[6] == pytest.approx(-20, abs=0.15)
    assert r[8] == pytest.approx(-70.0, abs=0.15) and r[11] == pytest.approx(-60.0, abs=0.15)
    assert r[9] == pytest.approx(r[4] + (r[4] - r[8]) / 2, abs=1e-6)  # lower intercept
    assert r[1:3] == [r[11], r[12]]  # the worse side is the upper one
    assert read(inst, ":FETC:TOI:IP3?") == [worst]
    inst.write(":FETC:TOI3?")
    assert errors(inst) == [-113]


def test_sem_result_layout(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Carrier -10 dBm at 1 GHz; -50 dBm at +3 MHz inside offset B (2.715-3.515 MHz from the
    centre, limit -14 -> -26 dBm), measured with a 30 kHz Meas BW = 10 x 3 kHz RBW."""
    bench, inst = sim
    use_tones(bench, monkeypatch, [Tone(FC, -10.0), Tone(FC + 3e6, -50.0)])
    inst.write(":CONF:SEM;:FREQ:CENT 1 GHz;:SEM:AVER OFF;:SEM:OFFS:LIST:BAND 30 kHz,3 kHz;"
               ":SEM:OFFS:LIST:BAND:IMUL 1,10")
    r = read(inst, ":READ:SEM?")
    assert len(r) == 82 and inst.query(":CONF?") == "SEM"
    assert r[0] == pytest.approx(-10.0, abs=0.15)  # total power reference in Integ BW 3.84 MHz
    assert r[1] == pytest.approx(r[0] - 10 * math.log10(3.84e6), abs=1e-3)
    lower_b, upper_b = r[20:25], r[25:30]
    rel, absolute, rel_peak, peak, peak_offset = upper_b
    assert peak == pytest.approx(-50.0, abs=0.15) and rel_peak == pytest.approx(peak - r[0])
    # from the carrier centre (CTOC); the 30 kHz window holds the whole tone over +-MBW/2
    assert peak_offset == pytest.approx(3e6, abs=15e3)
    assert absolute == pytest.approx(-50.0, abs=0.15) and rel == pytest.approx(absolute - r[0])
    limit = -14.0 + (3e6 - 2.715e6) / 0.8e6 * (-26.0 + 14.0)
    assert r[73] == pytest.approx(limit - peak, abs=0.2)  # minimum margin, upper B
    assert lower_b[3] < -85.0 and lower_b[4] < 0  # noise only; below the carrier
    assert r[72] > 50.0  # lower B
    assert r[60:70] == [NAN] * 10 and r[80:82] == [NAN] * 2  # offset F is off
    inst.write(":SEM:OFFS:TYPE ETOC;:SEM:OFFS:LIST:FREQ:STAR 15 kHz,215 kHz;"
               ":SEM:OFFS:LIST:FREQ:STOP 215 kHz,1.015 MHz")  # the same offsets from the edge
    r = read(inst, ":READ:SEM?")
    assert r[28] == pytest.approx(-50.0, abs=0.15)
    assert r[29] == pytest.approx(0.5e6, abs=15e3)  # from the edge: centre + Ref Chan Span/2
    assert errors(inst) == []


def test_sem_offset_lists(sim: Sim) -> None:
    _, inst = sim
    inst.write(":CONF:SEM;:SEM:OFFS:LIST:BAND:IMUL 1,10;:SEM:OFFS:LIST:STAT 0")
    assert read(inst, ":SEM:OFFS:LIST:BAND:IMUL?") == [1.0, 10.0] + [1.0] * 10  # rest kept
    assert inst.query(":SEM:OFFS1:LIST:STAT?") == "0,1,1,1,1,0,0,0,0,0,0,0"
    inst.write(":SEM:OFFS:LIST:STOP:ABS " + ",".join(["-20"] * 13))  # 13 values for 12
    inst.write(":SEM:OFFS:LIST:TEST AND")  # only absolute and relative masks are simulated
    inst.write(":SEM:OFFS:LIST:FREQ:STAR")
    assert errors(inst) == [-108, -221, -109]
    inst.write(":SEM:OFFS:LIST:TEST REL,ABS;:SEM:OFFS:TYPE ETOE;:SEM:BAND:INT 10 MHz")
    assert inst.query(":SEM:OFFS:LIST:TEST?").startswith("REL,ABS,ABS")
    assert inst.query(":SEM:OFFS:TYPE?") == "ETOE"
    assert float(inst.query(":SEM:FREQ:SPAN?")) == 10e6  # Ref Chan Span >= Integ BW
    assert len(read(inst, ":SEM:OFFS:LIST:SWE:TIME?")) == 12
    inst.write(":CONF:SEM")  # preset
    assert inst.query(":SEM:OFFS:TYPE?") == "CTOC"
    assert errors(inst) == []


# -- driver: arguments, strict parsing ----------------------------------------------------------

def test_driver_refuses_bad_arguments_before_sending(flat: KeysightXSeriesAnalyzer) -> None:
    sa = flat
    sent = len(sa.session.traffic)
    for bad in (1, 11, 2.5, True):
        with pytest.raises(ValueError, match="harmonics"):
            sa.measure_harmonics(FC, bad, 0.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fundamental_hz"):
        sa.measure_harmonics(0.0, 3, 0.0)
    for spacing in (0.0, -1e6):
        with pytest.raises(ValueError, match="tone_spacing_hz"):
            sa.measure_toi(FC, spacing, 0.0)
    good = SemSegment(0.05e6, 5.05e6, -20.0, -27.0, 100e3)
    seven = tuple(SemSegment(k * 1e6, k * 1e6 + 0.5e6, -20.0, -20.0, 100e3) for k in range(7))
    for segments, match in (((), "1..6"), (seven, "1..6"),
                            ((SemSegment(5e6, 1e6, -20, -20, 1e5),), "start_offset_hz"),
                            ((good, SemSegment(1e6, 1e6, -20, -20, 1e5)), "segment 1"),
                            ((SemSegment(0, 1e6, -20, -20, 0.0),), "measurement_bandwidth")):
        with pytest.raises(ValueError, match=match):
            sa.measure_sem(FC, 20e6, segments, 0.0)
    with pytest.raises(ValueError, match="channel_bandwidth_hz"):
        sa.measure_sem(FC, 0.0, (good,), 0.0)
    assert len(sa.session.traffic) == sent


def test_sem_rbw_divides_the_measurement_bandwidth() -> None:
    assert sem_rbw_hz(100e3) == (10e3, 10)
    assert sem_rbw_hz(1e6) == (100e3, 10)
    assert sem_rbw_hz(30e3) == (3e3, 10)
    assert sem_rbw_hz(50e3) == (10e3, 5)  # 5 kHz is not an X-series RBW (5.1 kHz is)
    assert sem_rbw_hz(123_457.0) == (123_457.0, 1)


def test_driver_rejects_wrong_result_counts(flat: KeysightXSeriesAnalyzer,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Instruments answering one value short (faults injected in the simulator)."""
    sa = flat
    monkeypatch.setattr(xs, "_harm_amplitudes", lambda acq: np.zeros(9))
    monkeypatch.setitem(xs._RESULTS_N, ("TOI", 2), lambda acq: np.zeros(12))
    monkeypatch.setitem(xs._RESULTS, "SEM", lambda acq: np.zeros(81))
    calls = ((lambda: sa.measure_harmonics(FC, 3, 0.0), ":FETC:HARM:AMPL:ALL?", 10),
             (lambda: sa.measure_toi(FC, 1e6, 0.0), ":FETC:TOI2?", 13),
             (lambda: sa.measure_sem(FC, 5e6, (SemSegment(0.1e6, 1e6, -20, -20, 100e3),),
                                     0.0), ":FETC:SEM?", 82))
    for call, command, count in calls:
        with pytest.raises(UnexpectedResponse) as info:
            call()
        assert info.value.command == command and f"{count} values" in str(info.value)
    assert "N9030B" in sa.session.query("*IDN?")  # still in step


def test_driver_toi_without_two_tones_is_refused(flat: KeysightXSeriesAnalyzer) -> None:
    """No signal: the instrument's "base tones" are noise peaks, not the tones asked for."""
    with pytest.raises(UnexpectedResponse, match="base tones"):
        flat.measure_toi(FC, 1e6, 0.0)


# -- driver on the simulated PA bench ------------------------------------------------------------

@pytest.fixture(scope="module")
def pa() -> Iterator[Bench]:
    """The built-in simulated bench (Keysight instruments, n78 PA) with the supply on."""
    yield from started_bench(bench_config())


def test_harmonics_equal_the_pa_model(pa: Bench) -> None:
    """CW at 3.55 GHz, +2 dBm from the generator (0.44 dBm at the PA): H2 and H3 at the DUT
    plane = the reading + (loss at n*f - loss at f) = `harmonics_dbc` within 0.5 dB."""
    pa.power_up(2.0)
    pin = 2.0 - loss_db("signal_generator", F0)
    dut = pa.sim.bench.dut
    assert dut is not None
    r = pa.sa.measure_harmonics(F0, 3, reference_level_dbm=0.0)
    expected = dut.harmonics_dbc(pin, F0, SUPPLY_V)
    dut_plane = [dbc + loss_db("signal_analyzer", n * F0) - loss_db("signal_analyzer", F0)
                 for n, dbc in enumerate(r.harmonics_dbc, start=2)]
    assert dut_plane == pytest.approx(expected, abs=0.5)
    pout = dut.output_power_dbm(pin, F0, SUPPLY_V)
    assert r.fundamental_dbm == pytest.approx(pout - loss_db("signal_analyzer", F0), abs=0.3)
    assert r.fundamental_hz == F0 and r.settings["harmonics"] == 3
    assert r.settings["detector"] == "rms" and r.settings["measurement"] == "HARM"
    pa.sa.single_sweep()  # back to the Swept SA with its own settings
    assert pa.sa.session.query(":CONF?") == "SAN"
    pa.gen.set_rf_output(False)


def test_toi_equals_the_pa_model(pa: Bench) -> None:
    """Two tones 10 MHz apart at -8 dBm each at the PA input (IM3 about -48 dBc, far above the
    analyzer's noise): each side's intercept at the DUT plane equals the model's
    P_tone + (P_tone - P_IM3)/2 within 0.5 dB."""
    spacing, per_tone = 10e6, -8.0
    arb = two_tone_arb(spacing)
    pa.power_up(per_tone + PER_TONE_DB + loss_db("signal_generator", F0))
    pa.gen.load_arb_waveform("TOI", arb.iq, arb.sample_rate_hz)
    pa.gen.play_arb_waveform("TOI", arb.sample_rate_hz)
    dut = pa.sim.bench.dut
    try:
        r = pa.sa.measure_toi(F0, spacing, reference_level_dbm=-5.0)
    finally:
        pa.gen.set_modulation(False)
        pa.gen.set_rf_output(False)
    model = model_two_tone(dut, per_tone, F0, spacing)
    for side, sign in (("lower", -1), ("upper", 1)):
        tone = getattr(r, f"{side}_tone_dbm") + loss_db("signal_analyzer", F0 + sign * spacing / 2)
        im3 = getattr(r, f"{side}_im3_dbm") + loss_db("signal_analyzer", F0 + sign * 1.5 * spacing)
        m_tone, m_im3 = model[f"tone_{side}"], model[f"im3_{side}"]
        assert tone == pytest.approx(m_tone, abs=0.3)
        assert tone + (tone - im3) / 2 == pytest.approx(m_tone + (m_tone - m_im3) / 2, abs=0.5)
        analyzer_tone = getattr(r, f"{side}_tone_dbm")
        assert getattr(r, f"{side}_toi_dbm") == pytest.approx(
            analyzer_tone + (analyzer_tone - getattr(r, f"{side}_im3_dbm")) / 2, abs=1e-3)
    assert r.settings["tone_spacing_hz"] == spacing and r.settings["span_hz"] == 5 * spacing
    assert r.settings["lower_im3_hz"] == pytest.approx(F0 - 1.5 * spacing, abs=0.2e6)


def obue_segments(tighten_db: float = 0.0) -> tuple[SemSegment, ...]:
    """TS 38.104 Category A OBUE rows with the DUT-plane limits moved to the analyzer input."""
    loss = loss_db("signal_analyzer", F0)
    return tuple(SemSegment(s.start_hz, s.stop_hz, s.limit_start_dbm - loss - tighten_db,
                            s.limit_stop_dbm - loss - tighten_db, s.mbw_hz)
                 for s in bs_obue_mask("A").segments)


def software_sem(pa: Bench, sem: SemResult, segments: tuple[SemSegment, ...]
                 ) -> dict[tuple[int, str], float]:
    """evaluate_sem on RMS traces of the same analyzer (RBW = MBW/10, points one RBW apart,
    32 averages: as many RMS samples per point as the SEM's 4 averages of 20), per segment
    and side."""
    out: dict[tuple[int, str], float] = {}
    for group in ([0, 1], [2]):
        mbw = segments[group[0]].measurement_bandwidth_hz
        rbw = mbw / 10
        span = 2 * (NR_BW_HZ / 2 + max(segments[k].stop_offset_hz for k in group) + mbw)
        pa.sa.configure_sweep(F0, span, rbw, points=int(span / rbw) + 1, detector="rms",
                              reference_level_dbm=float(sem.settings["reference_level_dbm"]),
                              attenuation_db=float(sem.settings["attenuation_db"]),
                              average_count=32)
        pa.sa.single_sweep()
        trace = pa.sa.fetch_trace()
        mask = SemMask("OBUE rows", tuple(
            MaskSegment(segments[k].start_offset_hz, segments[k].stop_offset_hz,
                        segments[k].start_limit_dbm, segments[k].stop_limit_dbm,
                        segments[k].measurement_bandwidth_hz) for k in group), "38.104")
        result = evaluate_sem(trace.frequency_hz, trace.power_dbm,
                              float(trace.settings["rbw_hz"]), F0, NR_BW_HZ, mask)
        assert result.complete
        for seg in result.segments:
            out[(group[seg.index], seg.side)] = seg.worst_margin_db
    return out


def test_sem_of_nr_passes_the_obue_mask_and_fails_it_tightened(pa: Bench) -> None:
    """20 MHz NR (TM3.1, x5 oversampled) at -3 dBm from the generator: passes TS 38.104
    Category A OBUE; 60 dB tighter it fails by the same margins - 60 dB, worst in the 1 MHz
    row at its inner end (10.5 MHz beyond the channel edge: the PA's regrowth falls away from
    the channel and the 1 MHz row integrates 10x the 100 kHz rows' bandwidth for a limit only
    1 dB higher). The margins equal evaluate_sem's on traces of the same analyzer (0.5 dB)."""
    wave = generate_nr(20, 30, "NR-FR1-TM3.1", n_slots=1, seed=3, oversampling=5)
    pa.power_up(-20.0)
    pa.gen.load_arb_waveform("NR20", wave.iq, wave.sample_rate_hz)
    pa.gen.play_arb_waveform("NR20", wave.sample_rate_hz)
    pa.gen.set_power_dbm(-3.0)
    try:
        chp = pa.sa.measure_channel_power(F0, NR_BW_HZ, 30e6, -5.0, average_count=2)
        sem = pa.sa.measure_sem(F0, NR_BW_HZ, obue_segments(), reference_level_dbm=-5.0)
        tight = pa.sa.measure_sem(F0, NR_BW_HZ, obue_segments(60.0), reference_level_dbm=-5.0)
        software = software_sem(pa, sem, obue_segments())
    finally:
        pa.gen.set_modulation(False)
        pa.gen.set_rf_output(False)
    assert sem.carrier_power_dbm == pytest.approx(chp, abs=0.3)
    assert 10.0 < sem.worst_margin_db < 40.0
    for side in ("lower", "upper"):
        passing = np.array(getattr(sem, f"{side}_margin_db"))
        assert getattr(tight, f"{side}_margin_db") == pytest.approx(passing - 60.0, abs=0.5)
        for k, f_hz in enumerate(getattr(tight, f"{side}_frequency_hz")):
            seg = obue_segments()[k]  # each peak lies in its segment, on its side
            offset = (f_hz - F0) * (1 if side == "upper" else -1) - NR_BW_HZ / 2
            assert seg.start_offset_hz - 1e3 <= offset <= seg.stop_offset_hz + 1e3
            assert software[(k, side)] == pytest.approx(passing[k], abs=0.5)
    assert tight.worst_margin_db < -20.0
    worst = min((m, f) for side in ("lower", "upper") for m, f in
                zip(getattr(tight, f"{side}_margin_db"), getattr(tight, f"{side}_frequency_hz"),
                    strict=True))
    assert abs(worst[1] - F0) - NR_BW_HZ / 2 == pytest.approx(10.5e6, abs=0.3e6)
    assert sem.settings["offset_rbw_hz"] == "10000,10000,100000"
    assert sem.settings["average_count"] == 4
