"""S-parameter analysis on scikit-rf ``Network``s: gain, return loss, isolation, group delay,
flatness, stability (Rollett K, Edwards–Sinsky μ/μ'), filter passband and rejection.

Definitions (reference §1.8): ``S_ij = b_i/a_j`` with the other ports matched; return loss
``RL = -20·log10|S_ii|``; isolation and insertion loss ``-20·log10|S_ij|`` (positive dB);
group delay ``τ = -dφ_21/dω``; filter rejection ``IL(f) - IL_passband,min``.

Ports are 1-based in the network's matrix order (port k = row/column k-1). A band is a
``(start_hz, stop_hz)`` pair or any object with ``start_hz``/``stop_hz`` (a plan model);
band edges are inclusive. Pure numpy/skrf: no instruments, no files.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import numpy as np
import skrf
from numpy.typing import ArrayLike

Band = tuple[float, float]


class Extreme(NamedTuple):
    """A worst-case value and the frequency where it occurs (NaN, NaN if there is none)."""

    value: float
    frequency_hz: float


class Stability(NamedTuple):
    """Per-frequency stability factors of a 2-port (reference §1.8)."""

    k: np.ndarray  # Rollett K; unconditionally stable if K > 1 and |Δ| < 1
    mu: np.ndarray  # Edwards–Sinsky μ (load side); μ > 1 alone is sufficient
    mu_prime: np.ndarray  # μ' (source side: μ with the ports swapped)
    delta_abs: np.ndarray  # |Δ| = |S11·S22 - S12·S21|


# --------------------------------------------------------------------------- construction
def to_network(frequency_hz: ArrayLike, s: ArrayLike, z0_ohm: float | ArrayLike = 50.0,
               name: str = "") -> skrf.Network:
    """A ``Network`` from frequencies (Hz) and an (F, n, n) complex S-matrix (an (F,) array is
    a 1-port); ``z0_ohm`` scalar or per port."""
    f = np.asarray(frequency_hz, dtype=float)
    sm = np.asarray(s, dtype=complex)
    if sm.ndim == 1:
        sm = sm[:, None, None]
    if f.ndim != 1 or sm.ndim != 3 or sm.shape[0] != f.size or sm.shape[1] != sm.shape[2]:
        raise ValueError(f"need frequency (F,) and s (F, n, n); got {f.shape} and {sm.shape}")
    frequency = skrf.Frequency.from_f(f, unit="Hz")
    return skrf.Network(frequency=frequency, s=sm, z0=z0_ohm, name=name)


def _sij(ntwk: skrf.Network, out_port: int, in_port: int) -> np.ndarray:
    n = ntwk.nports
    for port in (out_port, in_port):
        if not 1 <= port <= n:
            raise ValueError(f"port {port} is not one of the network's ports 1..{n}")
    return ntwk.s[:, out_port - 1, in_port - 1]


def _db20(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(np.abs(x))


# --------------------------------------------------------------------------- per frequency
def gain_db(ntwk: skrf.Network, out_port: int, in_port: int) -> np.ndarray:
    """``20·log10|S_out,in|`` per frequency (dB; negative for a loss)."""
    return _db20(_sij(ntwk, out_port, in_port))


def return_loss_db(ntwk: skrf.Network, port: int) -> np.ndarray:
    """``-20·log10|S_port,port|`` per frequency (positive dB)."""
    return -_db20(_sij(ntwk, port, port))


def isolation_db(ntwk: skrf.Network, to_port: int, from_port: int) -> np.ndarray:
    """``-20·log10|S_to,from|`` per frequency (positive dB); also a path's insertion loss."""
    return -_db20(_sij(ntwk, to_port, from_port))


def insertion_loss_db(ntwk: skrf.Network, out_port: int, in_port: int) -> np.ndarray:
    """``-20·log10|S_out,in|`` per frequency (positive dB for a passive path)."""
    return -_db20(_sij(ntwk, out_port, in_port))


