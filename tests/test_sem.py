"""SEM tables and their evaluation on hand-built traces (benchbot.analysis.sem)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchbot.analysis.sem import (
    GAUSSIAN_ENBW_FACTOR,
    LOWER,
    UPPER,
    MaskSegment,
    SemMask,
    _band_powers,
    bs_obue_mask,
    evaluate_sem,
    evaluate_sem_psd,
    ue_sem_mask,
)
from benchbot.analysis.spectrum import Psd, analyzer_trace, band_power_w, psd_welch

CARRIER_HZ = 3.55e9
BW_HZ = 20e6


def flat_trace(level_dbm: float, span_hz: float = 120e6, step_hz: float = 10e3
               ) -> tuple[np.ndarray, np.ndarray]:
    f = CARRIER_HZ + np.arange(-span_hz / 2, span_hz / 2 + step_hz / 2, step_hz)
    return f, np.full(f.size, level_dbm)


def with_tone(f: np.ndarray, p_dbm: np.ndarray, tone_hz: float, tone_dbm: float,
              rbw_hz: float) -> np.ndarray:
    """Add a CW tone as a swept RMS analyzer shows it: the Gaussian RBW response around it."""
    sigma = rbw_hz / (2 * np.sqrt(2 * np.log(2)))
    tone_w = 10 ** ((tone_dbm - 30) / 10) * np.exp(-((f - tone_hz) ** 2) / (2 * sigma**2))
    return 10 * np.log10(10 ** ((p_dbm - 30) / 10) + tone_w) + 30


def test_enbw_factor_is_the_gaussian_one() -> None:
    assert abs(GAUSSIAN_ENBW_FACTOR - 1.0645) < 1e-4


# ------------------------------------------------------------------------------ mask tables
def test_bs_category_a_rows_match_table_6_6_4_2_1_2() -> None:
    mask = bs_obue_mask("A")
    rows = [(s.start_hz, s.stop_hz, s.limit_start_dbm, s.limit_stop_dbm, s.mbw_hz)
            for s in mask.segments]
    assert rows == [(0.05e6, 5.05e6, -7.0, -14.0, 100e3), (5.05e6, 10.05e6, -14.0, -14.0, 100e3),
                    (10.5e6, 40e6, -13.0, -13.0, 1e6)]
    assert "Table 6.6.4.2.1-2" in mask.source and "Category A" in mask.source


def test_bs_category_b_differs_only_far_out() -> None:
    a, b = bs_obue_mask("A"), bs_obue_mask("B")
    assert a.segments[:2] == b.segments[:2]
    assert b.segments[2].limit_start_dbm == b.segments[2].limit_stop_dbm == -15.0
    assert "6.6.4.2.2.1-2" in b.source


def test_bs_narrow_band_obue_drops_the_far_row() -> None:
    mask = bs_obue_mask("A", delta_f_obue_hz=10e6)
    assert [s.stop_hz for s in mask.segments] == [5.05e6, 10e6]
    with pytest.raises(ValueError):
        bs_obue_mask("C")  # type: ignore[arg-type]


def test_sloped_segment_limit_at_both_ends_and_middle() -> None:
    slope = bs_obue_mask("A").segments[0]
    np.testing.assert_allclose(slope.limit_dbm_at([0.05e6, 2.55e6, 5.05e6]), [-7.0, -10.5, -14.0])
    # -7 dBm - 7/5 (f_offset/MHz - 0.05) dB at an arbitrary point
    assert slope.limit_dbm_at(3.3e6) == pytest.approx(-7 - 7 / 5 * (3.3 - 0.05))


# (BW MHz, expected rows as (Δf_OOB start MHz, stop MHz, limit dBm, MBW Hz)), TS 38.101-1
# Table 6.5.2.2-1 as implemented (see the module's [verify] notes)
UE_TABLE = [
    (5, [(0, 1, -13, 50e3), (1, 5, -10, 1e6), (5, 10, -25, 1e6)]),
    (10, [(0, 1, -13, 100e3), (1, 5, -10, 1e6), (5, 10, -13, 1e6), (10, 15, -25, 1e6)]),
    (20, [(0, 1, -13, 200e3), (1, 5, -10, 1e6), (5, 20, -13, 1e6), (20, 25, -25, 1e6)]),
    (30, [(0, 1, -13, 300e3), (1, 5, -10, 1e6), (5, 30, -13, 1e6), (30, 35, -25, 1e6)]),
    (40, [(0, 1, -24, 30e3), (1, 5, -10, 1e6), (5, 40, -13, 1e6), (40, 45, -25, 1e6)]),
    (100, [(0, 1, -24, 30e3), (1, 5, -10, 1e6), (5, 100, -13, 1e6), (100, 105, -25, 1e6)]),
]


@pytest.mark.parametrize(("bw_mhz", "rows"), UE_TABLE)
def test_ue_sem_rows_per_channel_bandwidth(bw_mhz: int, rows: list[tuple]) -> None:
    mask = ue_sem_mask(bw_mhz)
    assert mask.channel_bandwidth_hz == bw_mhz * 1e6
    got = []
    for s in mask.segments:
        assert s.limit_start_dbm == s.limit_stop_dbm
        # the filter stays inside its Δf_OOB range: centres run start+MBW/2 .. stop-MBW/2
        got.append((round((s.start_hz - s.mbw_hz / 2) / 1e6, 9),
                    round((s.stop_hz + s.mbw_hz / 2) / 1e6, 9), s.limit_start_dbm, s.mbw_hz))
    assert got == [(float(a), float(b), float(lim), mbw) for a, b, lim, mbw in rows]
    assert mask.max_offset_hz == pytest.approx((bw_mhz + 5) * 1e6)


@pytest.mark.parametrize("bw_mhz", [5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100])
def test_ue_sem_covers_zero_to_bw_plus_5_without_gaps(bw_mhz: int) -> None:
    segs = ue_sem_mask(bw_mhz).segments
    outer = [(s.start_hz - s.mbw_hz / 2, s.stop_hz + s.mbw_hz / 2) for s in segs]
    assert outer[0][0] == 0.0 and outer[-1][1] == pytest.approx((bw_mhz + 5) * 1e6)
    for (_, hi), (lo, _) in zip(outer, outer[1:], strict=False):
        assert lo == pytest.approx(hi)


def test_ue_sem_rejects_unknown_bandwidth() -> None:
    with pytest.raises(ValueError, match="Table 5.3.2-1"):
        ue_sem_mask(35)


# ------------------------------------------------------------------------------ integration
def test_flat_trace_gives_the_known_mbw_power() -> None:
    level_dbm, rbw = -60.0, 30e3
    f, p = flat_trace(level_dbm)
    res = evaluate_sem(f, p, rbw, CARRIER_HZ, BW_HZ, bs_obue_mask("A"))
    expected = {100e3: level_dbm + 10 * math.log10(100e3 / (GAUSSIAN_ENBW_FACTOR * rbw)),
                1e6: level_dbm + 10 * math.log10(1e6 / (GAUSSIAN_ENBW_FACTOR * rbw))}
    assert res.complete and len(res.segments) == 6
    for seg in res.segments:
        np.testing.assert_allclose(seg.power_dbm, expected[seg.segment.mbw_hz], atol=1e-9)
    # -60 dBm / 30 kHz RBW is -45.04 dBm / 1 MHz: 31.96 dB below the -13 dBm far row
    far = [s for s in res.segments if s.index == 2]
    assert far[0].worst_margin_db == pytest.approx(-13.0 - expected[1e6])
    # positions span the segment with the trace step, both ends included, both sides
    lower0 = next(s for s in res.segments if s.index == 0 and s.side == LOWER)
    assert lower0.offset_hz[0] == 0.05e6 and lower0.offset_hz[-1] == 5.05e6
    assert lower0.frequency_hz[0] == CARRIER_HZ - BW_HZ / 2 - 0.05e6
    assert lower0.limit_dbm[0] == -7.0 and lower0.limit_dbm[-1] == pytest.approx(-14.0)
    assert res.passed


def test_spike_above_the_limit_is_found_at_its_frequency() -> None:
    rbw = 30e3
    f, p = flat_trace(-90.0, step_hz=5e3)
    tone_hz = CARRIER_HZ + BW_HZ / 2 + 7.3e6  # upper side, in the 5.05-10.05 MHz -14 dBm row
    p = with_tone(f, p, tone_hz, -10.0, rbw)
    res = evaluate_sem(f, p, rbw, CARRIER_HZ, BW_HZ, bs_obue_mask("A"))
    worst = res.worst
    assert worst is not None and worst.side == UPPER and worst.index == 1
    assert abs(res.worst_frequency_hz - tone_hz) <= 50e3  # the tone is inside the 100 kHz MBW
    # the whole tone is integrated: -10 dBm measured against -14 dBm -> about -4 dB margin
    assert worst.worst_power_dbm == pytest.approx(-10.0, abs=0.05)
    assert res.worst_margin_db == pytest.approx(-4.0, abs=0.05)
    assert not res.passed
    lower = next(s for s in res.segments if s.index == 1 and s.side == LOWER)
    assert lower.worst_margin_db > 60  # the other side still sees only the floor


def test_spike_on_the_sloped_row_is_judged_against_the_limit_at_its_offset() -> None:
    rbw = 10e3
    f, p = flat_trace(-100.0, span_hz=60e6, step_hz=2e3)
    tone_hz = CARRIER_HZ - BW_HZ / 2 - 2.05e6  # lower side; limit there -7 - 7/5*2 = -9.8 dBm
    p = with_tone(f, p, tone_hz, -9.0, rbw)
    mask = SemMask("slope only", (bs_obue_mask("A").segments[0],), "test")
    res = evaluate_sem(f, p, rbw, CARRIER_HZ, BW_HZ, mask)
    worst = res.worst
    assert worst is not None and worst.side == LOWER
    # the worst window is about the farthest one still holding the whole tone (the limit falls
    # 1.4 dB/MHz with offset; a window edge within ~3 sigma of the tone cuts its power)
    assert tone_hz - 50e3 < res.worst_frequency_hz < tone_hz - 30e3
    offset_mhz = (CARRIER_HZ - BW_HZ / 2 - res.worst_frequency_hz) / 1e6
    assert worst.worst_limit_dbm == pytest.approx(-7 - 7 / 5 * (offset_mhz - 0.05), abs=1e-9)
    assert worst.worst_power_dbm == pytest.approx(-9.0, abs=0.02)
    assert worst.worst_margin_db == pytest.approx(-9.87 - (-9.0), abs=0.05)


def test_trace_narrower_than_the_mask_is_reported_not_guessed() -> None:
    f, p = flat_trace(-70.0, span_hz=50e6)  # carrier ±25 MHz: far row (to 40 MHz) not covered
    res = evaluate_sem(f, p, 30e3, CARRIER_HZ, BW_HZ, bs_obue_mask("A"))
    far = [s for s in res.segments if s.index == 2]
    assert all(not s.covered for s in far) and not res.complete and not res.passed
    assert all(s.offset_hz.size and s.offset_hz.max() <= 15e6 - 0.5e6 + 1 for s in far)
    assert any("not fully inside" in n for n in res.notes)
    near = [s for s in res.segments if s.index < 2]
    assert all(s.covered for s in near)


def test_band_powers_agree_with_spectrum_band_power() -> None:
    rng = np.random.default_rng(7)
    f = 1e9 + np.arange(2001) * 1e3
    density = rng.uniform(0.5, 2.0, f.size) * 1e-12
    lo = rng.uniform(f[0], f[-1] - 2e5, 50)
    hi = lo + rng.uniform(1e3, 2e5, 50)
    ours = _band_powers(density, f, 1e3, lo, hi)
    ref = [band_power_w(density, f, a, b) for a, b in zip(lo, hi, strict=True)]
    np.testing.assert_allclose(ours, ref, rtol=1e-9)


def test_psd_input_uses_the_same_integration() -> None:
    # a flat density of -100 dBm/Hz -> -50 dBm in 100 kHz, -40 dBm in 1 MHz
    f = CARRIER_HZ + np.arange(-60e6, 60e6 + 1, 5e3)
    density = np.full(f.size, 1e-13)
    psd = Psd(f, density, 120e6, CARRIER_HZ, f.size, "rect", 1.0, 5e3, 1, "hand-built PSD")
    res = evaluate_sem_psd(psd, CARRIER_HZ, BW_HZ, bs_obue_mask("A"))
    for seg in res.segments:
        expected = -100.0 + 10 * math.log10(seg.segment.mbw_hz)
        np.testing.assert_allclose(seg.power_dbm, expected, atol=1e-9)
    assert "from PSD" in res.method


def test_iq_psd_and_its_analyzer_trace_agree() -> None:
    """White noise captured as IQ: Welch PSD and the emulated RBW trace give the same SEM."""
    fs = 61.44e6
    rng = np.random.default_rng(3)
    n = 1 << 18
    noise_w_per_hz = 1e-15  # -120 dBm/Hz
    iq = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * np.sqrt(noise_w_per_hz * fs / 2)
    psd = psd_welch(iq, fs, nfft=4096, center_hz=CARRIER_HZ)
    bw = 10e6
    mask = SemMask("near rows", bs_obue_mask("A").segments[:2], "test")
    res_psd = evaluate_sem_psd(psd, CARRIER_HZ, bw, mask)
    for seg in res_psd.segments:
        expected = -120.0 + 10 * math.log10(seg.segment.mbw_hz)
        assert abs(float(np.mean(seg.power_dbm)) - expected) < 0.1
    rbw = 100e3
    sweep = CARRIER_HZ + np.linspace(-25e6, 25e6, 2001)
    trace_dbm, enbw_factor = analyzer_trace(psd, rbw, sweep)
    res_trace = evaluate_sem(sweep, trace_dbm, rbw, CARRIER_HZ, bw, mask, enbw_factor=enbw_factor)
    for a, b in zip(res_psd.segments, res_trace.segments, strict=True):
        assert abs(np.mean(a.power_dbm) - np.mean(b.power_dbm)) < 0.1


def test_input_validation() -> None:
    with pytest.raises(ValueError, match="uniformly"):
        evaluate_sem([1.0, 2.0, 4.0], [0.0, 0.0, 0.0], 1.0, 2.0, 1.0, bs_obue_mask())
    with pytest.raises(ValueError):
        MaskSegment(2e6, 1e6, -13, -13, 1e6)
