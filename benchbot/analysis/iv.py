"""GaN HEMT I-V extraction with named methods: pure numpy, no I/O.

Definitions (rf-measurements-and-scpi.md §2.2 DC, §2.3 pulsed; §2.1 for the criteria):

- gm = dId/dVgs by a Savitzky-Golay derivative (local least-squares polynomial, evaluated at
  each point; the same as `scipy.signal.savgol_filter(deriv=1, mode="interp")` on a uniform
  grid, and still defined when compliance points leave the grid non-uniform);
- Vth, constant current: Vgs where Id crosses 1 mA/mm (log-linear interpolation between the two
  bracketing points: Id is exponential in Vgs below threshold);
- Vth, max-gm linear extrapolation: ``Vth = Vgs_gmmax - Id_gmmax / gm,max``;
- Idss: Id at Vgs = 0 V (at the curve's Vds);
- Ron = dVds/dId at Vds -> 0: least-squares line Id(Vds) over |Vds| <= 0.2 V, in Ω and Ω·mm;
- gate / drain leakage: Ig or Id at a given Vgs (interpolated);
- off-state breakdown BVds: Vds where Id first reaches 1 mA/mm;
- current collapse ``CC = (1 - Id,Q / Id,ref)·100`` at the knee (Vds ≈ 5 V, Vgs = 0 V) and the
  dynamic Ron ratio ``Ron(Q) / Ron(ref)``, from pulsed families taken from a stress quiescent
  point Q and the trap-free reference (0 V, 0 V);
- subthreshold swing SS = min dVgs/dlog10(Id) (mV/dec) between a current floor and the Vth
  criterion; Ion/Ioff = Id(Vgs,on) / |Id(Vgs,off)|.

Every function returns an `Extraction`: the value, its unit, the value normalised to the gate
width when one is given (A/mm, S/mm, Ω·mm) and the method text. Points flagged in compliance (the
SMU clamped the current, so the reading is the limit, not the device) are excluded and the method
text says how many. A value that cannot be extracted is NaN and the method text says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

VTH_CRITERION_A_PER_MM = 1e-3  # §2.1: Vth at Id = 1 mA/mm
BV_CRITERION_A_PER_MM = 1e-3  # §2.2: off-state breakdown at Id = 1 mA/mm
RON_VDS_MAX_V = 0.2  # §2.2: Ron fitted over Vds <= 0.2 V
KNEE_VDS_V = 5.0  # §2.3: collapse evaluated at the knee, Vds ≈ 5 V
NAN = math.nan


@dataclass(frozen=True)
class Extraction:
    """One extracted figure: value and unit, the gate-width-normalised value (NaN without a
    width), how it was obtained (or why it is NaN) and the conditions/companions (`at`)."""

    name: str
    value: float
    unit: str
    method: str
    per_mm: float = NAN
    per_mm_unit: str = ""
    at: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return math.isfinite(self.value)

    def as_dict(self) -> dict[str, Any]:
        """Plain types for a record's attributes / a JSON summary."""
        return {"name": self.name, "value": self.value, "unit": self.unit,
                "method": self.method, "per_mm": self.per_mm, "per_mm_unit": self.per_mm_unit,
                "at": dict(self.at)}


@dataclass(frozen=True)
class GmCurve:
    """gm(Vgs) and the smoothed Id on the input grid (NaN at excluded points)."""

    vgs_v: np.ndarray
    gm_s: np.ndarray
    id_smooth_a: np.ndarray
    method: str