def group_delay_s(ntwk: skrf.Network, out_port: int, in_port: int) -> np.ndarray:
    """``τ = -dφ/dω`` of ``S_out,in`` (s): phase unwrapped along frequency, derivative by
    second-order central differences (one-sided at the ends), as scikit-rf's
    ``Network.group_delay``. The phase step between points must stay below π for the unwrap
    to hold (points spacing < 1/(2τ))."""
    phase_rad = np.unwrap(np.angle(_sij(ntwk, out_port, in_port)))
    omega = 2.0 * np.pi * np.asarray(ntwk.frequency.f, dtype=float)
    if omega.size < 2:
        return np.full(omega.shape, np.nan)
    return -np.gradient(phase_rad, omega)


def stability(ntwk: skrf.Network) -> Stability:
    """Rollett K, Edwards–Sinsky μ and μ', |Δ| of a 2-port, per frequency (reference §1.8):

    ``Δ = S11·S22 - S12·S21``; ``K = (1 - |S11|² - |S22|² + |Δ|²) / (2·|S12·S21|)``;
    ``μ = (1 - |S11|²) / (|S22 - Δ·S11*| + |S12·S21|)``; μ' with ports 1 and 2 swapped.
    A unilateral network (S12·S21 = 0) has K = +inf.
    """
    if ntwk.nports != 2:
        raise ValueError(f"stability factors need a 2-port, not a {ntwk.nports}-port")
    s11, s12, s21, s22 = (ntwk.s[:, i, j] for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))
    delta = s11 * s22 - s12 * s21
    loop = np.abs(s12 * s21)
    num_k = 1.0 - np.abs(s11) ** 2 - np.abs(s22) ** 2 + np.abs(delta) ** 2
    k = np.divide(num_k, 2.0 * loop, out=np.full(num_k.shape, np.inf), where=loop != 0)
    mu = _mu(s11, s22, delta, loop)
    mu_prime = _mu(s22, s11, delta, loop)
    return Stability(k, mu, mu_prime, np.abs(delta))


def _mu(s_in: np.ndarray, s_out: np.ndarray, delta: np.ndarray, loop: np.ndarray
        ) -> np.ndarray:
    num = 1.0 - np.abs(s_in) ** 2
    den = np.abs(s_out - delta * np.conj(s_in)) + loop
    return np.divide(num, den, out=np.full(num.shape, np.inf), where=den != 0)


def band_mask(frequency_hz: ArrayLike, start_hz: float, stop_hz: float) -> np.ndarray:
    """True where ``start_hz <= f <= stop_hz``."""
    f = np.asarray(frequency_hz, dtype=float)
    return (f >= start_hz) & (f <= stop_hz)


def band_edges(band: Any) -> Band:
    """``(start_hz, stop_hz)`` of a pair or of an object/mapping with ``start_hz``/``stop_hz``."""
    if isinstance(band, dict):
        return float(band["start_hz"]), float(band["stop_hz"])
    if hasattr(band, "start_hz"):
        return float(band.start_hz), float(band.stop_hz)
    start, stop = band
    return float(start), float(stop)


def in_band(ntwk: skrf.Network, band: Any) -> np.ndarray:
    """Boolean mask of the network's frequencies inside ``band``."""
    return band_mask(ntwk.frequency.f, *band_edges(band))


