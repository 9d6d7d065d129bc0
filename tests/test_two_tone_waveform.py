"""Two-tone waveform (benchbot.waveforms.two_tone): tone positions, seamless loop, crest factor.

Theory: x = (e^{-j pi df n/fs} + e^{+j pi df n/fs})/sqrt(2) with a whole number m of cycles of
each tone in N samples. The N-point DFT then has exactly two non-zero bins, -m and +m, each
holding half the power (per tone = total - 3.01 dB), and any number of repeats (the ARB loop)
is still a pure two-line spectrum; the peak |x|^2 = 2 against a mean of 1 is 3.01 dB.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchbot.waveforms import generate_two_tone
from benchbot.waveforms.two_tone import loop_length

CASES = [(1e6, 122.88e6), (5e6, 30.72e6), (10e6, 614.4e6), (20e6, 100e6), (7.5e6, 61.44e6)]


@pytest.mark.parametrize(("spacing", "fs"), CASES)
def test_tones_at_exactly_plus_minus_half_spacing(spacing: float, fs: float) -> None:
    w = generate_two_tone(spacing, fs)
    n = w.iq.size
    assert n % 2 == 0 and n >= 60
    assert w.tone_offsets_hz == (-spacing / 2, spacing / 2)
    assert w.cycles * fs / n == pytest.approx(spacing / 2, rel=1e-12)  # bin m is at +df/2
    spec = np.abs(np.fft.fft(w.iq) / n) ** 2
    assert spec[w.cycles] == pytest.approx(0.5) and spec[-w.cycles] == pytest.approx(0.5)
    assert 10 * np.log10(spec[w.cycles]) == pytest.approx(w.per_tone_power_db, abs=1e-9)
    assert w.per_tone_power_db == pytest.approx(-3.0103, abs=1e-4)


@pytest.mark.parametrize(("spacing", "fs"), CASES)
def test_looped_waveform_has_only_the_two_lines(spacing: float, fs: float) -> None:
    w = generate_two_tone(spacing, fs)
    looped = np.tile(w.iq, 7)  # what the ARB plays
    spec = np.abs(np.fft.fft(looped) / looped.size) ** 2
    lines = [7 * w.cycles, looped.size - 7 * w.cycles]
    rest = np.delete(spec, lines)
    assert 10 * np.log10(rest.max() / spec[lines].min()) < -100  # dBc
    assert spec[lines].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(("spacing", "fs"), CASES)
def test_crest_factor_is_3p01_db(spacing: float, fs: float) -> None:
    w = generate_two_tone(spacing, fs)
    assert np.mean(np.abs(w.iq) ** 2) == pytest.approx(1.0, abs=1e-12)
    assert w.crest_factor_db == pytest.approx(10 * np.log10(2), abs=1e-9)
    m = w.metadata()
    assert m["crest_factor_db"] == pytest.approx(3.0103, abs=1e-4)
    assert m["sample_rate_hz"] == fs and "per tone = total - 3.01 dB" in m["normalisation"]


def test_loop_length_rules() -> None:
    assert loop_length(1e6, 122.88e6) == (6144, 25)  # 0.5 MHz x 6144 / 122.88 MHz = 25
    n, m = loop_length(30.72e6 / 2, 30.72e6)  # tones at +-fs/4: 1 cycle in 4 samples
    assert n == 60 and m == 15  # stretched to the 60-sample ARB minimum, granularity 2
    assert loop_length(1e6, 122.88e6, granularity=4096)[0] % 4096 == 0
    assert generate_two_tone(10e6, 30.72e6).products_in_band is False  # IM5 at 25 MHz
    assert generate_two_tone(1e6, 30.72e6).im3_offsets_hz == (-1.5e6, 1.5e6)


@pytest.mark.parametrize(("spacing", "fs", "match"), [
    (40e6, 30.72e6, "do not fit"),
    (0.0, 30.72e6, "> 0"),
    (np.pi * 1e6, 30.72e6, "ratio of small integers|needs"),
])
def test_invalid_two_tone_is_refused(spacing: float, fs: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_two_tone(spacing, fs)
