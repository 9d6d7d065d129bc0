"""ACLR / PSD / OBW on a seeded band-limited complex Gaussian ("OFDM-like") signal, and on the
generated NR waveform (WOLA + channel FIR, oversampled) through a linear path.

Signal: flat in ±BW_Config/2 for 20 MHz NR at 15 kHz SCS (BW_Config = 19.08 MHz), built in the
frequency domain, 1 ms at 122.88 MS/s (the ×4 oversampled rate of rf-measurements-and-scpi.md
§3.3 step 1, so ACLR2 at ±40 MHz fits in the span).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from benchbot.analysis.nr_bands import (
    N_RB,
    bs_nr_aclr,
    bw_config_hz,
    lowest_scs_khz,
    n_rb,
    ue_nr_aclr,
)
from benchbot.analysis.spectrum import (
    AclrResult,
    aclr_from_psd,
    aclr_from_trace,
    analyzer_trace,
    band_power_w,
    obw_99,
    psd_welch,
)
from benchbot.waveforms import NRWaveform, Numerology, generate_nr, oversampling_for_aclr

FS = 122.88e6
N = 122_880  # 1 ms
PARAMS = bs_nr_aclr(20, 15)
BWC = PARAMS.main_mbw_hz


def flat_signal(bwc_hz: float, seed: int, n: int = N, fs: float = FS) -> np.ndarray:
    """Complex Gaussian, flat in |f| <= bwc/2 and exactly zero outside, unit mean power (W)."""
    rng = np.random.default_rng(seed)
    f = np.fft.fftfreq(n, 1 / fs)
    spec = np.zeros(n, complex)
    m = np.abs(f) <= bwc_hz / 2
    spec[m] = rng.standard_normal(m.sum()) + 1j * rng.standard_normal(m.sum())
    x = np.fft.ifft(spec)
    return x / np.sqrt(np.mean(np.abs(x) ** 2))


def cubic(x: np.ndarray, a1: float, a_iip3: float) -> np.ndarray:
    """Complex-envelope cubic y = a1*x + a3*x|x|^2 with a3 = -a1/A_IIP3^2 (§3.1)."""
    return a1 * x - a1 / a_iip3**2 * x * np.abs(x) ** 2


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return flat_signal(BWC, seed=1)


def test_nr_tables() -> None:
    assert n_rb(100, 30) == 273 and n_rb(20, 15) == 106 and n_rb(5, 30) == 11
    assert bw_config_hz(20, 15) == pytest.approx(19.08e6)
    assert bw_config_hz(100, 30) == pytest.approx(98.28e6)
    assert 60 not in N_RB[15] and lowest_scs_khz(100) == 30
    with pytest.raises(ValueError):
        n_rb(60, 15)
    bs = bs_nr_aclr(100, 30)
    assert bs.offsets_hz == (100e6, 200e6) and bs.adjacent_mbw_hz == pytest.approx(98.28e6)
    assert bs.limit_db == 45 and "38.104" in bs.limit_source
    # UE MBW = BW_Config(lowest SCS) + SCS (rf-measurements-and-scpi.md §1.3)
    for bw, mbw in ((5, 4.515e6), (10, 9.375e6), (20, 19.095e6), (50, 48.615e6), (100, 98.31e6)):
        ue = ue_nr_aclr(bw, 30)
        assert ue.main_mbw_hz == pytest.approx(mbw) and ue.offsets_hz == (bw * 1e6,)
    assert ue.limit_db == 30 and "38.101-1" in ue.limit_source


def test_band_power_partial_bins() -> None:
    f = np.arange(-10.0, 11.0)  # bins of 1 Hz
    s = np.ones_like(f)
    assert band_power_w(s, f, 0.25, 3.75) == pytest.approx(3.5)
    assert band_power_w(s, f, -10.5, 10.5) == pytest.approx(21.0)
    with pytest.raises(ValueError):
        band_power_w(s, f, 5.0, 11.0)


def test_psd_scaling(signal: np.ndarray) -> None:
    psd = psd_welch(signal, FS, rbw_hz=30e3)
    assert psd.rbw_hz <= 30e3 and psd.enbw_bins == pytest.approx(1.5)
    assert np.all(np.diff(psd.freq_hz) > 0) and psd.freq_hz[psd.nfft // 2] == 0.0
    assert psd.total_power_w == pytest.approx(1.0, rel=0.02)
    # flat level inside the channel: 1 W over BW_Config
    inner = np.abs(psd.freq_hz) < 0.4 * BWC
    assert np.mean(psd.psd_w_per_hz[inner]) == pytest.approx(1 / BWC, rel=0.02)


def test_linear_path_aclr_above_60db(signal: np.ndarray) -> None:
    r = aclr_from_psd(psd_welch(10 * signal, FS, rbw_hz=30e3), PARAMS)
    assert r.main_power_w == pytest.approx(100.0, rel=0.02)
    assert min(r.lower_db + r.upper_db) > 60
    assert len(r.lower_db) == 2 and r.margin_db > 0 and "38.104" in r.method


def test_noise_floor_limits_aclr_as_predicted(signal: np.ndarray) -> None:
    """White noise N0 (W/Hz) over fs: ACLR = (P_s + N0*MBW)/(N0*MBW), predicted analytically."""
    n0 = 1e-5 / BWC  # noise in one MBW is -50 dB re the 1 W carrier
    rng = np.random.default_rng(7)
    noise = np.sqrt(n0 * FS / 2) * (rng.standard_normal(N) + 1j * rng.standard_normal(N))
    r = aclr_from_psd(psd_welch(signal + noise, FS, rbw_hz=30e3), PARAMS)
    predicted = 10 * np.log10((1.0 + n0 * BWC) / (n0 * BWC))
    for v in r.lower_db + r.upper_db:
        assert v == pytest.approx(predicted, abs=0.15)


def test_cubic_aclr_degrades_2db_per_db(signal: np.ndarray) -> None:
    drives_db = np.array([-25.0, -20.0, -15.0])  # rms drive re A_IIP3
    aclr1 = []
    for d in drives_db:
        y = cubic(signal * 10 ** (d / 20), a1=10.0, a_iip3=1.0)
        r = aclr_from_psd(psd_welch(y, FS, rbw_hz=30e3), PARAMS)
        aclr1.append(min(r.lower_db[0], r.upper_db[0]))
        assert min(r.lower_db[1], r.upper_db[1]) > 60  # IM3 spans 3*BW_Config: not in ACLR2
    slope = np.polyfit(drives_db, aclr1, 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.15)
    assert 40 < aclr1[1] < 50


@pytest.mark.parametrize("drive_db", [-30.0, -18.0])
def test_trace_and_psd_aclr_agree(signal: np.ndarray, drive_db: float) -> None:
    y = cubic(signal * 10 ** (drive_db / 20), a1=1.0, a_iip3=1.0)
    r_psd = aclr_from_psd(psd_welch(y, FS, rbw_hz=30e3), PARAMS)
    fine = psd_welch(y, FS, nfft=16384)  # 11.25 kHz ENBW, well below the 100 kHz RBW
    sweep = np.linspace(-50e6, 50e6, 1001)
    trace_dbm, enbw_factor = analyzer_trace(fine, 100e3, sweep)
    r_tr = aclr_from_trace(sweep, trace_dbm, 100e3, enbw_factor, PARAMS)
    assert r_tr.main_power_w == pytest.approx(r_psd.main_power_w, rel=0.02)
    for a, b in zip(r_psd.lower_db + r_psd.upper_db, r_tr.lower_db + r_tr.upper_db, strict=True):
        if min(a, b) < 100:  # both above any meaningful floor otherwise
            assert a == pytest.approx(b, abs=0.5)
    assert "integration-bandwidth" in r_tr.method


def test_obw_99_of_flat_signal(signal: np.ndarray) -> None:
    """OBW = 0.99*BW_Config for a flat band; tolerance one RBW (30 kHz, 0.16 %)."""
    psd = psd_welch(signal, FS, rbw_hz=30e3)
    o = obw_99(psd.psd_w_per_hz, psd.freq_hz)
    assert o.obw_hz == pytest.approx(0.99 * BWC, abs=psd.rbw_hz)
    assert abs(o.center_hz) < psd.rbw_hz
    assert o.total_power_w == pytest.approx(1.0, rel=0.02)


def test_aclr_outside_span_raises(signal: np.ndarray) -> None:
    with pytest.raises(ValueError, match="outside the span"):
        aclr_from_psd(psd_welch(signal, FS, rbw_hz=30e3), bs_nr_aclr(100, 30))


def test_ue_aclr(signal: np.ndarray) -> None:
    r = aclr_from_psd(psd_welch(signal, FS, rbw_hz=30e3), ue_nr_aclr(20, 15))
    assert len(r.lower_db) == 1 and r.worst_db > 60 and r.params.limit_db == 30


def test_timing_1ms_122p88(signal: np.ndarray) -> None:
    """Not asserted: prints the time of PSD + ACLR on 1 ms of 122.88 MS/s IQ."""
    t0 = time.perf_counter()
    aclr_from_psd(psd_welch(signal, FS, rbw_hz=30e3), PARAMS)
    print(f"ACLR from 1 ms @ 122.88 MS/s: {1e3 * (time.perf_counter() - t0):.1f} ms")


# --- the generated NR waveform (benchbot.waveforms.nr) through a linear path -------------------

def nr_aclr(bw: int, scs: int, **kwargs: object) -> tuple[AclrResult, float, NRWaveform]:
    """ACLR (BS set) and 99 % OBW of 1 ms of TM1.1 through a linear path (gain, phase, delay)."""
    osr = oversampling_for_aclr(bw, scs)
    w = generate_nr(bw, scs, "NR-FR1-TM1.1", n_slots=2 ** Numerology(scs).mu, seed=1,
                    oversampling=osr, **kwargs)
    y = 3.2 * np.exp(0.7j) * np.roll(w.iq, 1234)  # the roll also moves the ARB loop point
    psd = psd_welch(y, w.sample_rate_hz, rbw_hz=30e3)
    return aclr_from_psd(psd, bs_nr_aclr(bw, scs)), obw_99(psd.psd_w_per_hz, psd.freq_hz).obw_hz, w


@pytest.mark.parametrize(("bw", "scs"), [(20, 15), (50, 30), (100, 30), (5, 30), (10, 60)])
def test_ideal_nr_waveform_aclr_above_60db(bw: int, scs: int) -> None:
    """WOLA + channel FIR (benchbot.waveforms.nr): ACLR1 and ACLR2 > 60 dB, OBW inside BW."""
    r, obw_hz, w = nr_aclr(bw, scs)
    assert len(r.lower_db) == 2 and min(r.lower_db + r.upper_db) > 60
    assert r.main_power_w == pytest.approx(3.2**2, rel=0.02)
    assert 0.95 * w.bw_config_hz < obw_hz < bw * 1e6  # 99 % OBW inside the channel (§6.6.2)


def test_ideal_tdd_nr_waveform_aclr_above_60db() -> None:
    """TDD on/off (5 ms DDDDDDDSUU): the WOLA ramps and the FIR keep the switching clean."""
    w = generate_nr(20, 30, "NR-FR1-TM1.1", n_slots=10, seed=3, duplex="TDD", oversampling=4)
    r = aclr_from_psd(psd_welch(w.iq, w.sample_rate_hz, rbw_hz=30e3), bs_nr_aclr(20, 30))
    assert min(r.lower_db + r.upper_db) > 60


def test_unshaped_cp_ofdm_leaks_as_expected() -> None:
    """Without WOLA and FIR the rectangular-symbol sinc skirts limit ACLR1 to ~40 dB."""
    r, _, _ = nr_aclr(100, 30, wola_cp_fraction=0.0, channel_filter=False)
    assert 35 < min(r.lower_db[0], r.upper_db[0]) < 50


def test_nr_waveform_has_room_for_cubic_regrowth() -> None:
    """Oversampled NR through a cubic: ACLR1 falls 2 dB/dB, as for the flat signal above."""
    w = generate_nr(20, 15, "NR-FR1-TM1.1", n_slots=1, seed=2, oversampling=4)
    aclr1 = []
    for d in (-25.0, -20.0, -15.0):
        y = cubic(w.iq * 10 ** (d / 20), a1=10.0, a_iip3=1.0)
        r = aclr_from_psd(psd_welch(y, w.sample_rate_hz, rbw_hz=30e3), PARAMS)
        aclr1.append(min(r.lower_db[0], r.upper_db[0]))
    assert np.polyfit([-25.0, -20.0, -15.0], aclr1, 1)[0] == pytest.approx(-2.0, abs=0.2)


def test_timing_nr_generation_100mhz_x5() -> None:
    """Not asserted: prints the time to generate 1 ms of 100 MHz NR at x5 (614.4 MS/s)."""
    t0 = time.perf_counter()
    w = generate_nr(100, 30, "NR-FR1-TM3.1", n_slots=2, oversampling=5)
    dt = time.perf_counter() - t0
    print(f"1 ms of 100 MHz NR x5 ({w.iq.size} samples): {1e3 * dt:.1f} ms")
