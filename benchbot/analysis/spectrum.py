"""Spectrum analysis of complex baseband IQ and analyzer traces: PSD, band power, ACLR, OBW.

Conventions (rf-measurements-and-scpi.md §1.3, §1.5, §3.3 steps 5-6):

- IQ is in sqrt(W): ``mean(|x|^2)`` is the power in W. A PSD is two-sided, centred (ascending
  frequency, DC in the middle, ``center_hz`` added) and in W/Hz, so that integrating it over the
  full span gives ``mean(|x|^2)``.
- Band power uses a square (rectangular) filter with partial-bin weighting: bin ``k`` covers
  ``[f_k - df/2, f_k + df/2]`` and contributes ``S_k * overlap`` (exact for a PSD that is flat
  within a bin).
- ACLR (TS 38.104 §6.6.3, TS 38.101-1 §6.5.2.4): ``10*log10(P_main / P_adj)`` with both powers
  integrated over the measurement bandwidth of the parameter set (``nr_bands.AclrParams``).
- Analyzer trace (integration-bandwidth method): each trace point is the power in one noise
  bandwidth ``ENBW = enbw_factor * RBW``; channel power is ``sum(P_bin * df_bin / ENBW)``.
- OBW (TS 38.104 §6.6.2): the band holding 99 % of the total power, 0.5 % cut on each side, edges
  interpolated linearly in the cumulative power.

Pure numpy/scipy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import fft as sfft
from scipy import signal as ssig

from benchbot.analysis.nr_bands import AclrParams


@dataclass(frozen=True)
class Psd:
    """A two-sided centred PSD. ``rbw_hz`` is the window's noise bandwidth in Hz."""

    freq_hz: np.ndarray
    psd_w_per_hz: np.ndarray
    fs_hz: float
    center_hz: float
    nfft: int
    window: str
    enbw_bins: float
    rbw_hz: float
    n_averages: int
    method: str

    @property
    def total_power_w(self) -> float:
        """Integrated power over the whole span (W)."""
        return float(np.sum(self.psd_w_per_hz) * self.fs_hz / self.nfft)


def window_enbw_bins(window: str | tuple, nfft: int) -> float:
    """Equivalent noise bandwidth of a (periodic) window in bins: ``N*sum(w^2)/sum(w)^2``."""
    w = ssig.get_window(window, nfft, fftbins=True)
    return float(nfft * np.sum(w**2) / np.sum(w) ** 2)


def psd_welch(iq: ArrayLike, fs_hz: float, *, rbw_hz: float | None = None,
              nfft: int | None = None, window: str = "hann", overlap: float = 0.5,
              center_hz: float = 0.0) -> Psd:
    """Welch PSD (mean of periodograms, density scaling) of complex IQ, two-sided and centred.

    Give either ``nfft`` or ``rbw_hz`` (then ``nfft`` is the fast FFT length that makes
    ``ENBW = enbw_bins*fs/nfft`` at most ``rbw_hz``); the RBW actually used is in ``.rbw_hz``.
    """
    x = np.asarray(iq, dtype=np.complex128).ravel()
    if nfft is None:
        if rbw_hz is None:
            raise ValueError("give nfft or rbw_hz")
        enbw = window_enbw_bins(window, 4096)
        nfft = sfft.next_fast_len(int(np.ceil(enbw * fs_hz / rbw_hz)))
    if x.size < nfft:
        raise ValueError(f"{x.size} samples < nfft {nfft}: capture too short for this RBW")
    noverlap = int(round(overlap * nfft))
    f, s = ssig.welch(x, fs=fs_hz, window=window, nperseg=nfft, noverlap=noverlap,
                      nfft=nfft, detrend=False, return_onesided=False, scaling="density",
                      average="mean")
    f = np.fft.fftshift(f) + center_hz
    s = np.fft.fftshift(s).real
    enbw_bins = window_enbw_bins(window, nfft)
    n_avg = 1 + (x.size - nfft) // (nfft - noverlap)
    rbw = enbw_bins * fs_hz / nfft
    method = (f"Welch PSD, {window} window, nfft={nfft}, overlap={overlap:.0%}, "
              f"{n_avg} averages, ENBW={enbw_bins:.4f} bins = {rbw:.1f} Hz, two-sided W/Hz")
    return Psd(f, s, float(fs_hz), float(center_hz), nfft, window, enbw_bins, rbw, n_avg, method)


