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