# --------------------------------------------------------------------------- summaries
def flatness_db(values: ArrayLike) -> float:
    """Peak-to-peak of the finite values (NaN if none): gain flatness, ripple, GD variation."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.max() - v.min()) if v.size else math.nan


def worst(values: ArrayLike, frequency_hz: ArrayLike, which: Literal["min", "max"]) -> Extreme:
    """The smallest (``"min"``) or largest (``"max"``) finite value and its frequency."""
    v = np.asarray(values, dtype=float)
    f = np.asarray(frequency_hz, dtype=float)
    if v.shape != f.shape:
        raise ValueError(f"values {v.shape} and frequencies {f.shape} differ in shape")
    if which not in ("min", "max"):
        raise ValueError(f"which must be 'min' or 'max', not {which!r}")
    ok = np.isfinite(v)
    if not ok.any():
        return Extreme(math.nan, math.nan)
    masked = np.where(ok, v, np.inf if which == "min" else -np.inf)
    i = int(np.argmin(masked) if which == "min" else np.argmax(masked))
    return Extreme(float(v[i]), float(f[i]))


def worst_in_band(values: ArrayLike, frequency_hz: ArrayLike, band: Any,
                  which: Literal["min", "max"]) -> Extreme:
    """:func:`worst` over the points inside ``band``."""
    f = np.asarray(frequency_hz, dtype=float)
    inside = band_mask(f, *band_edges(band))
    return worst(np.asarray(values, dtype=float)[inside], f[inside], which)


# --------------------------------------------------------------------------- filters
def passband_insertion_loss_db(ntwk: skrf.Network, band: Any, out_port: int = 2,
                               in_port: int = 1) -> float:
    """Minimum insertion loss in the passband (dB; NaN if no point lies in it)."""
    return passband_insertion_loss(ntwk, band, out_port, in_port).value


def passband_insertion_loss(ntwk: skrf.Network, band: Any, out_port: int = 2,
                            in_port: int = 1) -> Extreme:
    """Minimum passband insertion loss and the frequency where it occurs."""
    return worst_in_band(insertion_loss_db(ntwk, out_port, in_port), ntwk.frequency.f, band,
                         "min")


def passband_ripple_db(ntwk: skrf.Network, band: Any, out_port: int = 2,
                       in_port: int = 1) -> float:
    """Peak-to-peak insertion loss in the passband (dB)."""
    il = insertion_loss_db(ntwk, out_port, in_port)
    return flatness_db(il[in_band(ntwk, band)])


def rejection_db(ntwk: skrf.Network, band_or_point: Any, passband: Any, out_port: int = 2,
                 in_port: int = 1) -> float:
    """``IL(f) - IL_passband,min`` (reference §1.8), positive dB.

    A point (a number, or an object/mapping with ``frequency_hz``) is interpolated linearly in
    dB between the sweep points (NaN outside the sweep); a band gives the smallest rejection
    (the worst case) over its points (NaN if none)."""
    return rejection(ntwk, band_or_point, passband, out_port, in_port).value


def rejection(ntwk: skrf.Network, band_or_point: Any, passband: Any, out_port: int = 2,
              in_port: int = 1) -> Extreme:
    """:func:`rejection_db` and the frequency it applies at."""
    il = insertion_loss_db(ntwk, out_port, in_port)
    f = np.asarray(ntwk.frequency.f, dtype=float)
    reference = passband_insertion_loss_db(ntwk, passband, out_port, in_port)
    point = _point_hz(band_or_point)
    if point is not None:
        if not f[0] <= point <= f[-1]:
            return Extreme(math.nan, point)
        return Extreme(float(np.interp(point, f, il)) - reference, point)
    low = worst_in_band(il, f, band_or_point, "min")
    return Extreme(low.value - reference, low.frequency_hz)


def _point_hz(band_or_point: Any) -> float | None:
    if isinstance(band_or_point, int | float | np.number):
        return float(band_or_point)
    if isinstance(band_or_point, dict):
        value = band_or_point.get("frequency_hz")
    else:
        value = getattr(band_or_point, "frequency_hz", None)
    return None if value is None else float(value)


def return_loss_in_band_db(ntwk: skrf.Network, port: int, band: Any) -> Extreme:
    """The worst (smallest) return loss of ``port`` in ``band`` and where it occurs."""
    return worst_in_band(return_loss_db(ntwk, port), ntwk.frequency.f, band, "min")