def _bin_width(f: np.ndarray) -> float:
    if f.size < 2:
        raise ValueError("need at least two frequency points")
    df = (f[-1] - f[0]) / (f.size - 1)
    if not np.allclose(np.diff(f), df, rtol=1e-6, atol=0.0):
        raise ValueError("frequency axis must be uniformly spaced and ascending")
    return float(df)


def band_power_w(psd: ArrayLike, f: ArrayLike, f_lo: float, f_hi: float) -> float:
    """Power (W) of a W/Hz density in ``[f_lo, f_hi]``, square filter, partial-bin weighting.

    Raises ValueError if the band is not inside the span covered by the bins.
    """
    s = np.asarray(psd, dtype=float)
    fa = np.asarray(f, dtype=float)
    df = _bin_width(fa)
    lo_edge, hi_edge = fa[0] - df / 2, fa[-1] + df / 2
    tol = 1e-9 * df
    if f_lo < lo_edge - tol or f_hi > hi_edge + tol or f_hi < f_lo:
        raise ValueError(f"band [{f_lo:.6g}, {f_hi:.6g}] Hz outside the span "
                         f"[{lo_edge:.6g}, {hi_edge:.6g}] Hz")
    i0 = max(int(np.floor((f_lo - lo_edge) / df)) - 1, 0)
    i1 = min(int(np.ceil((f_hi - lo_edge) / df)) + 1, fa.size)
    fc = fa[i0:i1]
    overlap = np.clip(np.minimum(fc + df / 2, f_hi) - np.maximum(fc - df / 2, f_lo), 0.0, df)
    return float(np.sum(s[i0:i1] * overlap))


@dataclass(frozen=True)
class AclrResult:
    """ACLR per offset order (index 0 = ACLR1), lower and upper, with absolute powers in W."""

    params: AclrParams
    center_hz: float
    main_power_w: float
    offsets_hz: tuple[float, ...]
    lower_power_w: tuple[float, ...]
    upper_power_w: tuple[float, ...]
    lower_db: tuple[float, ...]
    upper_db: tuple[float, ...]
    method: str

    @property
    def worst_db(self) -> float:
        """Smallest ACLR over all offsets and both sides (dB)."""
        return float(min(self.lower_db + self.upper_db))

    @property
    def margin_db(self) -> float:
        """``worst_db - limit`` (positive passes the parameter set's limit)."""
        return self.worst_db - self.params.limit_db


def _aclr(density: np.ndarray, f: np.ndarray, params: AclrParams, center_hz: float,
          method: str) -> AclrResult:
    if params.filter != "square":
        raise NotImplementedError(f"filter {params.filter!r} (only 'square' is implemented)")
    h_main, h_adj = params.main_mbw_hz / 2, params.adjacent_mbw_hz / 2
    p_main = band_power_w(density, f, center_hz - h_main, center_hz + h_main)
    lo_w, hi_w = [], []
    for off in params.offsets_hz:
        lo_w.append(band_power_w(density, f, center_hz - off - h_adj, center_hz - off + h_adj))
        hi_w.append(band_power_w(density, f, center_hz + off - h_adj, center_hz + off + h_adj))

    def db(p: float) -> float:
        return float(10 * np.log10(p_main / p)) if p > 0 else float("inf")

    return AclrResult(params, float(center_hz), p_main, tuple(params.offsets_hz), tuple(lo_w),
                      tuple(hi_w), tuple(db(p) for p in lo_w), tuple(db(p) for p in hi_w),
                      method + f"; {params.source}; limit {params.limit_db:g} dB "
                      f"({params.limit_source})")


def aclr_from_psd(psd: Psd, params: AclrParams, center_hz: float | None = None) -> AclrResult:
    """ACLR from a PSD (TS 38.104 §6.6.3 / TS 38.101-1 §6.5.2.4), square filters of width MBW.

    ``center_hz`` defaults to the middle of the PSD span. All channels must lie within the span
    (for ACLR2 oversample so that ±(2·BW + MBW/2) fits, rf-measurements-and-scpi.md §3.3 step 1).
    """
    c = psd.center_hz if center_hz is None else float(center_hz)
    method = (f"ACLR = 10*log10(P_main/P_adj), square filters, MBW main "
              f"{params.main_mbw_hz / 1e6:.4f} MHz / adjacent {params.adjacent_mbw_hz / 1e6:.4f} "
              f"MHz, band power from PSD with partial-bin weighting ({psd.method})")
    return _aclr(psd.psd_w_per_hz, psd.freq_hz, params, c, method)


