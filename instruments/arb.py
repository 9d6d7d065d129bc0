"""Checks every ARB waveform download shares, whatever the generator's file format."""

from __future__ import annotations

import numpy as np


def checked_waveform(iq: np.ndarray, granularity: int, min_samples: int, model: str) -> np.ndarray:
    """`iq` as 1-D complex128, or ValueError naming what the generator (`model`) would refuse:
    not 1-D, empty, not a multiple of `granularity` samples, shorter than `min_samples`,
    non-finite or all zero (nothing to scale to full scale). Checked before anything is sent."""
    data = np.asarray(iq)
    if data.ndim != 1:
        raise ValueError(f"ARB waveform must be 1-D complex samples, got shape {data.shape}")
    n = data.size
    if n == 0:
        raise ValueError("ARB waveform is empty")
    if n % granularity:
        raise ValueError(f"ARB waveform length {n} is not a multiple of {granularity} samples "
                         f"(the {model} ARB granularity)")
    if n < min_samples:
        raise ValueError(f"ARB waveform is too short: {n} samples < minimum {min_samples} "
                         f"({model})")
    data = data.astype(np.complex128, copy=False)
    if not np.all(np.isfinite(data)):
        raise ValueError("ARB waveform contains NaN or infinite samples")
    if not np.any(data):
        raise ValueError("ARB waveform is all zeros (nothing to scale to full scale)")
    return data
