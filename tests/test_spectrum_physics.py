"""Physics of the simulated X-series analyzer (simulators/spectrum.py), without sockets.

Expected values come from spectrum-analyzer theory (rf-measurements-and-scpi.md §3.3): a tone on a
display point reads its power with the peak detector; RMS noise in an RBW is DANL + 2.51 dB +
10*log10(RBW) + attenuation; log averaging reads noise 2.51 dB low; power averaging of N readings
leaves a 4.34/sqrt(N) dB spread.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from simulators import spectrum as sp
from simulators.signals import Tone

PXA = sp.MODELS["N9030B"]
MXA = sp.MODELS["N9020B"]


def sweep(tones: list[Tone], seed: int = 1, model: sp.AnalyzerModel = PXA,
          **kw: object) -> sp.SweepResult:
    base: dict[str, object] = dict(start_hz=3.45e9, stop_hz=3.65e9, points=1001, rbw_hz=1e6,
                                   vbw_hz=1e6, detector="POS", average_type="LOG")
    base.update(kw)
    return sp.synthesize_sweep(tones, sp.SweepSettings(**base), model,  # type: ignore[arg-type]
                               np.random.default_rng(seed))


def rms_noise_dbm(model: sp.AnalyzerModel, f: float, rbw: float, atten: float) -> float:
    return float(sp.danl_dbm_hz(model, f)) + sp.LOG_AVERAGE_BIAS_DB + 10 * math.log10(rbw) + atten


@pytest.mark.parametrize("detector", ["POS", "SAMP", "NORM"])
def test_tone_on_a_point_reads_its_power(detector: str) -> None:
    f0 = 3.55e9  # on point 500 of 3.45..3.65 GHz / 1001 points
    r = sweep([Tone(f0, -23.4)], detector=detector)
    i = int(np.argmax(r.power_dbm))
    assert r.frequency_hz[i] == pytest.approx(f0)
    assert r.power_dbm[i] == pytest.approx(-23.4, abs=0.1)


def test_amplitude_offset_is_applied() -> None:
    r = sp.synthesize_sweep([Tone(3.55e9, -20.0)], sp.SweepSettings(3.45e9, 3.65e9, rbw_hz=1e6,
                            vbw_hz=1e6, detector="POS"), PXA, np.random.default_rng(3),
                            amplitude_offset_db=0.08, amplitude_jitter_db=0.0)
    assert r.power_dbm.max() == pytest.approx(-19.92, abs=1e-6)


@pytest.mark.parametrize("rbw", [10e3, 100e3, 1e6])
def test_noise_floor_level_and_rbw_slope(rbw: float) -> None:
    r = sweep([], rbw_hz=rbw, vbw_hz=rbw, detector="AVER", average_type="RMS",
              average_count=50, attenuation_db=10.0)
    expected = rms_noise_dbm(PXA, 3.55e9, rbw, 10.0)
    assert float(np.mean(r.power_dbm)) == pytest.approx(expected, abs=0.2)


def test_noise_floor_10_db_per_decade_of_rbw() -> None:
    levels = [float(np.mean(sweep([], rbw_hz=b, vbw_hz=b, detector="AVER", average_type="RMS",
                                  average_count=20).power_dbm)) for b in (3e3, 30e3, 300e3)]
    assert np.diff(levels) == pytest.approx([10.0, 10.0], abs=0.2)


def test_noise_floor_rises_1_db_per_db_of_attenuation() -> None:
    levels = [float(np.mean(sweep([], detector="AVER", average_type="RMS", average_count=20,
                                  attenuation_db=a).power_dbm)) for a in (6.0, 16.0, 36.0)]
    assert np.diff(levels) == pytest.approx([10.0, 20.0], abs=0.15)


def test_preamp_lowers_the_noise_floor_and_mxa_is_noisier() -> None:
    def floor(model: sp.AnalyzerModel, preamp: bool) -> float:
        r = sweep([], model=model, detector="AVER", average_type="RMS", average_count=20,
                  preamp=preamp)
        return float(np.mean(r.power_dbm))

    assert floor(PXA, False) - floor(PXA, True) == pytest.approx(11.0, abs=0.3)
    assert floor(MXA, False) - floor(PXA, False) == pytest.approx(3.0, abs=0.3)


def test_log_average_reads_noise_2_51_db_below_rms() -> None:
    kw = dict(detector="SAMP", average_count=200, rbw_hz=1e6, vbw_hz=1e6)
    rms = float(np.mean(sweep([], average_type="RMS", **kw).power_dbm))  # type: ignore[arg-type]
    log = float(np.mean(sweep([], average_type="LOG", **kw).power_dbm))  # type: ignore[arg-type]
    volt = float(np.mean(sweep([], average_type="SCAL", **kw).power_dbm))  # type: ignore[arg-type]
    assert rms - log == pytest.approx(2.507, abs=0.1)
    assert rms - volt == pytest.approx(1.049, abs=0.1)


def test_log_average_does_not_bias_a_strong_tone() -> None:
    r = sweep([Tone(3.55e9, -30.0)], detector="SAMP", average_type="LOG", average_count=20)
    assert r.power_dbm.max() == pytest.approx(-30.0, abs=0.1)


@pytest.mark.parametrize("k", [1, 16, 100])
def test_rms_averaged_noise_spread_shrinks_as_4_34_over_sqrt_n(k: int) -> None:
    r = sweep([], detector="SAMP", average_type="RMS", average_count=k)
    expected = 5.57 if k == 1 else 4.343 / math.sqrt(k)  # one sample: log of an exponential
    assert float(np.std(r.power_dbm)) == pytest.approx(expected, rel=0.15)


def test_many_averages_use_the_clt_shortcut_and_keep_statistics() -> None:
    r = sweep([], points=100_001, detector="AVER", average_type="RMS", average_count=1000,
              rbw_hz=100e3, vbw_hz=100e3)
    # one power sample per 2 kHz bucket (M = 1), so the spread is that of 1000 averages
    assert float(np.std(r.power_dbm)) == pytest.approx(4.343 / math.sqrt(1000), rel=0.1)
    expected = rms_noise_dbm(PXA, 3.55e9, 100e3, 10.0)
    assert float(np.mean(r.power_dbm)) == pytest.approx(expected, abs=0.1)


def test_sample_detector_scallops_peak_detector_does_not() -> None:
    # 101 points over 100 MHz: 1 MHz buckets, RBW 100 kHz; tone midway between two points
    kw = dict(start_hz=3.5e9, stop_hz=3.6e9, points=101, rbw_hz=100e3, vbw_hz=100e3)
    tone = [Tone(3.5505e9, -20.0)]
    peak = sweep(tone, detector="POS", **kw)  # type: ignore[arg-type]
    samp = sweep(tone, detector="SAMP", **kw)  # type: ignore[arg-type]
    aver = sweep([Tone(3.55e9, -20.0)], detector="AVER", average_type="RMS",
                 **kw)  # type: ignore[arg-type]
    assert peak.power_dbm.max() == pytest.approx(-20.0, abs=0.1)
    assert samp.power_dbm.max() < -60.0  # missed: 500 kHz = 5 RBW from either point
    # the RMS (average) detector spreads a tone's power (integral = ENBW) over its 1 MHz bucket
    enbw_fraction = 10 * math.log10(sp.ENBW_RATIO * 100e3 / 1e6)
    assert aver.power_dbm.max() == pytest.approx(-20.0 + enbw_fraction, abs=0.2)


def test_negative_peak_and_normal_detector_on_noise() -> None:
    # 2 s sweep: t_bucket*RBW = 60 independent noise samples per display point
    kw = dict(rbw_hz=30e3, vbw_hz=30e3, sweep_time_s=2.0)
    pos = sweep([], detector="POS", **kw)  # type: ignore[arg-type]
    neg = sweep([], detector="NEG", **kw)  # type: ignore[arg-type]
    norm = sweep([], detector="NORM", **kw)  # type: ignore[arg-type]
    rms = rms_noise_dbm(PXA, 3.55e9, 30e3, 10.0)
    # median of the max of 60 exponentials: -ln(1 - 0.5**(1/60)) = 4.45 -> +6.5 dB
    assert np.median(pos.power_dbm) - rms == pytest.approx(6.5, abs=0.3)
    # median of the min of 60: ln(2)/60 -> -19.4 dB
    assert np.median(neg.power_dbm) - rms == pytest.approx(-19.4, abs=0.8)
    even, odd = norm.power_dbm[0::2], norm.power_dbm[1::2]
    assert np.median(even) - np.median(odd) > 20.0  # Rosenfell alternates max/min on noise


def test_mixer_overload_compresses_and_flags() -> None:
    ok = sweep([Tone(3.55e9, 8.0)], attenuation_db=10.0, reference_level_dbm=10.0)
    hot = sweep([Tone(3.55e9, 14.0)], attenuation_db=10.0, reference_level_dbm=20.0)
    assert not ok.input_overload and ok.compression_db < 0.1
    assert hot.input_overload and hot.mixer_level_dbm == pytest.approx(4.0)
    assert hot.compression_db == pytest.approx(1.0, abs=0.01)  # mixer at P1dB (+4 dBm)
    assert hot.power_dbm.max() == pytest.approx(13.0, abs=0.1)


def test_adc_over_range_flag() -> None:
    assert sweep([Tone(3.55e9, 7.0)], reference_level_dbm=0.0, attenuation_db=30.0).over_range
    assert not sweep([Tone(3.55e9, 5.0)], reference_level_dbm=0.0,
                     attenuation_db=30.0).over_range


def test_auto_couplings() -> None:
    assert len(sp.rbw_values()) == 160
    assert sp.auto_rbw(26.49e9) == 3e6  # auto limited to 3 MHz
    assert sp.auto_rbw(10e6) == pytest.approx(91e3)  # 10 MHz / 106 -> nearest RBW
    assert sp.snap_rbw(105.0) == pytest.approx(110.0)  # ties round up
    assert sp.auto_vbw(1e6, "AVER") == 1e5 and sp.auto_vbw(1e6, "POS") == 1e6
    assert sp.auto_attenuation(0.0) == 10.0
    assert sp.auto_attenuation(-50.0) == 6.0  # auto never below 6 dB
    assert sp.auto_attenuation(13.0) == 24.0  # 2 dB steps, rounded up
    t, kind = sp.sweep_time(100e6, 100e3, 100e3, "POS", 1001)
    assert kind == "SWE" and t == pytest.approx(2.5 * 100e6 / 100e3**2)
    assert sp.sweep_time(1e6, 1e6, 1e6, "POS", 1001) == (1e-3, "SWE")  # 1 ms minimum
    assert sp.sweep_time(10e3, 100.0, 100.0, "POS", 1001)[1] == "FFT"  # RBW <= 210 Hz


def test_next_peak_honours_peak_excursion() -> None:
    y = np.full(101, -90.0)
    y[20], y[60], y[80] = -10.0, -30.0, -87.0  # -87 is only 3 dB above the floor
    assert sp.next_peak_index(y, below=-10.0) == 60
    assert sp.next_peak_index(y, below=-30.0) == -1


def test_deterministic_for_a_seed() -> None:
    a = sweep([Tone(3.5e9, -40.0)], seed=7)
    b = sweep([Tone(3.5e9, -40.0)], seed=7)
    c = sweep([Tone(3.5e9, -40.0)], seed=8)
    assert np.array_equal(a.power_dbm, b.power_dbm)
    assert not np.array_equal(a.power_dbm, c.power_dbm)


def test_speed_1001_and_100001_points() -> None:
    tones = [Tone(3.55e9, -10.0), Tone(7.1e9, -40.0), Tone(10.65e9, -50.0)]
    rng = np.random.default_rng(0)
    s1 = sp.SweepSettings(1e9, 12e9, 1001, 3e6, 3e6, "POS")
    s2 = sp.SweepSettings(1e9, 12e9, 100_001, 3e6, 3e6, "AVER", "RMS", average_count=10)
    sp.synthesize_sweep(tones, s1, PXA, rng)  # warm up
    t0 = time.perf_counter()
    for _ in range(20):
        sp.synthesize_sweep(tones, s1, PXA, rng)
    per_1001 = (time.perf_counter() - t0) / 20
    t0 = time.perf_counter()
    r = sp.synthesize_sweep(tones, s2, PXA, rng)
    per_100k = time.perf_counter() - t0
    assert r.power_dbm.shape == (100_001,)
    assert per_1001 < 2e-3
    assert per_100k < 0.1


def test_iq_capture_scaling_phase_and_if_filter() -> None:
    fs, n = 10e6, 200_000
    tones = [Tone(3.55e9, -30.0, phase_rad=0.7), Tone(3.5501e9, -40.0, 0.0),
             Tone(3.56e9, 0.0)]  # the last is 10 MHz away: outside the 8 MHz IF filter
    x = sp.iq_capture(tones, 3.55e9, fs, n, np.random.default_rng(2), -200.0)
    total_w = float(np.mean(np.abs(x) ** 2)) / 50.0
    assert 10 * math.log10(total_w) + 30 == pytest.approx(10 * math.log10(1e-6 + 1e-7) + 30,
                                                           abs=0.01)
    # the tone at the centre is a constant phasor sqrt(P*50)*exp(j*phase)
    spectrum = np.fft.fft(x) / n
    assert abs(spectrum[0]) == pytest.approx(math.sqrt(1e-6 * 50), rel=1e-3)
    assert np.angle(spectrum[0]) == pytest.approx(0.7, abs=1e-3)
    k = int(round(100e3 / fs * n))  # +100 kHz tone
    assert abs(spectrum[k]) == pytest.approx(math.sqrt(1e-7 * 50), rel=1e-3)


def test_iq_noise_density() -> None:
    fs = 1e6
    x = sp.iq_capture([], 1e9, fs, 400_000, np.random.default_rng(4), -150.0)
    noise_dbm = 10 * math.log10(float(np.mean(np.abs(x) ** 2)) / 50.0) + 30
    assert noise_dbm == pytest.approx(-150.0 + 10 * math.log10(0.8 * fs), abs=0.05)