def aclr_from_trace(frequency_hz: ArrayLike, power_dbm_per_bin: ArrayLike, rbw_hz: float,
                    enbw_factor: float, params: AclrParams,
                    center_hz: float | None = None) -> AclrResult:
    """ACLR from a swept-analyzer trace by the integration-bandwidth method (§3.3 step 6).

    Each point is the power (dBm) in ``ENBW = enbw_factor * rbw_hz`` (RMS detector). Channel power
    is ``sum(P_bin * df_bin / ENBW)`` over the MBW, edge bins weighted by their overlap.
    """
    f = np.asarray(frequency_hz, dtype=float)
    p_w = 10 ** ((np.asarray(power_dbm_per_bin, dtype=float) - 30) / 10)
    enbw = enbw_factor * rbw_hz
    c = float((f[0] + f[-1]) / 2) if center_hz is None else center_hz
    method = (f"ACLR by integration-bandwidth method on a {f.size}-point trace, "
              f"bin width {_bin_width(f):.1f} Hz, RBW {rbw_hz:.1f} Hz, ENBW {enbw:.1f} Hz, "
              f"P_ch = sum(P_bin*df/ENBW), square filters with partial-bin weighting")
    return _aclr(p_w / enbw, f, params, c, method)


def analyzer_trace(psd: Psd, rbw_hz: float, sweep_hz: ArrayLike) -> tuple[np.ndarray, float]:
    """Emulate an RMS-detector analyzer trace from a fine PSD (§3.3 step 5): Gaussian RBW filter.

    The power response is ``exp(-f^2/(2 sigma^2))`` with -3 dB width ``rbw_hz``; returns the trace
    in dBm per RBW at ``sweep_hz`` and the filter's ENBW factor ``sqrt(pi/(4 ln 2))`` = 1.0645.
    The PSD resolution must be several times finer than ``rbw_hz``.
    """
    df = psd.fs_hz / psd.nfft
    sigma = rbw_hz / (2 * np.sqrt(2 * np.log(2)))
    half = int(np.ceil(5 * sigma / df))
    k = np.exp(-((np.arange(-half, half + 1) * df) ** 2) / (2 * sigma**2))
    p_w = ssig.fftconvolve(psd.psd_w_per_hz, k, mode="same") * df
    trace = np.interp(np.asarray(sweep_hz, dtype=float), psd.freq_hz, p_w)
    enbw_factor = float(np.sqrt(np.pi / (4 * np.log(2))))
    return 10 * np.log10(np.maximum(trace, 1e-300)) + 30, enbw_factor


@dataclass(frozen=True)
class ObwResult:
    """Occupied bandwidth (TS 38.104 §6.6.2) and its edges."""

    obw_hz: float
    f_lo_hz: float
    f_hi_hz: float
    total_power_w: float
    percent: float
    method: str

    @property
    def center_hz(self) -> float:
        """Centre of the occupied band."""
        return (self.f_lo_hz + self.f_hi_hz) / 2


def _cross(cum: np.ndarray, edges: np.ndarray, target: float) -> float:
    """Frequency where the non-decreasing cumulative power first reaches ``target``."""
    i = int(np.clip(np.searchsorted(cum, target, side="left"), 1, cum.size - 1))
    step = cum[i] - cum[i - 1]
    frac = (target - cum[i - 1]) / step if step > 0 else 0.0
    return float(edges[i - 1] + frac * (edges[i] - edges[i - 1]))


def obw_99(psd: ArrayLike, f: ArrayLike, percent: float = 99.0) -> ObwResult:
    """Occupied bandwidth: ``(100-percent)/2`` % of total power cut on each side (TS 38.104 §6.6.2).

    Cumulative power is taken at bin edges (flat-in-bin), edges found by linear interpolation.
    """
    s = np.asarray(psd, dtype=float)
    fa = np.asarray(f, dtype=float)
    df = _bin_width(fa)
    edges = np.concatenate(([fa[0] - df / 2], fa + df / 2))
    cum = np.concatenate(([0.0], np.cumsum(s * df)))
    total = float(cum[-1])
    if total <= 0:
        raise ValueError("PSD has no power")
    cut = (100.0 - percent) / 200.0 * total
    f_lo, f_hi = _cross(cum, edges, cut), _cross(cum, edges, total - cut)
    return ObwResult(f_hi - f_lo, f_lo, f_hi, total, percent,
                     f"OBW {percent:g} %: {(100 - percent) / 2:g} % of total power cut each side, "
                     f"edges interpolated in cumulative power at bin edges, bin {df:.1f} Hz")
