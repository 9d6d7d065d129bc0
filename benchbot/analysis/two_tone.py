"""Two-tone intermodulation (IMD3, OIP3/IIP3, IM3 slope) and harmonics: pure numpy, no I/O.

Definitions (rf-measurements-and-scpi.md §1.6; all powers per tone, at the DUT output plane):

- tones at f1 < f2, IM3 products at ``2f1-f2`` (lower) and ``2f2-f1`` (upper);
  ``dIM3 = P_tone - P_IM3`` (dBc) with each IM3 product referred to its nearer tone
  (lower to f1, upper to f2);
- ``OIP3 = P_tone + dIM3/2`` per side, ``IIP3 = OIP3 - G``; the reported OIP3 is the lower
  (worse) of the two sides;
- the 3:1 IM3 slope holds only in the weakly nonlinear region: ``im3_slope`` fits straight lines
  to fundamental and IM3 output versus input power below a given input level and reports both
  slopes and the OIP3 at the intersection of the fitted lines;
- harmonics ``H_n = P(n*f0) - P(f0)`` (dBc).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Imd3Result:
    """IMD3 and intercept points of one two-tone measurement."""

    p_tone_lower_dbm: float
    p_tone_upper_dbm: float
    p_im3_lower_dbm: float
    p_im3_upper_dbm: float
    delta_im3_lower_dbc: float
    delta_im3_upper_dbc: float
    oip3_lower_dbm: float
    oip3_upper_dbm: float
    oip3_dbm: float
    iip3_dbm: float
    method: str

    @property
    def delta_im3_dbc(self) -> float:
        """Worse (smaller) of the two IMD3 ratios, dBc."""
        return min(self.delta_im3_lower_dbc, self.delta_im3_upper_dbc)


def imd3(p_tone_lower_dbm: float, p_tone_upper_dbm: float, p_im3_lower_dbm: float,
         p_im3_upper_dbm: float, gain_db: float | None = None) -> Imd3Result:
    """IMD3 and OIP3 = P_tone + dIM3/2 per side (§1.6); IIP3 = OIP3 - G if ``gain_db`` is given."""
    d_lo = p_tone_lower_dbm - p_im3_lower_dbm
    d_hi = p_tone_upper_dbm - p_im3_upper_dbm
    oip3_lo = p_tone_lower_dbm + d_lo / 2
    oip3_hi = p_tone_upper_dbm + d_hi / 2
    oip3 = min(oip3_lo, oip3_hi)
    iip3 = oip3 - gain_db if gain_db is not None else float("nan")
    method = ("dIM3 = P_tone - P_IM3 per side (2f1-f2 vs f1, 2f2-f1 vs f2); "
              "OIP3 = P_tone + dIM3/2, worse side reported; "
              + ("IIP3 = OIP3 - G" if gain_db is not None else "IIP3 not computed (no gain)"))
    return Imd3Result(float(p_tone_lower_dbm), float(p_tone_upper_dbm), float(p_im3_lower_dbm),
                      float(p_im3_upper_dbm), float(d_lo), float(d_hi), float(oip3_lo),
                      float(oip3_hi), float(oip3), float(iip3), method)


@dataclass(frozen=True)
class Im3SlopeResult:
    """Slopes of fundamental and IM3 output vs input in the weakly nonlinear region."""

    slope_fundamental: float
    slope_im3: float
    oip3_intercept_dbm: float
    iip3_intercept_dbm: float
    oip3_free_fit_dbm: float
    oip3_per_point_dbm: np.ndarray
    n_points: int
    slope_ok: bool
    method: str


def im3_slope(pin_dbm: ArrayLike, p_tone_dbm: ArrayLike, p_im3_dbm: ArrayLike, *,
              pin_max_dbm: float | None = None, slope_tolerance: float = 0.3) -> Im3SlopeResult:
    """Fit fundamental and IM3 output (dBm per tone) vs input per tone (dBm), §1.6.

    Only points with ``pin <= pin_max_dbm`` are used (choose about IP1dB - 10 dB). ``slope_ok`` is
    True when the IM3 slope is within ``slope_tolerance`` of 3 and the fundamental's of 1.
    ``oip3_intercept_dbm`` is where lines of fixed slopes 1 and 3 fitted to the points cross (equal
    to the mean of the per-point ``P_tone + dIM3/2``); ``oip3_free_fit_dbm`` is where the free-slope
    lines cross, which is sensitive to small slope errors and given for information.
    """
    pin = np.asarray(pin_dbm, dtype=float)
    pt = np.asarray(p_tone_dbm, dtype=float)
    pim = np.asarray(p_im3_dbm, dtype=float)
    if not pin.shape == pt.shape == pim.shape:
        raise ValueError("pin, tone and IM3 arrays must have the same shape")
    use = np.isfinite(pin) & np.isfinite(pt) & np.isfinite(pim)
    if pin_max_dbm is not None:
        use &= pin <= pin_max_dbm
    n = int(np.count_nonzero(use))
    if n < 2:
        raise ValueError(f"need at least two points in the weakly nonlinear region, have {n}")
    b_f, a_f = np.polyfit(pin[use], pt[use], 1)
    b_i, a_i = np.polyfit(pin[use], pim[use], 1)
    oip3_free = float("nan") if np.isclose(b_f, b_i) else a_f + b_f * (a_i - a_f) / (b_f - b_i)
    c_f = np.mean(pt[use] - pin[use])  # intercepts of the fixed-slope (1:1 and 3:1) lines
    c_i = np.mean(pim[use] - 3 * pin[use])
    pin_x = (c_f - c_i) / 2
    oip3_x = c_f + pin_x
    ok = bool(abs(b_i - 3) <= slope_tolerance and abs(b_f - 1) <= slope_tolerance)
    where = f"pin <= {pin_max_dbm:g} dBm" if pin_max_dbm is not None else "all points"
    return Im3SlopeResult(float(b_f), float(b_i), float(oip3_x), float(pin_x), float(oip3_free),
                          pt + (pt - pim) / 2, n, ok,
                          f"least-squares lines over {n} points ({where}); OIP3/IIP3 at the "
                          f"intersection of fixed 1:1 and 3:1 lines; slope check |m_IM3-3| and "
                          f"|m_fund-1| <= {slope_tolerance:g}")


def harmonics_dbc(p_fundamental_dbm: float,
                  p_harmonics_dbm: Mapping[int, float]) -> dict[int, float]:
    """Harmonic levels ``H_n = P(n*f0) - P(f0)`` in dBc, keyed by harmonic order n >= 2 (§1.6)."""
    bad = [n for n in p_harmonics_dbm if int(n) < 2]
    if bad:
        raise ValueError(f"harmonic orders must be >= 2, got {bad}")
    return {int(n): float(p - p_fundamental_dbm) for n, p in sorted(p_harmonics_dbm.items())}
