"""Built-in power measurements of a spectrum analyzer, computed from one synthesized trace.

Vendor-neutral maths behind every simulated analyzer's channel power, ACP/ACLR and occupied
bandwidth (each simulator owns its SCPI and its result layout). Integration-bandwidth method, as
the X-series ACP "IBW" method and the FSW channel-power measurement do: with an RMS detector
each display point reads the power in the RBW filter, so the power in a band is

    P_band = sum over points in the band of P_point * (point spacing / ENBW),  ENBW = 1.0645*RBW

with the two edge points weighted by the fraction of their spacing inside the band. Noise
correction subtracts the analyzer's own mean noise (`SweepResult.noise_w`) point by point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulators.spectrum import ENBW_RATIO, SweepResult

#: margin of an ACP sweep beyond the outermost offset channel edge
ACP_SPAN_MARGIN = 1.05


@dataclass(frozen=True)
class ChannelPower:
    power_dbm: float
    psd_dbm_hz: float  # power spread over the integration bandwidth


@dataclass(frozen=True)
class AdjacentChannelPower:
    """Carrier and per-offset lower/upper powers; dBc are adjacent minus carrier."""

    carrier_dbm: float
    lower_dbm: np.ndarray
    upper_dbm: np.ndarray
    lower_dbc: np.ndarray
    upper_dbc: np.ndarray


@dataclass(frozen=True)
class OccupiedBandwidth:
    bandwidth_hz: float
    centroid_hz: float  # midpoint of the two edges (the transmit frequency)
    total_power_dbm: float
    lower_edge_hz: float
    upper_edge_hz: float


@dataclass(frozen=True)
class SemMargins:
    """Spectrum-emission-mask result per segment (in the order given) and side: the worst
    margin (limit minus power in the MBW, dB, positive passes), the absolute filter-centre
    frequency where it occurs and the power there; NaN where no MBW position fits in the trace.
    `carrier_dbm` is the channel power over the channel bandwidth (the reference power)."""

    carrier_dbm: float
    lower_margin_db: np.ndarray
    upper_margin_db: np.ndarray
    lower_frequency_hz: np.ndarray
    upper_frequency_hz: np.ndarray
    lower_power_dbm: np.ndarray
    upper_power_dbm: np.ndarray


def _dbm(watts: float) -> float:
    return 10.0 * math.log10(watts) + 30.0 if watts > 0 else -math.inf


def _point_watts(result: SweepResult, rbw_hz: float, noise_correction: bool) -> np.ndarray:
    """Each point's power density times its spacing: W represented by that point."""
    p = 10.0 ** (result.power_dbm / 10.0 - 3.0)
    if noise_correction and result.noise_w is not None:
        # never below a tenth of the reading: correction cannot make power negative
        p = np.maximum(p - result.noise_w, 0.1 * p)
    x = result.frequency_hz
    spacing = (x[-1] - x[0]) / (x.size - 1) if x.size > 1 else ENBW_RATIO * rbw_hz
    return p * spacing / (ENBW_RATIO * rbw_hz)


