"""The simulated R&S FSW's harmonic distortion, TOI and spectrum emission mask, and the driver's
measure_harmonics / measure_toi / measure_sem, over real loopback sockets (pyvisa-py).

SCPI tests use the flat 20 dB bench of test_rs_fsw with tones of known level at the analyzer.
Bench tests use the built-in R&S bench (SMW200A -> n78 PA -> FSW26, its path-loss tables) and
compare with the PA model: H_n in closed form (`PowerAmplifier.harmonics_dbc`, DUT plane =
analyzer reading + path loss at n*f), the two-tone response by the model's own envelope
(`model_two_tone` of test_harmonics_two_tone), and the SEM with `benchbot.analysis.sem` on a
trace from the same analyzer. A 20 MHz NR carrier oversampled x5 (153.6 MS/s, within the ARB
clock) leaves room for the whole 40 MHz OBUE mask on both sides.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pyvisa.resources import MessageBasedResource

from benchbot.analysis.sem import SemMask, bs_obue_mask, evaluate_sem
from benchbot.measurements.two_tone import two_tone_arb
from benchbot.waveforms import generate_nr
from instruments.errors import UnexpectedResponse
from instruments.interfaces import SemSegment, SignalGenerator
from instruments.registry import connect
from instruments.rohde_schwarz.fsw import RohdeSchwarzFSW
from simulators import SimulatedBench, config_from_bench_file
from simulators import rs_fsw_measurements as rfm
from simulators.bench import VirtualBench
from simulators.signals import Tone
from tests._visa import errors, raw_instrument
from tests.test_harmonics_two_tone import SUPPLY_V, model_two_tone
from tests.test_rs_fsw import F0, config

RS_BENCH: dict[str, Any] = yaml.safe_load(
    (Path(__file__).parents[1] / "benchbot" / "benches" / "simulated-rs.yaml").read_text())
NR_BW_HZ = 20e6

Sim = tuple[VirtualBench, MessageBasedResource, RohdeSchwarzFSW]


@pytest.fixture
def sim() -> Iterator[Sim]:
    """The flat 20 dB bench: raw pyvisa and the driver on the same FSW."""
    with (SimulatedBench(config()) as simbench,
          raw_instrument(simbench.resources["signal_analyzer"], 10000) as inst):
        fsw = connect("rs.fsw", simbench.resources["signal_analyzer"])
        assert isinstance(fsw, RohdeSchwarzFSW)
        try:
            yield simbench.bench, inst, fsw
        finally:
            fsw.close()


def numbers(inst: MessageBasedResource, query: str) -> list[float]:
    return [float(v) for v in inst.query(query).split(",")]


# -- SCPI: harmonics and TOI -----------------------------------------------------------------

def test_harmonics_list_thd_and_exclusive_measurements(
        sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    bench, inst, _ = sim
    tones = [Tone(F0, -10.0), Tone(2 * F0, -40.0), Tone(3 * F0, -55.0)]
    monkeypatch.setattr(bench, "tones_at", lambda role: tones)
    assert inst.query("CALC:MARK:FUNC:HARM:NHAR?") == "10"  # *RST [verify]
    inst.write("INIT:CONT OFF;:FREQ:CENT 3.55 GHz;SPAN 100 kHz;:BAND 10 kHz;:DET RMS")
    inst.write("CALC:MARK:FUNC:HARM:NHAR 4;:CALC:MARK:FUNC:HARM ON")
    assert inst.query("INIT:IMM;*OPC?") == "1"
    fundamental, h2, h3, h4 = numbers(inst, "CALC:MARK:FUNC:HARM:LIST?")
    assert fundamental == pytest.approx(-10.0, abs=0.1)
    assert (h2, h3) == (pytest.approx(-30.0, abs=0.1), pytest.approx(-45.0, abs=0.1))
    assert h4 < -75.0  # analyzer noise only (40 kHz RBW at 14.2 GHz: about -93 dBm)
    pct, db = numbers(inst, "CALC:MARK:FUNC:HARM:DIST? TOT")
    ratio = 10 ** (h2 / 10) + 10 ** (h3 / 10) + 10 ** (h4 / 10)
    assert (pct, db) == (pytest.approx(100 * math.sqrt(ratio), rel=1e-6),
                         pytest.approx(10 * math.log10(ratio), abs=1e-6))
    inst.write("CALC:MARK:FUNC:POW:SEL CPOW")  # another measurement switches harmonics off
    assert inst.query("CALC:MARK:FUNC:HARM?") == "0"
    inst.write("CALC:MARK:FUNC:HARM:LIST?")
    inst.write("CALC:MARK:FUNC:HARM:NHAR 27")
    assert errors(inst) == [-221, -222]


def test_toi_markers_and_result(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tones at F0 -/+ 5 MHz (-20 dBm), IM3 at -/+ 15 MHz (-70 / -74 dBm): TOI = -20 + 50/2 on
    the lower side, -20 + 54/2 on the upper; the instrument reports the lower (5 dBm)."""
    bench, inst, _ = sim
    tones = [Tone(F0 - 5e6, -20.0), Tone(F0 + 5e6, -20.0), Tone(F0 - 15e6, -70.0),
             Tone(F0 + 15e6, -74.0)]
    monkeypatch.setattr(bench, "tones_at", lambda role: tones)
    inst.write("INIT:CONT OFF;:FREQ:CENT 3.55 GHz;SPAN 50 MHz;:BAND 30 kHz;:SWE:POIN 10001;"
               ":DET RMS;:CALC:MARK:FUNC:TOI ON")
    assert inst.query("INIT:IMM;*OPC?") == "1"
    assert float(inst.query("CALC:MARK:FUNC:TOI:RES?")) == pytest.approx(5.0, abs=0.1)
    assert float(inst.query("CALC:MARK1:X?")) == pytest.approx(F0 - 5e6, abs=5e3)
    assert float(inst.query("CALC:MARK2:Y?")) == pytest.approx(-20.0, abs=0.1)
    assert float(inst.query("CALC:DELT3:X?")) == pytest.approx(F0 - 15e6, abs=5e3)
    assert float(inst.query("CALC:DELT4:X:REL?")) == pytest.approx(20e6, abs=10e3)
    assert inst.query("CALC:DELT4:MREF?") == "1"
    assert float(inst.query("CALC:DELT3:Y?")) == pytest.approx(-50.0, abs=0.1)
    inst.write("CALC:DELT4:MREF 2")
    assert float(inst.query("CALC:DELT4:Y?")) == pytest.approx(-54.0, abs=0.1)
    assert errors(inst) == []


