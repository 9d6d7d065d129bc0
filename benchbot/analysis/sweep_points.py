"""Reading a swept curve at a point: interpolation at a given x and threshold crossings.

Used for "metric at rated output power" and "highest output power meeting a requirement"
(ACLR, EVM, IMD): pure numpy, no I/O. Sweeps go up in drive, so the independent variable (RMS
output power) rises until the DUT saturates; only that rising part is used, because beyond
saturation one output power maps to several drive levels.

A value that cannot be read from the sweep is NaN and the result's ``note`` says why (the
decision rule of :mod:`benchbot.limits` then FAILs a limited metric, with that note).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

NAN = float("nan")


@dataclass(frozen=True)
class SweepReading:
    """A value read from a sweep, and how (or why it could not be)."""

    value: float
    note: str


def rising_part(x: ArrayLike) -> int:
    """Number of leading points over which ``x`` strictly increases (NaN ends it)."""
    a = np.asarray(x, dtype=float)
    n = 0
    for i, v in enumerate(a):
        if not np.isfinite(v) or (i > 0 and v <= a[i - 1]):
            break
        n = i + 1
    return n


def value_at(x: ArrayLike, y: ArrayLike, x0: float, what: str = "y") -> SweepReading:
    """``y`` linearly interpolated at ``x = x0`` over the rising part of ``x``.

    NaN when ``x0`` is outside the measured range (never extrapolated) or a bracketing ``y`` is
    NaN.
    """
    xs, ys = _vectors(x, y)
    n = rising_part(xs)
    if n == 0:
        return SweepReading(NAN, f"{what} not read: no valid x")
    xs, ys = xs[:n], ys[:n]
    lo, hi = xs[0], xs[-1]
    if not lo - 1e-9 <= x0 <= hi + 1e-9:
        return SweepReading(NAN, f"{what} not read: {x0:g} is outside the measured "
                                 f"{lo:.2f} .. {hi:.2f}")
    k = int(np.clip(np.searchsorted(xs, x0), 1, max(n - 1, 1)))
    if n == 1:
        return SweepReading(float(ys[0]), f"{what} at the only point")
    t = float((x0 - xs[k - 1]) / (xs[k] - xs[k - 1]))
    value = float(ys[k - 1] + t * (ys[k] - ys[k - 1]))
    if not np.isfinite(value):
        return SweepReading(NAN, f"{what} not read: no value at the points bracketing {x0:g}")
    return SweepReading(value, f"{what} interpolated between {xs[k - 1]:.2f} and {xs[k]:.2f}")


def highest_x_meeting(x: ArrayLike, y: ArrayLike, threshold: float,
                      sense: Literal["at_least", "at_most"], what: str = "y") -> SweepReading:
    """The highest ``x`` (on its rising part) at which ``y`` still meets ``threshold``.

    ``sense="at_least"``: ``y >= threshold`` (e.g. ACLR in dB); ``"at_most"``: ``y <= threshold``
    (e.g. EVM in %). The last sweep point that meets it is found, and the crossing to the next
    point is interpolated linearly. NaN if no point meets it, or if the last point still does
    (the crossing lies beyond the sweep: extend it). Points below the first meeting one (e.g.
    noise-limited ACLR at low drive) do not matter.
    """
    xs, ys = _vectors(x, y)
    n = rising_part(xs)
    xs, ys = xs[:n], ys[:n]
    with np.errstate(invalid="ignore"):
        meets = ys >= threshold if sense == "at_least" else ys <= threshold
    meets &= np.isfinite(ys)
    word = ">=" if sense == "at_least" else "<="
    if not meets.any():
        return SweepReading(NAN, f"not reached: {what} {word} {threshold:g} at no point")
    j = int(np.flatnonzero(meets)[-1])
    if j == n - 1:
        return SweepReading(NAN, f"not reached: {what} still {word} {threshold:g} at the "
                                 f"highest point ({xs[j]:.2f}); the crossing is beyond the sweep")
    if not np.isfinite(ys[j + 1]):
        return SweepReading(float(xs[j]), f"last point with {what} {word} {threshold:g} "
                                          f"(next point has no value)")
    t = float((threshold - ys[j]) / (ys[j + 1] - ys[j]))
    value = float(xs[j] + t * (xs[j + 1] - xs[j]))
    return SweepReading(value, f"crossing of {what} = {threshold:g} interpolated between "
                               f"{xs[j]:.2f} and {xs[j + 1]:.2f}")


def mean_of_lowest(x: ArrayLike, n: int) -> SweepReading:
    """Mean of the first ``n`` finite values (e.g. small-signal gain over the lowest levels)."""
    a = np.asarray(x, dtype=float)[:n]
    a = a[np.isfinite(a)]
    if a.size == 0:
        return SweepReading(NAN, "not computed: no finite value among the lowest points")
    return SweepReading(float(np.mean(a)), f"mean over the {a.size} lowest point(s)")


def _vectors(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray(x, dtype=float).ravel()
    ys = np.asarray(y, dtype=float).ravel()
    if xs.shape != ys.shape:
        raise ValueError(f"x has {xs.size} points, y has {ys.size}")
    return xs, ys