def _fraction_inside(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Share of each point's cell [x - d/2, x + d/2] that lies inside [lo, hi]."""
    d = (x[-1] - x[0]) / (x.size - 1) if x.size > 1 else 1.0
    overlap = np.minimum(x + d / 2, hi) - np.maximum(x - d / 2, lo)
    return np.clip(overlap / d, 0.0, 1.0)


def band_power_w(result: SweepResult, rbw_hz: float, center_hz: float, bandwidth_hz: float,
                 noise_correction: bool = False) -> float:
    """Power (W) in a square band of `bandwidth_hz` around `center_hz`."""
    w = _point_watts(result, rbw_hz, noise_correction)
    frac = _fraction_inside(result.frequency_hz, center_hz - bandwidth_hz / 2,
                            center_hz + bandwidth_hz / 2)
    return float(np.sum(w * frac))


def channel_power(result: SweepResult, rbw_hz: float, center_hz: float, bandwidth_hz: float,
                  noise_correction: bool = False) -> ChannelPower:
    watts = band_power_w(result, rbw_hz, center_hz, bandwidth_hz, noise_correction)
    power = _dbm(watts)
    return ChannelPower(power, power - 10.0 * math.log10(bandwidth_hz))


def adjacent_channel_power(result: SweepResult, rbw_hz: float, center_hz: float,
                           carrier_bandwidth_hz: float, offsets_hz: Sequence[float],
                           offset_bandwidths_hz: Sequence[float],
                           noise_correction: bool = False) -> AdjacentChannelPower:
    """Carrier power and the power in each offset channel pair (centre-to-centre offsets)."""
    if len(offsets_hz) != len(offset_bandwidths_hz):
        raise ValueError("one measurement bandwidth per offset")
    carrier = _dbm(band_power_w(result, rbw_hz, center_hz, carrier_bandwidth_hz,
                                noise_correction))
    lower = np.array([_dbm(band_power_w(result, rbw_hz, center_hz - off, bw, noise_correction))
                      for off, bw in zip(offsets_hz, offset_bandwidths_hz, strict=True)])
    upper = np.array([_dbm(band_power_w(result, rbw_hz, center_hz + off, bw, noise_correction))
                      for off, bw in zip(offsets_hz, offset_bandwidths_hz, strict=True)])
    return AdjacentChannelPower(carrier, lower, upper, lower - carrier, upper - carrier)


def occupied_bandwidth(result: SweepResult, rbw_hz: float,
                       power_percent: float = 99.0) -> OccupiedBandwidth:
    """Band holding `power_percent` of the total power in the span, cut equally on both sides
    (38.104 §6.6.2: 0.5 % below the lower and above the upper edge for 99 %)."""
    if not 0 < power_percent < 100:
        raise ValueError("power_percent must be between 0 and 100")
    w = _point_watts(result, rbw_hz, False)
    x = result.frequency_hz
    d = (x[-1] - x[0]) / (x.size - 1) if x.size > 1 else 1.0
    edges = np.concatenate([[x[0] - d / 2], x + d / 2])
    cum = np.concatenate([[0.0], np.cumsum(w)])
    total = float(cum[-1])
    cut = (1.0 - power_percent / 100.0) / 2.0 * total
    lo = float(np.interp(cut, cum, edges))
    hi = float(np.interp(total - cut, cum, edges))
    return OccupiedBandwidth(hi - lo, (hi + lo) / 2, _dbm(total), lo, hi)


def acp_span_hz(carrier_bandwidth_hz: float, offsets_hz: Sequence[float],
                offset_bandwidths_hz: Sequence[float]) -> float:
    """Span an ACP sweep needs: both outermost offset channels plus a 5 % margin."""
    half = max([carrier_bandwidth_hz / 2]
               + [o + b / 2 for o, b in zip(offsets_hz, offset_bandwidths_hz, strict=True)])
    return 2.0 * half * ACP_SPAN_MARGIN


#: a mask segment: (start_offset_hz, stop_offset_hz, start_limit_dbm, stop_limit_dbm, mbw_hz),
#: offsets of the measurement filter's centre from the channel edge, limits in dBm per MBW
SemSegmentTuple = tuple[float, float, float, float, float]


def _positions_hz(start_hz: float, stop_hz: float, step_hz: float) -> np.ndarray:
    """Filter-centre offsets from `start_hz` to `stop_hz`, at most one trace step apart, both
    ends included (the same positions as benchbot.analysis.sem evaluates)."""
    n = max(1, int(math.ceil((stop_hz - start_hz) / step_hz - 1e-9)) + 1)
    return np.linspace(start_hz, stop_hz, n) if n > 1 else np.array([start_hz])


def _sliding_band_w(w: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Power (W) in each band [lo, hi] from per-point watts `w` (partial-point weighting). The
    cumulative sum covers only the points the bands touch, so a strong carrier elsewhere in the
    trace costs weak out-of-band bands no float64 precision."""
    d = (x[-1] - x[0]) / (x.size - 1) if x.size > 1 else 1.0
    i0 = max(int(math.floor((float(lo.min()) - x[0]) / d)) - 1, 0)
    i1 = min(int(math.ceil((float(hi.max()) - x[0]) / d)) + 2, x.size)
    edges = np.concatenate([[x[i0] - d / 2], x[i0:i1] + d / 2])
    cum = np.concatenate([[0.0], np.cumsum(w[i0:i1])])
    return np.interp(hi, edges, cum) - np.interp(lo, edges, cum)


def band_powers_w(result: SweepResult, rbw_hz: float, centers_hz: np.ndarray,
                  bandwidth_hz: float) -> np.ndarray:
    """Power (W) in a square band of `bandwidth_hz` around each of `centers_hz` (the reading of
    an ideal channel filter at each centre), integrated from the trace as `band_power_w` does."""
    c = np.asarray(centers_hz, dtype=float)
    if c.size == 0:
        return np.empty(0)
    w = _point_watts(result, rbw_hz, False)
    return _sliding_band_w(w, result.frequency_hz, c - bandwidth_hz / 2, c + bandwidth_hz / 2)


def _worst_position(w: np.ndarray, x: np.ndarray, centres: np.ndarray, limits: np.ndarray,
                    mbw_hz: float) -> tuple[float, float, float]:
    """(margin dB, frequency Hz, power dBm) of the worst MBW position among `centres` whose
    whole MBW lies inside the trace; NaNs if none does."""
    d = (x[-1] - x[0]) / (x.size - 1) if x.size > 1 else 1.0
    half = mbw_hz / 2
    tol = 1e-9 * d
    inside = (centres - half >= x[0] - d / 2 - tol) & (centres + half <= x[-1] + d / 2 + tol)
    if not inside.any():
        return math.nan, math.nan, math.nan
    c = centres[inside]
    power_dbm = 10.0 * np.log10(np.maximum(_sliding_band_w(w, x, c - half, c + half),
                                           1e-30)) + 30.0
    margin = limits[inside] - power_dbm
    i = int(np.argmin(margin))
    return float(margin[i]), float(c[i]), float(power_dbm[i])


def sem_margins(result: SweepResult, rbw_hz: float, center_hz: float,
                channel_bandwidth_hz: float,
                segments: Sequence[SemSegmentTuple]) -> SemMargins:
    """Spectrum emission mask on an RMS-detector trace by the integration-bandwidth method.

    Each segment applies on both sides of the channel: the measurement filter (a square MBW)
    slides from `start_offset_hz` to `stop_offset_hz` beyond each channel edge in steps of at
    most the trace's point spacing (both ends included); the power in the MBW at each position
    is the integral of the trace (P_point * spacing / ENBW, ENBW = ENBW_RATIO * RBW, partial
    points weighted) and is compared with the limit, linear in offset between the segment's
    start and stop limits (38.104 §6.6.4 tables; rf-measurements-and-scpi.md §1.5). No noise
    correction: the mask judges what the analyzer reads.
    """
    x = result.frequency_hz
    w = _point_watts(result, rbw_hz, False)
    d = (x[-1] - x[0]) / (x.size - 1) if x.size > 1 else ENBW_RATIO * rbw_hz
    carrier = _dbm(band_power_w(result, rbw_hz, center_hz, channel_bandwidth_hz))
    sides: dict[str, list[tuple[float, float, float]]] = {"lower": [], "upper": []}
    for start, stop, start_limit, stop_limit, mbw in segments:
        if not (0.0 <= start <= stop) or mbw <= 0:
            raise ValueError(f"invalid SEM segment {(start, stop, start_limit, stop_limit, mbw)}")
        offsets = _positions_hz(start, stop, d)
        span = stop - start
        limits = (np.full(offsets.shape, float(start_limit)) if span == 0 else
                  start_limit + (offsets - start) / span * (stop_limit - start_limit))
        edge = channel_bandwidth_hz / 2
        sides["lower"].append(_worst_position(w, x, center_hz - edge - offsets, limits, mbw))
        sides["upper"].append(_worst_position(w, x, center_hz + edge + offsets, limits, mbw))
    lower = np.array(sides["lower"], dtype=float).reshape(-1, 3)
    upper = np.array(sides["upper"], dtype=float).reshape(-1, 3)
    return SemMargins(carrier, lower[:, 0], upper[:, 0], lower[:, 1], upper[:, 1],
                      lower[:, 2], upper[:, 2])


# ------------------------------------------------------------------ harmonics and TOI
@dataclass(frozen=True)
class HarmonicPowers:
    """The fundamental and its harmonics, each read from its own trace."""

    fundamental_dbm: float
    harmonic_dbm: np.ndarray  # H2, H3, ...
    harmonic_dbc: np.ndarray  # harmonic minus fundamental
    thd_percent: float  # 100 * sqrt(sum of harmonic powers / fundamental power)


def trace_power_w(result: SweepResult, rbw_hz: float) -> float:
    """Power (W) one harmonic trace reads. Zero span (all points at one frequency): the mean
    power of the points, the RMS detector's time average. Non-zero span: the power in the
    whole span (band power), as the PSA/X-series harmonic measurement does for a range with a
    span (E4440A reference, "Harmonic Distortion")."""
    x = result.frequency_hz
    if x.size < 2 or x[-1] == x[0]:
        return float(np.mean(10.0 ** (result.power_dbm / 10.0 - 3.0)))
    return float(np.sum(_point_watts(result, rbw_hz, False)))


def harmonic_powers(results: Sequence[SweepResult],
                    rbw_hz: Sequence[float]) -> HarmonicPowers:
    """Fundamental (first trace) and H2..Hn (the others) with their RBWs; THD is the voltage
    ratio sqrt(sum P_n / P_1) in percent. The analyzer's own distortion is not modelled: a
    harmonic reads what the input carries at n*f plus the analyzer's noise."""
    if len(results) < 2 or len(results) != len(rbw_hz):
        raise ValueError("a fundamental and at least one harmonic, one RBW per trace")
    watts = np.array([trace_power_w(r, b) for r, b in zip(results, rbw_hz, strict=True)])
    dbm = 10.0 * np.log10(np.maximum(watts, 1e-30)) + 30.0
    thd = 100.0 * math.sqrt(float(np.sum(watts[1:])) / watts[0]) if watts[0] > 0 else math.inf
    return HarmonicPowers(float(dbm[0]), dbm[1:], dbm[1:] - dbm[0], thd)


@dataclass(frozen=True)
class ToiPowers:
    """Two tones, their third-order products and the output intercept read from each side."""

    lower_hz: float
    lower_dbm: float
    upper_hz: float
    upper_dbm: float
    im3_lower_hz: float  # 2*f_lower - f_upper
    im3_lower_dbm: float
    im3_upper_hz: float  # 2*f_upper - f_lower
    im3_upper_dbm: float
    lower_toi_dbm: float  # lower tone + (lower tone - lower IM3)/2
    upper_toi_dbm: float

    @property
    def worst_toi_dbm(self) -> float:
        return min(self.lower_toi_dbm, self.upper_toi_dbm)


def _window_max(x: np.ndarray, y: np.ndarray, f_hz: float, half_hz: float) -> tuple[float, float]:
    """(frequency, level) of the highest point within `half_hz` of `f_hz` (nearest point if
    none lies that close)."""
    inside = np.abs(x - f_hz) <= half_hz
    if not inside.any():
        inside = np.abs(x - f_hz) == np.min(np.abs(x - f_hz))
    i = np.flatnonzero(inside)[int(np.argmax(y[inside]))]
    return float(x[i]), float(y[i])


def toi(result: SweepResult, rbw_hz: float) -> ToiPowers:
    """Third-order intercept from one (peak-detector) trace of two tones.

    The tones are the two largest signals: the highest point, then the highest point at least
    3 RBW (and 3 points) away from it. Each IM3 product is the highest point within
    max(2 RBW, 3 points) of 2*f1 - f2 / 2*f2 - f1. Intercept per side (rf-measurements
    reference §1.6): OIP3 = P_tone + (P_tone - P_IM3)/2 with the tone next to that product.
    """
    x, y = result.frequency_hz, result.power_dbm
    step = (x[-1] - x[0]) / (x.size - 1) if x.size > 1 else rbw_hz
    first = int(np.argmax(y))
    apart = np.abs(x - x[first]) >= max(3.0 * rbw_hz, 3.0 * step)
    if not apart.any():
        raise ValueError("the trace is too narrow to hold two tones")
    second = np.flatnonzero(apart)[int(np.argmax(y[apart]))]
    lo_i, hi_i = sorted((first, int(second)))
    f_lo, p_lo, f_hi, p_hi = float(x[lo_i]), float(y[lo_i]), float(x[hi_i]), float(y[hi_i])
    half = max(2.0 * rbw_hz, 3.0 * step)
    im_lo_f, im_lo = _window_max(x, y, 2.0 * f_lo - f_hi, half)
    im_hi_f, im_hi = _window_max(x, y, 2.0 * f_hi - f_lo, half)
    return ToiPowers(f_lo, p_lo, f_hi, p_hi, im_lo_f, im_lo, im_hi_f, im_hi,
                     p_lo + (p_lo - im_lo) / 2.0, p_hi + (p_hi - im_hi) / 2.0)
