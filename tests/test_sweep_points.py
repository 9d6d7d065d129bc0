"""Reading swept curves (value at rated Pout, highest Pout meeting a threshold) and preparing
periodic IQ captures: pure analysis, checked against hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchbot.analysis.capture import align_periodic, crest_factor_db, decimate_periodic
from benchbot.analysis.sweep_points import (
    highest_x_meeting,
    mean_of_lowest,
    rising_part,
    value_at,
)

POUT = np.array([10.0, 12.0, 14.0, 16.0, 18.0])
ACLR = np.array([50.0, 52.0, 48.0, 44.0, 38.0])  # noise-limited at first, then regrowth


def test_rising_part_stops_at_saturation_or_nan() -> None:
    assert rising_part([1, 2, 3, 3.5]) == 4
    assert rising_part([1, 2, 3, 2.9, 4]) == 3  # past saturation Pout falls back
    assert rising_part([1, 2, np.nan, 4]) == 2
    assert rising_part([np.nan, 1]) == 0
    assert rising_part([]) == 0


def test_value_at_interpolates_linearly() -> None:
    r = value_at(POUT, ACLR, 15.0, "ACLR")
    assert r.value == pytest.approx(46.0) and "between 14.00 and 16.00" in r.note
    assert value_at(POUT, ACLR, 10.0).value == 50.0
    assert value_at(POUT, ACLR, 18.0).value == 38.0


@pytest.mark.parametrize("x0", [9.99, 18.01, 30.0])
def test_value_at_never_extrapolates(x0: float) -> None:
    r = value_at(POUT, ACLR, x0, "ACLR")
    assert math.isnan(r.value) and "outside the measured 10.00 .. 18.00" in r.note


def test_value_at_uses_only_the_rising_part() -> None:
    pout = np.array([10.0, 12.0, 14.0, 13.5])  # compressed beyond saturation
    r = value_at(pout, [1.0, 2.0, 3.0, 99.0], 13.8)
    assert r.value == pytest.approx(2.9)


def test_value_at_nan_bracket_is_nan() -> None:
    r = value_at(POUT, [1.0, np.nan, 3.0, 4.0, 5.0], 11.0)
    assert math.isnan(r.value) and "no value" in r.note


def test_highest_pout_meeting_an_aclr_threshold() -> None:
    r = highest_x_meeting(POUT, ACLR, 45.0, "at_least", "ACLR1")
    # last point >= 45 is (14, 48); next (16, 44): crossing at 14 + 2*(45-48)/(44-48) = 15.5
    assert r.value == pytest.approx(15.5) and "crossing" in r.note


def test_highest_pout_meeting_an_evm_threshold() -> None:
    evm = np.array([0.5, 0.6, 1.0, 2.0, 4.0])
    r = highest_x_meeting(POUT, evm, 3.5, "at_most", "EVM")
    assert r.value == pytest.approx(16.0 + 2.0 * (3.5 - 2.0) / (4.0 - 2.0))


def test_threshold_never_crossed_within_the_sweep_is_nan() -> None:
    r = highest_x_meeting(POUT, ACLR, 30.0, "at_least", "ACLR1")
    assert math.isnan(r.value) and "beyond the sweep" in r.note and "18.00" in r.note


def test_threshold_met_nowhere_is_nan() -> None:
    r = highest_x_meeting(POUT, ACLR, 60.0, "at_least", "ACLR1")
    assert math.isnan(r.value) and "at no point" in r.note


def test_noise_limited_low_points_do_not_matter() -> None:
    aclr = np.array([40.0, 47.0, 48.0, 44.0, 38.0])  # below 45 at the lowest level (noise)
    assert highest_x_meeting(POUT, aclr, 45.0, "at_least").value == pytest.approx(15.5)


def test_mean_of_lowest() -> None:
    assert mean_of_lowest([28.0, 28.2, 27.0], 2).value == pytest.approx(28.1)
    assert math.isnan(mean_of_lowest([np.nan], 1).value)


@given(x0=st.floats(10.0, 18.0))
def test_value_at_stays_between_the_brackets(x0: float) -> None:
    value = value_at(POUT, ACLR, x0).value
    k = min(int(np.searchsorted(POUT, x0)), len(POUT) - 1)
    lo, hi = sorted((ACLR[max(k - 1, 0)], ACLR[k]))
    assert lo - 1e-9 <= value <= hi + 1e-9


def _periodic(n: int, rng: np.random.Generator, band: int) -> np.ndarray:
    spectrum = np.zeros(n, dtype=complex)
    k = np.r_[0:band, n - band:n]
    spectrum[k] = rng.normal(size=k.size) + 1j * rng.normal(size=k.size)
    return np.fft.ifft(spectrum)


def test_decimating_a_band_limited_period_keeps_its_samples() -> None:
    rng = np.random.default_rng(1)
    x = _periodic(4 * 256, rng, band=100)  # occupies < ±128 bins: fits the decimated rate
    assert np.allclose(decimate_periodic(x, 4), x[::4], atol=1e-12)
    assert np.allclose(decimate_periodic(x, 1), x)
    with pytest.raises(ValueError, match="cannot be decimated"):
        decimate_periodic(x[:-1], 4)


def test_decimation_removes_what_lies_outside_the_lower_rate() -> None:
    n = 1024
    t = np.arange(n)
    inside = np.exp(2j * np.pi * 10 * t / n)
    outside = np.exp(2j * np.pi * 300 * t / n)  # beyond ±128 bins of the x4-decimated period
    assert np.allclose(decimate_periodic(inside + outside, 4), inside[::4], atol=1e-12)


@pytest.mark.parametrize("shift", [0, 1, 777, 4095])
def test_alignment_finds_any_circular_shift(shift: int) -> None:
    rng = np.random.default_rng(2)
    ref = _periodic(4096, rng, band=1500)
    rx = 0.3 * np.exp(1j * 0.7) * np.roll(ref, -shift)  # capture started `shift` samples late
    aligned, lag = align_periodic(rx, ref)
    assert lag == (-shift) % 4096  # aligned[n] = rx[n + lag]
    assert np.allclose(aligned, 0.3 * np.exp(1j * 0.7) * ref)


def test_crest_factor_of_two_equal_tones_is_3_dB() -> None:
    t = np.arange(64)
    x = np.exp(2j * np.pi * t / 16) + np.exp(-2j * np.pi * t / 16)
    assert crest_factor_db(x) == pytest.approx(10 * np.log10(2.0))
