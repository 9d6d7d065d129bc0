"""Power-sweep analysis of an amplifier at one frequency: pure numpy, no I/O.

Definitions (rf-measurements-and-scpi.md §1.1; all powers at the DUT reference planes):

- gain ``G = Pout - Pin`` (dB); small-signal gain ``G0`` = mean of G over ``Pin <= threshold``;
- OP1dB: ``Pout`` where ``G(Pin) = G0 - 1 dB``, found by linear interpolation between the two
  sweep points that bracket the first crossing, never the nearest point;
  ``IP1dB = OP1dB - (G0 - 1)``;
- Psat: maximum ``Pout`` over the sweep;
- drain efficiency ``eta_D = Pout / P_DC``; ``PAE = (Pout - Pin) / P_DC`` (linear W, in %);
- AM-PM ``dPhi(Pin) = phase(Pin) - phase(small signal)``, degrees, after unwrapping.

The compression is interpolated in ``Pin`` (dBm): ``G0 - G(Pin)`` is smooth and monotonic there
(for a Rapp amplifier its curvature at 1 dB is small), whereas ``Pout`` flattens towards
saturation and would make an inverse interpolation ill-conditioned. Because ``Pin`` and ``G`` are
interpolated with the same fraction, ``OP1dB = IP1dB + G0 - 1`` holds exactly.

A metric that cannot be computed is NaN and ``notes[metric]`` says why (no 1 dB compression
within the sweep, fewer than two small-signal points, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

#: the per-frequency metrics this module extracts, with their units (same names as the plan's)
METRIC_UNITS: dict[str, str] = {
    "small_signal_gain_db": "dB",
    "p1db_output_dbm": "dBm",
    "p1db_input_dbm": "dBm",
    "psat_dbm": "dBm",
    "pae_at_p1db_pct": "%",
    "drain_efficiency_at_p1db_pct": "%",
    "drain_efficiency_at_psat_pct": "%",
    "pae_max_pct": "%",
    "am_pm_at_p1db_deg": "deg",
}
_EFFICIENCY = ("pae_at_p1db_pct", "drain_efficiency_at_p1db_pct",
               "drain_efficiency_at_psat_pct", "pae_max_pct")
_TOL_DB = 1e-9  # float round-off allowance when comparing sweep levels with a threshold


class MetricValue(NamedTuple):
    """A metric's value, unit and how it was obtained (method, and why it is NaN if it is)."""

    value: float
    unit: str
    method: str


@dataclass(frozen=True)
class PowerSweepMetrics:
    """Everything extracted from one frequency's sweep; arrays are per sweep point."""

    pin_dbm: np.ndarray
    pout_dbm: np.ndarray
    gain_db: np.ndarray
    dc_power_w: np.ndarray | None
    drain_efficiency_pct: np.ndarray | None
    pae_pct: np.ndarray | None
    am_pm_deg: np.ndarray | None
    small_signal_gain_db: float
    small_signal_points: int
    p1db_output_dbm: float
    p1db_input_dbm: float
    psat_dbm: float
    psat_input_dbm: float
    drain_efficiency_at_p1db_pct: float
    pae_at_p1db_pct: float
    drain_efficiency_at_psat_pct: float
    pae_max_pct: float
    am_pm_at_p1db_deg: float
    method: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def measured_metrics(self) -> tuple[str, ...]:
        """Metric names that were measured (efficiencies need P_DC, AM-PM needs phase)."""
        names = list(METRIC_UNITS)
        if self.dc_power_w is None:
            names = [n for n in names if n not in _EFFICIENCY]
        if self.am_pm_deg is None:
            names.remove("am_pm_at_p1db_deg")
        return tuple(names)

    def to_metrics(self) -> dict[str, MetricValue]:
        """Metric name -> (value, unit, method incl. any note) for every measured metric."""
        out = {}
        for name in self.measured_metrics():
            text = self.method[name]
            if name in self.notes:
                text += f"; {self.notes[name]}"
            out[name] = MetricValue(float(getattr(self, name)), METRIC_UNITS[name], text)
        return out