# -- SCPI: SEM sweep list, result list, timing ------------------------------------------------

def test_sem_sweep_list_editing_rules(sim: Sim) -> None:
    _, inst, _ = sim
    inst.write("SWE:MODE ESP")
    assert inst.query("ESP:RANG:COUN?") == "5" and inst.query("ESP:RRAN?") == "3"
    inst.write("ESP:RANG1:INS BEF;:ESP:RANG6:INS AFT")
    assert inst.query("ESP:RANG:COUN?") == "7" and inst.query("ESP:RRAN?") == "4"
    assert float(inst.query("ESP:RANG1:STOP?")) == float(inst.query("ESP:RANG2:STAR?"))
    inst.write("ESP:RANG4:DEL")  # the reference range
    inst.write("ESP:RANG1:DEL;:ESP:RANG1:DEL;:ESP:RANG5:DEL;:ESP:RANG4:DEL")  # 7 -> 3
    inst.write("ESP:RANG3:DEL")  # at least 3 ranges
    assert errors(inst) == [-221, -221]
    assert inst.query("ESP:RANG:COUN?") == "3" and inst.query("ESP:RRAN?") == "2"
    inst.write("ESP:RANG1:STOP 1 MHz")  # overlaps the reference range: refused at the sweep
    inst.write("INIT:CONT OFF;:INIT:IMM")
    inst.write("ESP:RANG1:FILT:TYPE RRC")
    inst.write("ESP:RANG1:LIM2:ABS:STAR -20")  # power classes beyond 1 are not simulated
    assert errors(inst) == [-221, -221, -221]
    inst.write("ESP:RANG1:FILT:TYPE CFIL;:ESP:RANG1:BAND:RES 120 kHz")
    assert float(inst.query("ESP:RANG1:BAND:RES?")) == 100e3  # nearest channel filter
    inst.write("SWE:MODE AUTO")
    assert inst.query("SWE:MODE?") == "AUTO" and errors(inst) == []