# ---------------------------------------------------------------------------- helpers
def _arrays(x: ArrayLike, y: ArrayLike, compliance: ArrayLike | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Flattened x, y as floats, the mask of usable points (finite, not in compliance) and the
    method note on what was excluded."""
    xa = np.asarray(x, float).ravel()
    ya = np.asarray(y, float).ravel()
    if xa.shape != ya.shape:
        raise ValueError(f"x has {xa.size} points, y has {ya.size}")
    flagged = (np.zeros(xa.shape, bool) if compliance is None
               else np.asarray(compliance, bool).ravel())
    if flagged.shape != xa.shape:
        raise ValueError("compliance mask must have one flag per point")
    keep = np.isfinite(xa) & np.isfinite(ya) & ~flagged
    n_flag = int(flagged.sum())
    note = f"; {n_flag} point(s) in compliance excluded" if n_flag else ""
    return xa, ya, keep, note


def _width_text(gate_width_mm: float | None) -> str:
    return f" (Wg = {gate_width_mm:g} mm)" if gate_width_mm else ""


def _criterion_a(criterion_a_per_mm: float, gate_width_mm: float | None) -> float:
    return criterion_a_per_mm * (gate_width_mm if gate_width_mm else 1.0)


def _per_mm(value: float, gate_width_mm: float | None, multiply: bool = False) -> float:
    if not gate_width_mm:
        return NAN
    return value * gate_width_mm if multiply else value / gate_width_mm


def _local_poly(x: np.ndarray, y: np.ndarray, window: int, order: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Savitzky-Golay smoothing and first derivative: at each point a least-squares polynomial
    of `order` over `window` neighbours (the window slides inward at the ends)."""
    n = x.size
    w = min(window, n)
    half = w // 2
    value, deriv = np.empty(n), np.empty(n)
    for i in range(n):
        lo = min(max(i - half, 0), n - w)
        xs = x[lo:lo + w] - x[i]
        coef = np.polynomial.polynomial.polyfit(xs, y[lo:lo + w], min(order, w - 1))
        value[i] = coef[0]
        deriv[i] = coef[1] if coef.size > 1 else 0.0
    return value, deriv


def _crossing(x: np.ndarray, y: np.ndarray, level: float, log: bool) -> float:
    """x where y rises through `level`, between the last point below it before y stays above,
    interpolated linearly (in log10 y when both points are positive and `log`)."""
    above = y >= level
    if not above.any() or above.all():
        return NAN
    # first index from which y stays at or above the level
    below_idx = np.nonzero(~above)[0]
    k = int(below_idx[-1])
    if k + 1 >= y.size:  # the curve ends below the level: take its first rise instead
        rises = np.nonzero(~above[:-1] & above[1:])[0]
        if rises.size == 0:
            return NAN
        k = int(rises[0])
    y0, y1, x0, x1 = y[k], y[k + 1], x[k], x[k + 1]
    if log and y0 > 0 and y1 > 0:
        y0, y1, level = math.log10(y0), math.log10(y1), math.log10(level)
    if y1 == y0:
        return float(x0)
    return float(x0 + (level - y0) * (x1 - x0) / (y1 - y0))


def _value_at(x: np.ndarray, y: np.ndarray, at: float) -> float:
    """y at x = `at`: the point itself if measured there, else linear interpolation; NaN when
    `at` is outside the measured range."""
    if x.size == 0 or at < x.min() - 1e-12 or at > x.max() + 1e-12:
        return NAN
    exact = np.isclose(x, at, rtol=0.0, atol=1e-9)
    if exact.any():
        return float(y[np.nonzero(exact)[0][0]])
    order = np.argsort(x)
    return float(np.interp(at, x[order], y[order]))


def _sorted_kept(x: ArrayLike, y: ArrayLike, compliance: ArrayLike | None
                 ) -> tuple[np.ndarray, np.ndarray, str]:
    xa, ya, keep, note = _arrays(x, y, compliance)
    order = np.argsort(xa[keep], kind="stable")
    return xa[keep][order], ya[keep][order], note


# ---------------------------------------------------------------------------- transfer curve
def transconductance(vgs_v: ArrayLike, id_a: ArrayLike, compliance: ArrayLike | None = None,
                     window: int = 7, order: int = 2) -> GmCurve:
    """gm = dId/dVgs by a Savitzky-Golay derivative (`window` points, polynomial `order`); the
    window trades noise for resolution of the gm peak (7 points at 50 mV = 0.3 V)."""
    xa, ya, keep, note = _arrays(vgs_v, id_a, compliance)
    gm, smooth = np.full(xa.shape, NAN), np.full(xa.shape, NAN)
    idx = np.nonzero(keep)[0]
    idx = idx[np.argsort(xa[idx], kind="stable")]
    method = f"Savitzky-Golay derivative, {window}-point window, order {order}{note}"
    if idx.size < order + 2:
        return GmCurve(xa, gm, smooth, method + "; too few points")
    smooth[idx], gm[idx] = _local_poly(xa[idx], ya[idx], window, order)
    return GmCurve(xa, gm, smooth, method)


def gm_max(vgs_v: ArrayLike, id_a: ArrayLike, gate_width_mm: float | None = None,
           compliance: ArrayLike | None = None, window: int = 7, order: int = 2,
           vgs_max_v: float | None = None) -> Extraction:
    """Peak transconductance (S and S/mm), refined by a parabola through the peak and its two
    neighbours; `vgs_max_v` keeps the search below the gate-diode turn-on."""
    curve = transconductance(vgs_v, id_a, compliance, window, order)
    ok = np.isfinite(curve.gm_s)
    if vgs_max_v is not None:
        ok &= curve.vgs_v <= vgs_max_v
    if ok.sum() < 3:
        return Extraction("gm_max", NAN, "S", curve.method + "; fewer than 3 usable points",
                          per_mm_unit="S/mm")
    idx = np.nonzero(ok)[0]
    idx = idx[np.argsort(curve.vgs_v[idx])]
    x, g, s = curve.vgs_v[idx], curve.gm_s[idx], curve.id_smooth_a[idx]
    k = int(np.argmax(g))
    xk, gk = float(x[k]), float(g[k])
    if 0 < k < x.size - 1:  # parabolic vertex through (k-1, k, k+1)
        coef = np.polyfit(x[k - 1:k + 2] - x[k], g[k - 1:k + 2], 2)
        if coef[0] < 0:
            dx = float(np.clip(-coef[1] / (2 * coef[0]), x[k - 1] - x[k], x[k + 1] - x[k]))
            xk, gk = xk + dx, float(np.polyval(coef, dx))
    id_k = float(np.interp(xk, x, s))
    method = curve.method + "; peak refined by a 3-point parabola"
    return Extraction("gm_max", gk, "S", method, _per_mm(gk, gate_width_mm), "S/mm",
                      {"vgs_at_gm_max_v": xk, "id_at_gm_max_a": id_k})


def vth_constant_current(vgs_v: ArrayLike, id_a: ArrayLike, gate_width_mm: float | None = None,
                         criterion_a_per_mm: float = VTH_CRITERION_A_PER_MM,
                         compliance: ArrayLike | None = None) -> Extraction:
    """Vth at Id = criterion (1 mA/mm; per device when no width is given)."""
    x, y, note = _sorted_kept(vgs_v, id_a, compliance)
    level = _criterion_a(criterion_a_per_mm, gate_width_mm)
    unit_text = (f"{criterion_a_per_mm * 1e3:g} mA/mm{_width_text(gate_width_mm)}"
                 if gate_width_mm else f"{level * 1e3:g} mA (no gate width given)")
    method = (f"constant current: Vgs at Id = {unit_text}, log-linear interpolation between "
              f"the bracketing points{note}")
    value = _crossing(x, y, level, log=True)
    if not math.isfinite(value):
        why = ("Id never reaches the criterion" if x.size == 0 or np.nanmax(y) < level
               else "Id is above the criterion over the whole sweep (no pinch-off)")
        method += f"; no crossing: {why}"
    return Extraction("vth_cc", value, "V", method, at={"criterion_a": level})


def vth_max_gm(vgs_v: ArrayLike, id_a: ArrayLike, gate_width_mm: float | None = None,
               compliance: ArrayLike | None = None, window: int = 7, order: int = 2,
               vgs_max_v: float | None = None) -> Extraction:
    """Vth by linear extrapolation at the gm peak: ``Vgs_gmmax - Id_gmmax / gm,max``."""
    g = gm_max(vgs_v, id_a, gate_width_mm, compliance, window, order, vgs_max_v)
    method = "max-gm linear extrapolation Vth = Vgs_gmmax - Id_gmmax/gm,max; gm: " + g.method
    if not g.ok or g.value <= 0:
        return Extraction("vth_gm", NAN, "V", method + "; no positive gm peak")
    value = g.at["vgs_at_gm_max_v"] - g.at["id_at_gm_max_a"] / g.value
    return Extraction("vth_gm", value, "V", method, at={**g.at, "gm_max_s": g.value})


def idss(vgs_v: ArrayLike, id_a: ArrayLike, gate_width_mm: float | None = None,
         vds_v: float | None = None, compliance: ArrayLike | None = None) -> Extraction:
    """Drain current at Vgs = 0 V of a transfer curve (at its Vds)."""
    xa, ya, keep, note = _arrays(vgs_v, id_a, compliance)
    where = f" at Vds = {vds_v:g} V" if vds_v is not None else ""
    method = f"Id at Vgs = 0 V{where} (linear interpolation if 0 V is not a point){note}"
    at = {"vds_v": float(vds_v)} if vds_v is not None else {}
    if xa.size and not keep[np.isclose(xa, 0.0, atol=1e-9)].all():
        return Extraction("idss", NAN, "A", method + "; the Vgs = 0 V point is in compliance "
                          "(Idss above the current limit)", per_mm_unit="A/mm", at=at)
    value = _value_at(xa[keep], ya[keep], 0.0)
    if not math.isfinite(value):
        method += "; Vgs = 0 V is outside the measured range"
    return Extraction("idss", value, "A", method, _per_mm(value, gate_width_mm), "A/mm", at)


def subthreshold_swing(vgs_v: ArrayLike, id_a: ArrayLike, gate_width_mm: float | None = None,
                       floor_a_per_mm: float = 1e-5,
                       ceiling_a_per_mm: float = VTH_CRITERION_A_PER_MM,
                       compliance: ArrayLike | None = None, window: int = 5) -> Extraction:
    """Minimum of dVgs/dlog10(Id) (mV/dec) between the floor (above leakage and noise) and
    the ceiling (the Vth criterion), from `window`-point line fits of log10 Id."""
    x, y, note = _sorted_kept(vgs_v, id_a, compliance)
    lo = _criterion_a(floor_a_per_mm, gate_width_mm)
    hi = _criterion_a(ceiling_a_per_mm, gate_width_mm)
    sel = (y > lo) & (y < hi)
    method = (f"min dVgs/dlog10(Id) over {window}-point line fits, Id between {lo:.3g} A and "
              f"{hi:.3g} A{_width_text(gate_width_mm)}{note}")
    if sel.sum() < window:
        return Extraction("subthreshold_swing", NAN, "mV/dec", method + f"; fewer than {window}"
                          " points in the subthreshold window")
    xs, ly = x[sel], np.log10(y[sel])
    best, best_v = NAN, NAN
    for i in range(xs.size - window + 1):
        slope = np.polyfit(xs[i:i + window], ly[i:i + window], 1)[0]
        if slope > 0 and not (1e3 / slope >= best):
            best, best_v = 1e3 / slope, float(np.mean(xs[i:i + window]))
    if not math.isfinite(best):
        method += "; log10(Id) does not rise with Vgs"
    return Extraction("subthreshold_swing", best, "mV/dec", method, at={"vgs_v": best_v})


def ion_ioff(vgs_v: ArrayLike, id_a: ArrayLike, vgs_on_v: float | None = None,
             vgs_off_v: float | None = None, compliance: ArrayLike | None = None
             ) -> Extraction:
    """Ion/Ioff = Id(Vgs,on) / |Id(Vgs,off)| (defaults: highest and lowest measured Vgs);
    `at` also gives the ratio in decades."""
    x, y, note = _sorted_kept(vgs_v, id_a, compliance)
    if x.size < 2:
        return Extraction("ion_ioff", NAN, "", "Ion/Ioff; fewer than 2 usable points" + note)
    v_on = float(x[-1]) if vgs_on_v is None else vgs_on_v
    v_off = float(x[0]) if vgs_off_v is None else vgs_off_v
    i_on, i_off = _value_at(x, y, v_on), abs(_value_at(x, y, v_off))
    method = f"Id(Vgs = {v_on:g} V) / |Id(Vgs = {v_off:g} V)|{note}"
    at = {"ion_a": i_on, "ioff_a": i_off, "vgs_on_v": v_on, "vgs_off_v": v_off}
    if not (math.isfinite(i_on) and math.isfinite(i_off)) or i_off == 0:
        return Extraction("ion_ioff", NAN, "", method + "; on or off point missing or Ioff = 0",
                          at=at)
    ratio = i_on / i_off
    at["decades"] = math.log10(ratio) if ratio > 0 else NAN
    return Extraction("ion_ioff", ratio, "", method, at=at)


# ---------------------------------------------------------------------------- output curves
def on_resistance(vds_v: ArrayLike, id_a: ArrayLike, gate_width_mm: float | None = None,
                  vds_max_v: float = RON_VDS_MAX_V, vgs_v: float | None = None,
                  compliance: ArrayLike | None = None) -> Extraction:
    """Ron = dVds/dId at Vds -> 0: 1/slope of a least-squares line Id(Vds) over |Vds| <=
    `vds_max_v` (Vds is the set variable, the noise is in Id); Ω and Ω·mm."""
    xa, ya, keep, note = _arrays(vds_v, id_a, compliance)
    sel = keep & (np.abs(xa) <= vds_max_v + 1e-12)
    gate = f" at Vgs = {vgs_v:g} V" if vgs_v is not None else ""
    method = (f"linear fit of Id(Vds) over |Vds| <= {vds_max_v:g} V{gate}, Ron = 1/slope "
              f"({int(sel.sum())} points){note}")
    at = {"vgs_v": float(vgs_v)} if vgs_v is not None else {}
    if sel.sum() < 2 or np.ptp(xa[sel]) == 0:
        return Extraction("ron", NAN, "Ω", method + "; fewer than 2 distinct points in the "
                          "fit range", per_mm_unit="Ω·mm", at=at)
    slope = float(np.polyfit(xa[sel], ya[sel], 1)[0])
    if slope <= 0:
        return Extraction("ron", NAN, "Ω", method + "; non-positive slope (channel off?)",
                          per_mm_unit="Ω·mm", at=at)
    value = 1.0 / slope
    return Extraction("ron", value, "Ω", method, _per_mm(value, gate_width_mm, True), "Ω·mm",
                      at)


def _leakage(name: str, vgs_v: ArrayLike, i_a: ArrayLike, at_vgs_v: float,
             gate_width_mm: float | None, vds_v: float | None,
             compliance: ArrayLike | None) -> Extraction:
    xa, ya, keep, note = _arrays(vgs_v, i_a, compliance)
    terminal = "Ig" if name == "gate_leakage" else "Id"
    where = f", Vds = {vds_v:g} V" if vds_v is not None else ""
    method = f"{terminal} at Vgs = {at_vgs_v:g} V{where} (interpolated if not a point){note}"
    value = _value_at(xa[keep], ya[keep], at_vgs_v)
    if not math.isfinite(value):
        method += f"; Vgs = {at_vgs_v:g} V is outside the usable range"
    at = {"vgs_v": at_vgs_v} | ({"vds_v": float(vds_v)} if vds_v is not None else {})
    return Extraction(name, value, "A", method, _per_mm(value, gate_width_mm), "A/mm", at)


def gate_leakage(vgs_v: ArrayLike, ig_a: ArrayLike, at_vgs_v: float,
                 gate_width_mm: float | None = None, vds_v: float | None = None,
                 compliance: ArrayLike | None = None) -> Extraction:
    """Gate current at a given Vgs (signed: negative = reverse leakage out of the gate)."""
    return _leakage("gate_leakage", vgs_v, ig_a, at_vgs_v, gate_width_mm, vds_v, compliance)


def drain_leakage(vgs_v: ArrayLike, id_a: ArrayLike, at_vgs_v: float,
                  gate_width_mm: float | None = None, vds_v: float | None = None,
                  compliance: ArrayLike | None = None) -> Extraction:
    """Drain current at a given (off-state) Vgs."""
    return _leakage("drain_leakage", vgs_v, id_a, at_vgs_v, gate_width_mm, vds_v, compliance)


def breakdown_voltage(vds_v: ArrayLike, id_a: ArrayLike, gate_width_mm: float | None = None,
                      criterion_a_per_mm: float = BV_CRITERION_A_PER_MM,
                      vgs_v: float | None = None, compliance: ArrayLike | None = None
                      ) -> Extraction:
    """Off-state BVds: Vds where Id first reaches the criterion (log-linear interpolation). A
    compliance point whose read-back current is at or above the criterion closes the bracket
    (the SMU read the device at Id = limit); otherwise, if the sweep hit compliance before a
    measured point reached the criterion, BV is NaN and `at` brackets it (`bv_above_v`,
    `bv_at_most_v`): set the compliance above the criterion."""
    xa, ya, keep, note = _arrays(vds_v, id_a, compliance)
    level = _criterion_a(criterion_a_per_mm, gate_width_mm)
    gate = f" at Vgs = {vgs_v:g} V" if vgs_v is not None else ""
    method = (f"off-state breakdown: first Vds{gate} where Id >= {criterion_a_per_mm * 1e3:g} "
              f"mA/mm{_width_text(gate_width_mm)}, log-linear interpolation{note}")
    at: dict[str, float] = {"criterion_a": level}
    if vgs_v is not None:
        at["vgs_v"] = float(vgs_v)
    order = np.argsort(xa, kind="stable")
    xs, ys, ks = xa[order], ya[order], keep[order]
    hits = np.nonzero(ks & (ys >= level))[0]
    flagged = np.nonzero(~ks & np.isfinite(xs))[0]
    first_flag = int(flagged[0]) if flagged.size else xs.size
    if hits.size and int(hits[0]) < first_flag:
        k = int(hits[0])
        prev = np.nonzero(ks[:k])[0]
        if prev.size == 0:
            return Extraction("bv", NAN, "V", method + "; Id is above the criterion at the "
                              "first point", at=at)
        value = _crossing(xs[[prev[-1], k]], ys[[prev[-1], k]], level, log=True)
        return Extraction("bv", value, "V", method, at=at)
    usable = np.nonzero(ks[:first_flag])[0]
    if (first_flag < xs.size and usable.size and np.isfinite(ys[first_flag])
            and ys[first_flag] >= level):
        # a voltage source in compliance backs off to where Id equals its limit: the read-back
        # (V, I) is still a point of the device's curve, above the criterion
        pair = [int(usable[-1]), first_flag]
        value = _crossing(xs[pair], ys[pair], level, log=True)
        return Extraction("bv", value, "V", method + "; the criterion lies between the last "
                          "point below it and the compliance point (read back at Id = limit)",
                          at=at)
    if first_flag < xs.size:
        at["bv_at_most_v"] = float(xs[first_flag])
        if usable.size:
            at["bv_above_v"] = float(xs[usable[-1]])
        return Extraction("bv", NAN, "V", method + f"; compliance at Vds = {xs[first_flag]:g} V "
                          "before a measured point reached the criterion", at=at)
    if usable.size:
        at["bv_above_v"] = float(xs[usable[-1]])
    return Extraction("bv", NAN, "V", method + "; criterion not reached within the sweep "
                      f"(BV > {xs[usable[-1]] if usable.size else NAN:g} V)", at=at)


# ---------------------------------------------------------------------------- pulsed I-V
def _curve_of(vgs_steps_v: ArrayLike, vds_v: ArrayLike, id_a: ArrayLike, vgs_v: float,
              compliance: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                                                    float]:
    """The Id(Vds) row of a family (n_vgs × n_vds, or a single curve) at the step nearest to
    `vgs_v`, with its compliance row and the Vgs actually used."""
    ids = np.atleast_2d(np.asarray(id_a, float))
    steps = np.atleast_1d(np.asarray(vgs_steps_v, float))
    if steps.size != ids.shape[0]:
        raise ValueError(f"{steps.size} Vgs steps for {ids.shape[0]} curves")
    row = int(np.argmin(np.abs(steps - vgs_v)))
    vds = np.asarray(vds_v, float)
    vds_row = vds[row] if vds.ndim == 2 else vds
    comp = None if compliance is None else np.atleast_2d(np.asarray(compliance, bool))[row]
    return vds_row, ids[row], comp, float(steps[row])


def current_collapse(vgs_steps_v: ArrayLike, vds_v: ArrayLike, id_ref_a: ArrayLike,
                     id_stress_a: ArrayLike, vgs_v: float = 0.0, knee_vds_v: float = KNEE_VDS_V,
                     compliance_ref: ArrayLike | None = None,
                     compliance_stress: ArrayLike | None = None,
                     q_ref: str = "(0 V, 0 V)", q_stress: str = "stress Q") -> Extraction:
    """CC[%] = (1 - Id,pulsed(Q = stress) / Id,pulsed(Q = ref))·100 at the knee (§2.3), from two
    pulsed families on the same grid (n_vgs × n_vds; Vgs step nearest to `vgs_v`)."""
    x_r, y_r, c_r, v_used = _curve_of(vgs_steps_v, vds_v, id_ref_a, vgs_v, compliance_ref)
    x_s, y_s, c_s, _ = _curve_of(vgs_steps_v, vds_v, id_stress_a, vgs_v, compliance_stress)
    xr, yr, note_r = _sorted_kept(x_r, y_r, c_r)
    xs, ys, note_s = _sorted_kept(x_s, y_s, c_s)
    method = (f"CC = (1 - Id(Q={q_stress}) / Id(Q={q_ref}))·100 at Vgs = {v_used:g} V, "
              f"Vds = {knee_vds_v:g} V (knee), pulsed{note_r}{note_s}")
    i_ref, i_q = _value_at(xr, yr, knee_vds_v), _value_at(xs, ys, knee_vds_v)
    at = {"vgs_v": v_used, "vds_v": knee_vds_v, "id_ref_a": i_ref, "id_stress_a": i_q}
    if not (math.isfinite(i_ref) and math.isfinite(i_q)) or i_ref <= 0:
        return Extraction("current_collapse", NAN, "%", method + "; knee point missing (outside "
                          "the sweep or in compliance) or Id,ref <= 0", at=at)
    return Extraction("current_collapse", (1.0 - i_q / i_ref) * 100.0, "%", method, at=at)


def dynamic_ron_ratio(vgs_steps_v: ArrayLike, vds_v: ArrayLike, id_ref_a: ArrayLike,
                      id_stress_a: ArrayLike, vgs_v: float = 0.0,
                      vds_max_v: float = RON_VDS_MAX_V, gate_width_mm: float | None = None,
                      compliance_ref: ArrayLike | None = None,
                      compliance_stress: ArrayLike | None = None,
                      q_ref: str = "(0 V, 0 V)", q_stress: str = "stress Q") -> Extraction:
    """Ron,dyn / Ron,static = Ron(Q = stress) / Ron(Q = ref) (§2.3), each by `on_resistance`."""
    x_r, y_r, c_r, v_used = _curve_of(vgs_steps_v, vds_v, id_ref_a, vgs_v, compliance_ref)
    x_s, y_s, c_s, _ = _curve_of(vgs_steps_v, vds_v, id_stress_a, vgs_v, compliance_stress)
    r_ref = on_resistance(x_r, y_r, gate_width_mm, vds_max_v, v_used, c_r)
    r_q = on_resistance(x_s, y_s, gate_width_mm, vds_max_v, v_used, c_s)
    method = (f"Ron(Q={q_stress}) / Ron(Q={q_ref}), pulsed, each Ron: {r_ref.method}"
              + ("" if r_q.method == r_ref.method else f" | stress: {r_q.method}"))
    at = {"vgs_v": v_used, "ron_ref_ohm": r_ref.value, "ron_stress_ohm": r_q.value}
    if not (r_ref.ok and r_q.ok):
        return Extraction("dynamic_ron_ratio", NAN, "", method + "; a Ron could not be "
                          "extracted", at=at)
    return Extraction("dynamic_ron_ratio", r_q.value / r_ref.value, "", method, at=at)