def _vector(name: str, values: ArrayLike, n: int | None = None) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if n is not None and a.size != n:
        raise ValueError(f"{name} has {a.size} points, pin_dbm has {n}")
    return a


def _bracket(compression_db: np.ndarray, level_db: float) -> tuple[int, float] | None:
    """(k, t) with the first crossing of ``level_db`` between points k-1 and k at fraction t."""
    above = np.flatnonzero(compression_db >= level_db)
    if above.size == 0 or above[0] == 0:
        return None
    k = int(above[0])
    c0, c1 = compression_db[k - 1], compression_db[k]
    return k, float((level_db - c0) / (c1 - c0))


def _at(values: np.ndarray, k: int, t: float) -> float:
    return float(values[k - 1] + t * (values[k] - values[k - 1]))


def dbm_to_w(p_dbm: ArrayLike) -> np.ndarray:
    """dBm -> W."""
    return 10.0 ** ((np.asarray(p_dbm, dtype=float) - 30.0) / 10.0)


def analyse_power_sweep(
    pin_dbm: ArrayLike,
    pout_dbm: ArrayLike,
    dc_power_w: ArrayLike | None,
    small_signal_max_input_dbm: float,
    phase_deg: ArrayLike | None = None,
) -> PowerSweepMetrics:
    """Extract gain, G0, P1dB, Psat, efficiencies and AM-PM from one frequency's sweep.

    ``pin_dbm`` (strictly increasing) and ``pout_dbm`` are at the DUT planes; ``dc_power_w`` is
    the total DC power of the DUT rails at each point (None: efficiencies not measured);
    ``phase_deg`` the output phase at each point (None: AM-PM not measured).
    """
    pin = _vector("pin_dbm", pin_dbm)
    n = pin.size
    pout = _vector("pout_dbm", pout_dbm, n)
    if n < 2:
        raise ValueError("a power sweep needs at least 2 points")
    if not (np.all(np.isfinite(pin)) and np.all(np.isfinite(pout))):
        raise ValueError("pin_dbm and pout_dbm must be finite")
    if np.any(np.diff(pin) <= 0):
        raise ValueError("pin_dbm must be strictly increasing")
    thr = float(small_signal_max_input_dbm)
    gain = pout - pin
    small = pin <= thr + _TOL_DB
    n_small = int(small.sum())
    notes: dict[str, str] = {}
    nan = float("nan")

    g0_text = f"G0 = mean over Pin <= {thr:g} dBm"
    method = {
        "small_signal_gain_db": f"G0 = mean of G = Pout - Pin over the {n_small} points with "
        f"Pin <= {thr:g} dBm",
        "p1db_output_dbm": "OP1dB by linear interpolation of G(Pin) at G0 - 1 dB between the "
        f"points bracketing the first crossing; {g0_text}",
        "p1db_input_dbm": f"IP1dB = OP1dB - (G0 - 1 dB); {g0_text}",
        "psat_dbm": "Psat = maximum measured Pout over the sweep",
        "pae_at_p1db_pct": "PAE = (Pout - Pin) / P_DC (W) at P1dB; P_DC interpolated in Pin",
        "drain_efficiency_at_p1db_pct": "eta_D = Pout / P_DC (W) at P1dB; P_DC interpolated in Pin",
        "drain_efficiency_at_psat_pct": "eta_D = Pout / P_DC (W) at the Psat point",
        "pae_max_pct": "maximum over the sweep of PAE = (Pout - Pin) / P_DC (W)",
        "am_pm_at_p1db_deg": "|dPhi| at P1dB, dPhi = unwrapped output phase - its mean over "
        f"Pin <= {thr:g} dBm, interpolated in Pin",
    }

    g0 = float(np.mean(gain[small])) if n_small >= 2 else nan
    if n_small < 2:
        notes["small_signal_gain_db"] = (
            f"not computed: {n_small} point(s) with Pin <= {thr:g} dBm, G0 needs >= 2")
    compression = g0 - gain
    crossing = _bracket(compression, 1.0) if n_small >= 2 else None
    ip1, op1 = nan, nan
    if crossing is not None:
        k, t = crossing
        ip1 = _at(pin, k, t)
        op1 = ip1 + g0 - 1.0
    else:
        if n_small < 2:
            why = "not computed: no G0"
        elif compression[0] >= 1.0:
            why = "not computed: gain already compressed by >= 1 dB at the first point"
        else:
            j = int(np.argmax(compression))
            why = (f"not computed: no 1 dB compression within the sweep (at most "
                   f"{compression[j]:.2f} dB, at Pin = {pin[j]:g} dBm)")
        notes["p1db_output_dbm"] = notes["p1db_input_dbm"] = why

    jsat = int(np.argmax(pout))
    method["psat_dbm"] += f" (at Pin = {pin[jsat]:g} dBm)"
    if jsat == n - 1:
        notes["psat_dbm"] = "maximum at the last sweep point: the DUT may not be saturated"

    pdc = de = pae = None
    de_p1 = pae_p1 = de_sat = pae_max = nan
    if dc_power_w is not None:
        pdc = _vector("dc_power_w", dc_power_w, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            valid = np.isfinite(pdc) & (pdc > 0)
            safe = np.where(valid, pdc, np.nan)
            de = 100.0 * dbm_to_w(pout) / safe
            pae = 100.0 * (dbm_to_w(pout) - dbm_to_w(pin)) / safe
        if not valid.all():
            for m in _EFFICIENCY:
                notes[m] = f"P_DC missing or <= 0 at {int((~valid).sum())} point(s)"
        de_sat = float(de[jsat])
        pae_max = float(np.nanmax(pae)) if np.any(np.isfinite(pae)) else nan
        if np.any(np.isfinite(pae)):
            method["pae_max_pct"] += f" (at Pin = {pin[int(np.nanargmax(pae))]:g} dBm)"
        if crossing is not None:
            pdc_p1 = _at(pdc, *crossing)
            de_p1 = 100.0 * float(dbm_to_w(op1)) / pdc_p1
            pae_p1 = 100.0 * float(dbm_to_w(op1) - dbm_to_w(ip1)) / pdc_p1
        else:
            notes["pae_at_p1db_pct"] = notes["drain_efficiency_at_p1db_pct"] = "no P1dB"

    am_pm = None
    am_pm_p1 = nan
    if phase_deg is not None:
        phase = np.unwrap(_vector("phase_deg", phase_deg, n), period=360.0)
        am_pm = phase - float(np.mean(phase[small])) if n_small else np.full(n, nan)
        if crossing is not None:
            am_pm_p1 = abs(_at(am_pm, *crossing))
        else:
            notes["am_pm_at_p1db_deg"] = "no P1dB"

    return PowerSweepMetrics(
        pin_dbm=pin, pout_dbm=pout, gain_db=gain, dc_power_w=pdc,
        drain_efficiency_pct=de, pae_pct=pae, am_pm_deg=am_pm,
        small_signal_gain_db=g0, small_signal_points=n_small,
        p1db_output_dbm=op1, p1db_input_dbm=ip1,
        psat_dbm=float(pout[jsat]), psat_input_dbm=float(pin[jsat]),
        drain_efficiency_at_p1db_pct=de_p1, pae_at_p1db_pct=pae_p1,
        drain_efficiency_at_psat_pct=de_sat, pae_max_pct=pae_max,
        am_pm_at_p1db_deg=am_pm_p1, method=method, notes=notes,
    )


def gain_flatness(small_signal_gain_db: ArrayLike) -> MetricValue:
    """Gain flatness over a step's frequencies: peak-to-peak of G0 (dB); NaN if < 2 values."""
    g0 = np.asarray(small_signal_gain_db, dtype=float).ravel()
    method = f"gain flatness = max - min of G0 over {g0.size} frequencies"
    if g0.size < 2 or not np.all(np.isfinite(g0)):
        return MetricValue(float("nan"), "dB",
                           method + "; not computed: needs G0 at >= 2 frequencies")
    return MetricValue(float(g0.max() - g0.min()), "dB", method)
