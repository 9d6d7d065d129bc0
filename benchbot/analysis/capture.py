"""Preparing an IQ capture of a periodic waveform for demodulation: pure numpy, no I/O.

An ARB plays its waveform period after period, so a capture exactly one period long is a
circular shift of that period (plus whatever the DUT and the analyzer add). Two consequences,
both exact for a periodic, band-limited signal:

- an oversampled capture is brought back to the waveform's own rate by keeping only the DFT
  bins inside the lower rate's Nyquist band (ideal low-pass + decimation, no filter transient);
- the start of the period is found by circular cross-correlation with the reference over the
  whole period, however far from the period's start the capture began.

Assumes the analyzer and the generator share a frequency reference (no frequency offset large
enough to decorrelate one period; the EVM routine removes what remains).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def decimate_periodic(x: ArrayLike, factor: int) -> np.ndarray:
    """One period sampled at ``factor`` x rate → the same period at rate (ideal low-pass).

    The DFT bins within ``±rate/2`` are kept (the bin at exactly -rate/2 too, for an even output
    length) and the inverse DFT is scaled by ``1/factor`` so that sample values are unchanged.
    """
    a = np.asarray(x, dtype=np.complex128).ravel()
    if factor < 1 or a.size % factor:
        raise ValueError(f"{a.size} samples cannot be decimated by {factor}")
    if factor == 1:
        return a.copy()
    m = a.size // factor
    spectrum = np.fft.fft(a)
    kept = np.concatenate((spectrum[: (m + 1) // 2], spectrum[a.size - m // 2:]))
    return np.fft.ifft(kept) / factor


def align_periodic(rx: ArrayLike, reference: ArrayLike) -> tuple[np.ndarray, int]:
    """Circularly shift one captured period so that it lines up with ``reference``.

    Returns ``(aligned, lag)`` with ``aligned[n] = rx[(n + lag) % N]``; ``lag`` is the peak of
    the circular cross-correlation ``sum_n rx[n + l] conj(reference[n])``.
    """
    r = np.asarray(rx, dtype=np.complex128).ravel()
    ref = np.asarray(reference, dtype=np.complex128).ravel()
    if r.size != ref.size:
        raise ValueError(f"capture has {r.size} samples, the reference period {ref.size}")
    corr = np.fft.ifft(np.fft.fft(r) * np.conj(np.fft.fft(ref)))
    lag = int(np.argmax(np.abs(corr)))
    return np.roll(r, -lag), lag


def crest_factor_db(x: ArrayLike) -> float:
    """Peak over mean power of the whole period, ``10*log10(max|x|^2 / mean|x|^2)`` (§1.1):
    how far above an RMS reading the signal's peaks go (analyzer reference-level headroom)."""
    p = np.abs(np.asarray(x, dtype=np.complex128)) ** 2
    return float(10.0 * np.log10(np.max(p) / np.mean(p)))
