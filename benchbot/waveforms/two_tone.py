"""Two-tone complex baseband waveform for IMD3 / OIP3 tests (rf-measurements-and-scpi.md §1.6).

Pure numpy, no I/O. Two equal tones at ``-spacing/2`` and ``+spacing/2`` around the carrier:

    x[n] = (exp(-j*pi*df*n/fs) + exp(+j*pi*df*n/fs)) / sqrt(2) = sqrt(2) * cos(pi*df*n/fs)

- normalisation: mean power 1 (``mean(|x|^2) = 1``); each tone carries 1/2 of it, so the
  **per-tone power is the total power - 3.01 dB** (10*log10(2)); PEP (peak envelope power) is
  total + 3.01 dB = per tone + 6.02 dB;
- crest factor (peak-to-mean power) ``10*log10(2) = 3.01 dB``, the peak ``|x| = sqrt(2)``;
- seamless ARB loop: the length ``N`` holds a whole number ``m`` of cycles of each tone
  (``m = df*N/(2*fs)``), so the looped waveform is exactly periodic and its spectrum has only
  the two lines. ``N`` is the shortest length that is a whole number of tone cycles, a multiple
  of ``granularity`` (2 samples for the MXG/EXG ARB, pyarbtools) and >= ``min_samples``
  (60, the same ARB's minimum) [verify granularity/minimum against the N5182B user's guide];
- phases are computed with integer arithmetic (``(m*n) mod N``), so there is no accumulated
  rounding: every period is bit-identical.

The IM3 products of a DUT fall at ``±3*df/2`` and IM5 at ``±5*df/2``; to simulate them at this
sample rate keep ``5*df < fs`` (see ``TwoToneWaveform.products_in_band``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

PER_TONE_DB = -10 * np.log10(2.0)  # -3.0103 dB: each of two equal tones re the total power
ARB_GRANULARITY = 2  # samples (MXG/EXG ARB, pyarbtools) [verify]
ARB_MIN_SAMPLES = 60  # samples (MXG/EXG ARB, pyarbtools) [verify]
MAX_SAMPLES = 1 << 26  # refuse to build more than 64 Mi samples
NORMALISATION = ("mean power 1 (mean |x|^2 = 1); per tone = total - 3.01 dB; "
                 "peak |x|^2 = 2 (PEP = total + 3.01 dB)")


@dataclass(frozen=True)
class TwoToneWaveform:
    """A two-tone waveform and its description (powers relative to the mean power 1)."""

    iq: np.ndarray  # complex128, mean power 1
    sample_rate_hz: float
    spacing_hz: float
    cycles: int  # whole cycles of each tone in iq
    normalisation: str = NORMALISATION

    @property
    def tone_offsets_hz(self) -> tuple[float, float]:
        """Tone frequencies relative to the carrier: ``(-spacing/2, +spacing/2)``."""
        return (-self.spacing_hz / 2, self.spacing_hz / 2)

    @property
    def im3_offsets_hz(self) -> tuple[float, float]:
        """Where a DUT's IM3 products fall: ``2f1-f2 = -3*df/2`` and ``2f2-f1 = +3*df/2``."""
        return (-1.5 * self.spacing_hz, 1.5 * self.spacing_hz)

    @property
    def products_in_band(self) -> bool:
        """True if IM3 and IM5 (±5*df/2) lie inside ±fs/2, i.e. a simulation can show them."""
        return 2.5 * self.spacing_hz < self.sample_rate_hz / 2

    @property
    def per_tone_power_db(self) -> float:
        """Power of each tone relative to the total mean power: -3.01 dB."""
        return float(PER_TONE_DB)

    @property
    def crest_factor_db(self) -> float:
        """Peak-to-mean power of ``iq`` in dB (3.01 dB for two equal tones, computed)."""
        p = np.abs(self.iq) ** 2
        return float(10 * np.log10(np.max(p) / np.mean(p)))

    @property
    def papr_db(self) -> float:
        """Same as ``crest_factor_db`` (the envelope reaches its peak every beat period)."""
        return self.crest_factor_db

    @property
    def duration_s(self) -> float:
        return self.iq.size / self.sample_rate_hz

    def metadata(self) -> dict[str, object]:
        """Plain values describing this waveform for a measurement record."""
        return {
            "name": f"two-tone {self.spacing_hz / 1e6:g} MHz spacing",
            "sample_rate_hz": self.sample_rate_hz, "spacing_hz": self.spacing_hz,
            "tone_offsets_hz": list(self.tone_offsets_hz), "n_samples": int(self.iq.size),
            "cycles_per_tone": self.cycles, "crest_factor_db": self.crest_factor_db,
            "papr_db": self.papr_db, "per_tone_power_db": self.per_tone_power_db,
            "normalisation": self.normalisation,
        }


def _exact_fraction(value: float, name: str) -> Fraction:
    f = Fraction(value).limit_denominator(1_000_000)
    if abs(float(f) - value) > 1e-12 * abs(value):
        raise ValueError(f"{name} {value!r} is not a ratio of small integers")
    return f


def loop_length(spacing_hz: float, sample_rate_hz: float,
                granularity: int = ARB_GRANULARITY, min_samples: int = ARB_MIN_SAMPLES,
                ) -> tuple[int, int]:
    """Shortest ``(N, m)``: N samples holding m whole cycles of a tone at ``spacing/2``.

    ``m = (df/2) * N / fs`` must be an integer, ``N`` a multiple of ``granularity`` and
    ``>= min_samples``. ValueError if that needs more than ``MAX_SAMPLES``.
    """
    ratio = _exact_fraction(spacing_hz / (2 * sample_rate_hz), "spacing/(2*fs)")  # m/N = p/q
    p, q = ratio.numerator, ratio.denominator
    # N = k*q and m = k*p for integer k; N must also be a multiple of granularity
    step = q * granularity // np.gcd(q, granularity)
    n = max(step, -(-min_samples // step) * step)
    if n > MAX_SAMPLES:
        raise ValueError(f"a seamless loop of {spacing_hz} Hz spacing at {sample_rate_hz} Hz "
                         f"needs {n} samples (> {MAX_SAMPLES}); choose a rate that is a simpler "
                         "multiple of the spacing")
    return n, n * p // q


def generate_two_tone(spacing_hz: float, sample_rate_hz: float,
                      granularity: int = ARB_GRANULARITY,
                      min_samples: int = ARB_MIN_SAMPLES) -> TwoToneWaveform:
    """Two equal tones at ``±spacing_hz/2``, mean power 1, seamless when looped (module doc)."""
    if spacing_hz <= 0 or sample_rate_hz <= 0:
        raise ValueError("spacing_hz and sample_rate_hz must be > 0")
    if spacing_hz >= sample_rate_hz:
        raise ValueError(f"tones at ±{spacing_hz / 2} Hz do not fit in ±fs/2 = "
                         f"±{sample_rate_hz / 2} Hz")
    if granularity < 1 or min_samples < 1:
        raise ValueError("granularity and min_samples must be >= 1")
    n, m = loop_length(spacing_hz, sample_rate_hz, granularity, min_samples)
    phase = 2 * np.pi * ((m * np.arange(n, dtype=np.int64)) % n) / n  # exact per sample
    iq = (np.sqrt(2.0) * np.cos(phase)).astype(np.complex128)
    return TwoToneWaveform(iq=iq, sample_rate_hz=float(sample_rate_hz),
                           spacing_hz=float(spacing_hz), cycles=int(m))