def test_sem_list_layout_with_a_spur(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Carrier -20 dBm at F0, spur -60 dBm at F0 + 6 MHz inside range 5 (a 1 MHz channel
    filter with a -70 dBm limit): that range fails with delta +10 dB at the spur; the sweep
    takes the sum of the ranges' sweep times."""
    bench, inst, _ = sim
    monkeypatch.setattr(bench, "tones_at", lambda role: [Tone(F0, -20.0),
                                                         Tone(F0 + 6e6, -60.0)])
    inst.write("INIT:CONT OFF;:FREQ:CENT 3.55 GHz;:SWE:MODE ESP;:SWE:POIN 2001")
    inst.write("ESP:RANG5:FILT:TYPE CFIL;:ESP:RANG5:BAND:RES 1 MHz;"
               ":ESP:RANG5:LIM1:ABS:STAR -70;STOP -70")
    for k in range(1, 6):
        inst.write(f"ESP:RANG{k}:SWE:TIME 1 s")  # 5 s simulated, 0.1 s here
    assert inst.query("INIT:IMM;*OPC?") == "1"
    rows = np.array(numbers(inst, "TRAC:DATA? LIST")).reshape(-1, rfm.SEM_LIST_VALUES)
    assert rows.shape == (5, 11) and list(rows[:, 0]) == [1, 2, 3, 4, 5]
    np.testing.assert_allclose(rows[:, 1:3], F0 + np.array(
        [[-12.75e6, -4e6], [-4e6, -2.52e6], [-2.52e6, 2.52e6], [2.52e6, 4e6], [4e6, 12.75e6]]))
    number, start, stop, rbw, freq, power, rel, delta, check, *unused = rows[4]
    assert rbw == 1e6 and abs(freq - (F0 + 6e6)) <= 0.5e6
    assert power == pytest.approx(-60.0, abs=0.2) and rel == pytest.approx(-40.0, abs=0.3)
    assert delta == pytest.approx(10.0, abs=0.2) and check == 1 and unused == [0, 0]
    assert rows[2, 5] - rows[2, 6] == pytest.approx(-20.0, abs=0.2)  # TX channel power
    assert list(rows[[0, 1, 3], 8]) == [0, 0, 0] and inst.query("CALC:LIM:FAIL?") == "1"
    x = inst.query_ascii_values("TRAC:X? TRACE1", container=np.array)
    y = inst.query_ascii_values("TRAC? TRACE1", container=np.array)
    assert x.size == y.size >= 2001 and np.all(np.diff(x) >= 0)
    assert float(y[np.argmin(np.abs(x - F0 - 6e6))]) == pytest.approx(-60.0, abs=0.2)
    t0 = time.perf_counter()
    assert inst.query("INIT:IMM;*OPC?") == "1"
    assert 0.09 <= time.perf_counter() - t0 < 1.0
    assert errors(inst) == []


# -- driver: refusals and strict parsing ------------------------------------------------------

def test_driver_refuses_bad_arguments_before_sending(sim: Sim) -> None:
    _, _, fsw = sim
    sent = len(fsw.session.traffic)
    seg = SemSegment(0.05e6, 5.05e6, -7.0, -14.0, 100e3)
    bad_calls: list[tuple[Any, ...]] = [
        (fsw.measure_harmonics, F0, 1, 0.0), (fsw.measure_harmonics, F0, 11, 0.0),
        (fsw.measure_harmonics, F0, 2.5, 0.0), (fsw.measure_harmonics, 0.0, 3, 0.0),
        (fsw.measure_toi, F0, 0.0, 0.0), (fsw.measure_toi, F0, -1e6, 0.0),
        (fsw.measure_sem, F0, 20e6, (), 0.0),
        (fsw.measure_sem, F0, 20e6, (seg,) * 15, 0.0),
        (fsw.measure_sem, F0, 20e6, (seg, replace(seg, start_offset_hz=5e6, stop_offset_hz=9e6)),
         0.0),  # overlapping segments
        (fsw.measure_sem, F0, 20e6, (replace(seg, measurement_bandwidth_hz=250e3),), 0.0),
        (fsw.measure_sem, F0, 20e6, (replace(seg, start_offset_hz=-1e3),), 0.0),
        (fsw.measure_sem, F0, 0.0, (seg,), 0.0),
        (fsw.measure_sem, F0, 20e6, (replace(seg, stop_limit_dbm=math.nan),), 0.0),
    ]
    for call, *args in bad_calls:
        with pytest.raises(ValueError):
            call(*args)
    assert len(fsw.session.traffic) == sent


def test_driver_rejects_a_wrong_result_count(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """An instrument answering two harmonic levels for three (fault injected in the simulator)."""
    _, _, fsw = sim
    monkeypatch.setattr(rfm.HarmonicsOutcome, "list_values", lambda self: [-10.0, -30.0])
    with pytest.raises(UnexpectedResponse) as info:
        fsw.measure_harmonics(F0, 3, 0.0)
    assert info.value.command == "CALC:MARK:FUNC:HARM:LIST?"
    assert "FSW" in fsw.session.query("*IDN?")  # still in step


def test_driver_sem_of_a_spur_then_back_to_a_plain_sweep(
        sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments out of offset order; a -60 dBm spur 3 MHz beyond the upper channel edge sits in
    the upper range of segment 1 (MBW 100 kHz); everything else is analyzer noise."""
    bench, inst, fsw = sim
    monkeypatch.setattr(bench, "tones_at", lambda role: [Tone(F0, -20.0),
                                                         Tone(F0 + 5e6 + 3e6, -60.0)])
    segments = (SemSegment(1.05e6, 9.5e6, -50.0, -50.0, 1e6),
                SemSegment(0.05e6, 1.0e6, -60.0, -70.0, 100e3))
    r = fsw.measure_sem(F0, 10e6, segments, reference_level_dbm=-10.0)
    assert r.carrier_power_dbm == pytest.approx(-20.0, abs=0.2)
    assert r.upper_margin_db[0] == pytest.approx(10.0, abs=0.2)
    assert r.upper_frequency_hz[0] == pytest.approx(F0 + 8e6, abs=0.5e6)
    assert min(r.lower_margin_db[0], r.lower_margin_db[1], r.upper_margin_db[1]) > 20.0
    assert F0 - 6e6 <= r.lower_frequency_hz[1] <= F0 - 5.05e6
    assert r.settings["limit_check"] == "PASS" and r.settings["sem_ranges"] == 5
    assert r.settings["segment1_rbw_hz"] == 100e3 and r.worst_margin_db == min(
        *r.lower_margin_db, *r.upper_margin_db)
    assert inst.query("SWE:MODE?") == "AUTO"
    fsw.single_sweep()  # no configure_sweep: an ordinary trace of the channel's settings
    trace = fsw.fetch_trace()
    assert trace.settings["center_hz"] == F0 and trace.power_dbm.size == trace.settings["points"]
    fsw.configure_sweep(F0, 10e6, 100e3, reference_level_dbm=-10.0)
    fsw.single_sweep()
    assert float(fsw.fetch_trace().power_dbm.max()) == pytest.approx(-20.0, abs=0.3)


# -- the R&S bench: PA model and software evaluation ------------------------------------------

class RsBench:
    """The built-in R&S bench, PA powered (5 V), SMW200A and FSW26 drivers."""

    def __init__(self, sim: SimulatedBench) -> None:
        self.bench = sim.bench
        with self.bench.lock:
            supply = self.bench.supply
            supply.outputs[1], supply.voltage_set[1], supply.current_limit[1] = True, SUPPLY_V, 2.0
        gen = connect("rs.smw200a", sim.resources["signal_generator"])
        fsw = connect("rs.fsw", sim.resources["signal_analyzer"])
        assert isinstance(gen, SignalGenerator) and isinstance(fsw, RohdeSchwarzFSW)
        self.gen, self.fsw = gen, fsw

    @staticmethod
    def loss_db(role: str, frequency_hz: float) -> float:
        table = RS_BENCH["instruments"][role]["path_loss"]
        return float(np.interp(frequency_hz, table["frequency_hz"], table["loss_db"]))

    def drive(self, dut_input_dbm: float) -> None:
        """Generator level for `dut_input_dbm` (RMS) at the DUT input, RF on at F0."""
        self.gen.set_frequency_hz(F0)
        self.gen.set_power_dbm(dut_input_dbm + self.loss_db("signal_generator", F0))
        self.gen.set_rf_output(True)


@pytest.fixture(scope="module")
def rs() -> Iterator[RsBench]:
    with SimulatedBench(config_from_bench_file(RS_BENCH)) as sim:
        bench = RsBench(sim)
        try:
            yield bench
        finally:
            bench.gen.close()
            bench.fsw.close()


def test_harmonics_equal_the_pa_model(rs: RsBench) -> None:
    """CW at 3 dBm into the PA (2 dB below its Rapp knee): H2 -27, H3 -39 dBc at the DUT."""
    rs.gen.set_modulation(False)
    rs.drive(3.0)
    r = rs.fsw.measure_harmonics(F0, 3, reference_level_dbm=0.0)
    expected = rs.bench.dut.harmonics_dbc(3.0, F0, SUPPLY_V)
    loss = rs.loss_db("signal_analyzer", F0)
    dut_dbc = [r.harmonics_dbc[n - 2] + rs.loss_db("signal_analyzer", n * F0) - loss
               for n in (2, 3)]
    assert dut_dbc == pytest.approx(expected, abs=0.5)
    pout = rs.bench.dut.output_power_dbm(3.0, F0, SUPPLY_V)
    assert r.fundamental_dbm + loss == pytest.approx(pout, abs=0.3)
    assert r.settings["measurement"] == "HARM" and r.settings["harmonics"] == 3
    assert float(r.settings["thd_db"]) == pytest.approx(10 * math.log10(sum(
        10 ** (h / 10) for h in r.harmonics_dbc)), abs=0.01)


def test_toi_equals_the_pa_model(rs: RsBench) -> None:
    """Two tones 10 MHz apart at -6 dBm each into the PA (ARB: per tone + 3.01 dB RMS)."""
    arb = two_tone_arb(10e6)
    rs.gen.load_arb_waveform("toi", arb.iq, arb.sample_rate_hz)
    rs.gen.play_arb_waveform("toi", arb.sample_rate_hz)
    rs.drive(-6.0 - arb.per_tone_power_db)
    r = rs.fsw.measure_toi(F0, 10e6, reference_level_dbm=0.0)
    model = model_two_tone(rs.bench.dut, -6.0, F0, 10e6)
    loss = rs.loss_db("signal_analyzer", F0)
    for side in ("lower", "upper"):
        tone, im3 = model[f"tone_{side}"], model[f"im3_{side}"]
        assert getattr(r, f"{side}_toi_dbm") + loss == pytest.approx(
            tone + (tone - im3) / 2, abs=0.5)
        assert getattr(r, f"{side}_tone_dbm") + loss == pytest.approx(tone, abs=0.3)
    assert r.settings["instrument_toi_dbm"] == pytest.approx(
        min(r.lower_toi_dbm, r.upper_toi_dbm), abs=1e-6)
    assert r.settings["lower_im3_hz"] == pytest.approx(F0 - 15e6, abs=20e3)


def _at_analyzer(mask: SemMask, offset_db: float) -> SemMask:
    """The mask referred to the analyzer input (limits - path loss) and shifted."""
    return replace(mask, segments=tuple(
        replace(s, limit_start_dbm=s.limit_start_dbm + offset_db,
                limit_stop_dbm=s.limit_stop_dbm + offset_db) for s in mask.segments))


def _segments(mask: SemMask) -> tuple[SemSegment, ...]:
    return tuple(SemSegment(s.start_hz, s.stop_hz, s.limit_start_dbm, s.limit_stop_dbm,
                            s.mbw_hz) for s in mask.segments)


def test_sem_of_nr_passes_the_obue_mask_and_matches_the_software_evaluation(
        rs: RsBench) -> None:
    """20 MHz NR (TM3.1, x5) at -8 dBm into the PA: inside the BS Category A OBUE mask; 60 dB
    tighter it fails where the software evaluation of an averaged RMS trace from the same FSW
    finds the worst point; every margin agrees with that evaluation within 0.5 dB."""
    wave = generate_nr(20, 30, "NR-FR1-TM3.1", n_slots=1, seed=3, oversampling=5)
    rs.gen.load_arb_waveform("nr20", wave.iq, wave.sample_rate_hz)
    rs.gen.play_arb_waveform("nr20", wave.sample_rate_hz)
    rs.drive(-8.0)
    mask = _at_analyzer(bs_obue_mask("A"), -rs.loss_db("signal_analyzer", F0))
    ok = rs.fsw.measure_sem(F0, NR_BW_HZ, _segments(mask), reference_level_dbm=0.0)
    assert ok.worst_margin_db > 10.0 and ok.settings["limit_check"] == "PASS"
    tight = rs.fsw.measure_sem(F0, NR_BW_HZ, _segments(_at_analyzer(mask, -60.0)), 0.0)
    assert tight.worst_margin_db < -10.0 and tight.settings["limit_check"] == "FAIL"
    np.testing.assert_allclose(tight.lower_margin_db, np.array(ok.lower_margin_db) - 60.0,
                               atol=0.6)  # another sweep: noise only

    half_span = (NR_BW_HZ / 2 + mask.max_offset_hz) * 1.02
    rs.fsw.configure_sweep(F0, 2 * half_span, 30e3, points=int(2 * half_span / 10e3) + 1,
                           reference_level_dbm=0.0,
                           attenuation_db=float(ok.settings["attenuation_db"]),
                           average_count=100)
    rs.fsw.single_sweep()
    trace = rs.fsw.fetch_trace()
    software = evaluate_sem(trace.frequency_hz, trace.power_dbm, float(trace.settings["rbw_hz"]),
                            F0, NR_BW_HZ, mask)
    assert software.complete
    for seg in software.segments:
        margins = ok.lower_margin_db if seg.side == "lower" else ok.upper_margin_db
        assert margins[seg.index] == pytest.approx(seg.worst_margin_db, abs=0.5), seg.segment

    worst = software.worst
    assert worst is not None
    side = tight.lower_margin_db if worst.side == "lower" else tight.upper_margin_db
    freqs = tight.lower_frequency_hz if worst.side == "lower" else tight.upper_frequency_hz
    assert side[worst.index] == pytest.approx(tight.worst_margin_db, abs=0.3)
    assert freqs[worst.index] == pytest.approx(worst.worst_frequency_hz,
                                               abs=worst.segment.mbw_hz)
    chp = rs.fsw.measure_channel_power(F0, NR_BW_HZ, 1.5 * NR_BW_HZ, 0.0, average_count=4)
    assert ok.carrier_power_dbm == pytest.approx(chp, abs=0.3)
