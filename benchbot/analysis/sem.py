"""NR spectrum emission masks as data, and their evaluation on an analyzer trace or a PSD.

Masks (rf-measurements-and-scpi.md §1.5), each with its 3GPP source:

- BS operating-band unwanted emissions (OBUE), TS 38.104 §6.6.4.2, Wide Area BS type 1-C, NR
  bands above 1 GHz: Category A Table 6.6.4.2.1-2, Category B (Option 1) Table 6.6.4.2.2.1-2.
  Offsets there are *measurement-filter centre* offsets ``f_offset`` from the channel edge
  (the filter's -3 dB point closest to the carrier is at ``f_offset - MBW/2``).
- UE spectrum emission mask, TS 38.101-1 §6.5.2.2 Table 6.5.2.2-1 (general NR SEM), whose rows
  are ``Δf_OOB`` ranges from the channel edge; the measurement filter is kept inside each range,
  so its centre runs from ``start + MBW/2`` to ``stop - MBW/2`` (38.521-1 measurement positions).

Evaluation (integration-bandwidth method, RMS detector; §3.3 step 6 of the reference): an
analyzer trace point is the power in one noise bandwidth ``ENBW = 1.0645 * RBW`` (Gaussian RBW),
so the density is ``P_point / ENBW`` (W/Hz) and the power in a measurement bandwidth is the
integral of that density over ``[centre - MBW/2, centre + MBW/2]`` with partial-bin weighting
(``sum(P_point * df / ENBW)``). A PSD from :func:`benchbot.analysis.spectrum.psd_welch` is
already a density and goes through the same integral. The filter slides over every segment on
both sides of the carrier in steps of the trace's point spacing (both ends included); each
position is compared with the segment's limit at that offset (linear in offset for sloped rows).
Margin = limit - measured (dB, positive passes).

Pure numpy, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from benchbot.analysis.spectrum import Psd

#: ENBW/RBW of a Gaussian RBW filter specified by its -3 dB width: sqrt(pi / (4 ln 2)) = 1.0645
#: (the same factor :func:`benchbot.analysis.spectrum.analyzer_trace` returns).
GAUSSIAN_ENBW_FACTOR = float(np.sqrt(np.pi / (4.0 * np.log(2.0))))

_MIN_POWER_W = 1e-30  # -270 dBm: floor so an empty band gives a finite dBm value
LOWER, UPPER = "lower", "upper"


@dataclass(frozen=True)
class MaskSegment:
    """One mask row: filter-centre offsets from the channel edge, a (sloped) limit, an MBW.

    The limit is in dBm in ``mbw_hz`` and varies linearly in offset from ``limit_start_dbm``
    at ``start_hz`` to ``limit_stop_dbm`` at ``stop_hz``.
    """

    start_hz: float
    stop_hz: float
    limit_start_dbm: float
    limit_stop_dbm: float
    mbw_hz: float
    note: str = ""
    table_range_hz: tuple[float, float] | None = None  # the row's range as the table states it

    def __post_init__(self) -> None:
        if not (0.0 <= self.start_hz <= self.stop_hz) or self.mbw_hz <= 0:
            raise ValueError(f"invalid mask segment {self}")

    @property
    def display_range_hz(self) -> tuple[float, float]:
        """Offsets over which the table states this limit (UE: the Δf_OOB range; BS: the
        filter-centre range itself): where a plotted mask line belongs."""
        return self.table_range_hz or (self.start_hz, self.stop_hz)

    def limit_dbm_at(self, offset_hz: ArrayLike) -> np.ndarray:
        """The limit (dBm in ``mbw_hz``) at filter-centre offsets from the channel edge."""
        x = np.asarray(offset_hz, dtype=float)
        span = self.stop_hz - self.start_hz
        if span == 0.0:
            return np.full(x.shape, self.limit_start_dbm)
        t = (x - self.start_hz) / span
        return self.limit_start_dbm + t * (self.limit_stop_dbm - self.limit_start_dbm)

    def describe(self) -> str:
        """e.g. ``0.05-5.05 MHz: -7 to -14 dBm / 100 kHz``."""
        limit = (f"{self.limit_start_dbm:g} dBm" if self.limit_start_dbm == self.limit_stop_dbm
                 else f"{self.limit_start_dbm:g} to {self.limit_stop_dbm:g} dBm")
        return (f"{self.start_hz / 1e6:g}-{self.stop_hz / 1e6:g} MHz: {limit} / "
                f"{_bw_text(self.mbw_hz)}")


@dataclass(frozen=True)
class SemMask:
    """A spectrum emission mask: segments applied on both sides of the channel, with source."""

    name: str
    segments: tuple[MaskSegment, ...]
    source: str
    channel_bandwidth_hz: float | None = None  # the bandwidth the table was built for, if any

    @property
    def max_offset_hz(self) -> float:
        """Largest filter-centre offset plus half its MBW: the span the mask needs per side."""
        return max(s.stop_hz + s.mbw_hz / 2 for s in self.segments)


def _bw_text(hz: float) -> str:
    return f"{hz / 1e6:g} MHz" if hz >= 1e6 else f"{hz / 1e3:g} kHz"


# --------------------------------------------------------------------------------- BS masks
#: TS 38.104 Table 6.6.1-1: Δf_OBUE = 40 MHz for BS type 1-C in bands wider than 200 MHz
#: (e.g. n77, n78); 10 MHz for narrower bands [verify the 200 MHz threshold against the table].
OBUE_DELTA_F_WIDE_BAND_HZ = 40e6
OBUE_DELTA_F_NARROW_BAND_HZ = 10e6

_BS_SOURCES = {
    "A": "3GPP TS 38.104 §6.6.4.2.1 Table 6.6.4.2.1-2 (Wide Area BS, Category A, NR bands > 1 GHz)",
    "B": "3GPP TS 38.104 §6.6.4.2.2.1 Table 6.6.4.2.2.1-2 (Wide Area BS, Category B Option 1, "
         "NR bands > 1 GHz) [verify]",
}
#: far-out limit (dBm / 1 MHz) from f_offset = 10.5 MHz: -13 Category A, -15 Category B
_BS_FAR_LIMIT_DBM = {"A": -13.0, "B": -15.0}


def bs_obue_mask(category: Literal["A", "B"] = "A",
                 delta_f_obue_hz: float = OBUE_DELTA_F_WIDE_BAND_HZ) -> SemMask:
    """Wide Area BS operating-band unwanted emission mask, NR bands above 1 GHz (TS 38.104).

    Rows (filter-centre offset from the channel edge, TS 38.104 Table 6.6.4.2.1-2 for
    Category A; Category B Option 1 differs only in the far row):

    - 0.05-5.05 MHz: ``-7 dBm - 7/5 * (f_offset/MHz - 0.05) dB`` in 100 kHz;
    - 5.05-10.05 MHz: -14 dBm in 100 kHz;
    - 10.5 MHz-``f_offset_max``: -13 dBm (A) / -15 dBm (B) in 1 MHz.

    ``f_offset_max`` is taken as ``delta_f_obue_hz`` (Δf_OBUE, Table 6.6.1-1) for a carrier at
    the band edge; the far row is dropped when ``delta_f_obue_hz`` does not reach 10.5 MHz.
    """
    if category not in _BS_SOURCES:
        raise ValueError(f"BS category must be 'A' or 'B', got {category!r}")
    segments = [
        MaskSegment(0.05e6, 5.05e6, -7.0, -14.0, 100e3, "-7 dBm - 7/5 (f_offset/MHz - 0.05) dB"),
        MaskSegment(5.05e6, min(10.05e6, delta_f_obue_hz), -14.0, -14.0, 100e3),
    ]
    if delta_f_obue_hz >= 10.5e6:
        far = _BS_FAR_LIMIT_DBM[category]
        segments.append(MaskSegment(10.5e6, delta_f_obue_hz, far, far, 1e6))
    return SemMask(name=f"BS Wide Area Cat {category} OBUE (> 1 GHz)", segments=tuple(segments),
                   source=f"{_BS_SOURCES[category]}; f_offset_max = Δf_OBUE "
                          f"{delta_f_obue_hz / 1e6:g} MHz (Table 6.6.1-1)")


# --------------------------------------------------------------------------------- UE mask
UE_SEM_SOURCE = ("3GPP TS 38.101-1 §6.5.2.2 Table 6.5.2.2-1 (general NR spectrum emission mask); "
                 "filter kept inside each Δf_OOB range [verify]")
#: channel bandwidths (MHz) of TS 38.101-1 Table 5.3.2-1 (FR1)
UE_CHANNEL_BANDWIDTHS_MHZ = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100)
#: the 0-1 MHz row is -13 dBm in 1 % of BW up to this bandwidth and -24 dBm / 30 kHz above it
#: [verify: the 30 / 40 MHz split is recalled, not read from the table]
UE_NARROW_MAX_BW_MHZ = 30


def ue_sem_mask(channel_bandwidth_mhz: int) -> SemMask:
    """General NR UE SEM (TS 38.101-1 Table 6.5.2.2-1) for one channel bandwidth.

    Δf_OOB rows from the channel edge [verify]: 0-1 MHz -13 dBm / (1 % of BW) for BW <= 30 MHz,
    -24 dBm / 30 kHz above; 1-5 MHz -10 dBm / 1 MHz; 5 MHz-BW -13 dBm / 1 MHz (absent for
    5 MHz); BW-(BW+5 MHz) -25 dBm / 1 MHz. BW + 5 MHz is the out-of-band boundary (Table
    6.5.3.1-1), beyond which the spurious limits apply. Each row's filter centre runs from
    ``start + MBW/2`` to ``stop - MBW/2``.
    """
    bw_mhz = int(channel_bandwidth_mhz)
    if bw_mhz not in UE_CHANNEL_BANDWIDTHS_MHZ:
        raise ValueError(f"channel bandwidth {channel_bandwidth_mhz} MHz not in "
                         f"{UE_CHANNEL_BANDWIDTHS_MHZ} (TS 38.101-1 Table 5.3.2-1)")
    bw = bw_mhz * 1e6
    first = (-13.0, 0.01 * bw) if bw_mhz <= UE_NARROW_MAX_BW_MHZ else (-24.0, 30e3)
    rows = [(0.0, 1e6, first[0], first[1]), (1e6, 5e6, -10.0, 1e6)]
    if bw > 5e6:
        rows.append((5e6, bw, -13.0, 1e6))
    rows.append((max(5e6, bw), bw + 5e6, -25.0, 1e6))
    segments = tuple(MaskSegment(lo + mbw / 2, hi - mbw / 2, lim, lim, mbw,
                                 f"Δf_OOB {lo / 1e6:g}-{hi / 1e6:g} MHz", (lo, hi))
                     for lo, hi, lim, mbw in rows)
    return SemMask(name=f"UE general SEM {bw_mhz} MHz", segments=segments,
                   source=UE_SEM_SOURCE, channel_bandwidth_hz=bw)


# --------------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class SegmentResult:
    """One segment on one side: every filter position evaluated and the worst of them."""

    index: int
    side: str  # "lower" | "upper"
    segment: MaskSegment
    offset_hz: np.ndarray  # filter-centre offsets from the channel edge
    frequency_hz: np.ndarray  # absolute filter centres
    power_dbm: np.ndarray  # measured power in the MBW at each position
    limit_dbm: np.ndarray
    covered: bool  # every position of the segment lies inside the trace span

    @property
    def margin_db(self) -> np.ndarray:
        """Limit minus measured at each position (dB, positive passes)."""
        return self.limit_dbm - self.power_dbm

    def _worst(self) -> int:
        return int(np.argmin(self.margin_db))

    @property
    def worst_margin_db(self) -> float:
        """Smallest margin over the positions (NaN when none was evaluated)."""
        return float(self.margin_db[self._worst()]) if self.power_dbm.size else math.nan

    @property
    def worst_frequency_hz(self) -> float:
        """Absolute filter-centre frequency of the worst position."""
        return float(self.frequency_hz[self._worst()]) if self.power_dbm.size else math.nan

    @property
    def worst_power_dbm(self) -> float:
        """Measured power in the MBW at the worst position."""
        return float(self.power_dbm[self._worst()]) if self.power_dbm.size else math.nan

    @property
    def worst_limit_dbm(self) -> float:
        """Limit at the worst position."""
        return float(self.limit_dbm[self._worst()]) if self.power_dbm.size else math.nan


@dataclass(frozen=True, eq=False)
class SemResult:
    """Per segment and side results, the overall worst margin and where it is."""

    mask: SemMask
    carrier_hz: float
    channel_bandwidth_hz: float
    segments: tuple[SegmentResult, ...]
    method: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def _evaluated(self) -> list[SegmentResult]:
        return [s for s in self.segments if s.power_dbm.size]

    @property
    def worst(self) -> SegmentResult | None:
        """The segment/side holding the overall worst margin (None if nothing evaluated)."""
        done = self._evaluated()
        return min(done, key=lambda s: s.worst_margin_db) if done else None

    @property
    def worst_margin_db(self) -> float:
        """Overall worst margin (dB, positive passes); NaN if nothing was evaluated."""
        w = self.worst
        return w.worst_margin_db if w else math.nan

    @property
    def worst_frequency_hz(self) -> float:
        """Absolute frequency of the overall worst margin."""
        w = self.worst
        return w.worst_frequency_hz if w else math.nan

    @property
    def complete(self) -> bool:
        """True when every segment was evaluated over its whole range on both sides."""
        return all(s.covered for s in self.segments)

    @property
    def passed(self) -> bool:
        """Complete and no position above its limit."""
        return self.complete and self.worst_margin_db >= 0.0


# --------------------------------------------------------------------------------- evaluation
def evaluate_sem(trace_frequency_hz: ArrayLike, trace_power_dbm: ArrayLike, rbw_hz: float,
                 carrier_hz: float, channel_bandwidth_hz: float, mask: SemMask, *,
                 enbw_factor: float = GAUSSIAN_ENBW_FACTOR) -> SemResult:
    """SEM on an RMS-detector analyzer trace by the integration-bandwidth method.

    Each point of ``trace_power_dbm`` is the power (dBm) in ``ENBW = enbw_factor * rbw_hz``;
    the frequency axis must be uniform and ascending. Segments (or positions) outside the trace
    span are reported as not covered rather than guessed.
    """
    f = np.asarray(trace_frequency_hz, dtype=float)
    p_w = 10.0 ** ((np.asarray(trace_power_dbm, dtype=float) - 30.0) / 10.0)
    enbw = enbw_factor * rbw_hz
    df = _uniform_step(f)
    method = (f"SEM by integration-bandwidth method: {f.size}-point trace, bin {df:.1f} Hz, "
              f"RBW {rbw_hz:.1f} Hz, ENBW {enbw:.1f} Hz ({enbw_factor:.4f} x RBW), "
              f"P_MBW = sum(P_bin*df/ENBW) with partial-bin weighting")
    result = _evaluate(p_w / enbw, f, df, carrier_hz, channel_bandwidth_hz, mask, method)
    return replace(result, notes=result.notes + _resolution_notes(mask, rbw_hz, df))


def _resolution_notes(mask: SemMask, rbw_hz: float, df: float) -> tuple[str, ...]:
    """Where the trace is too coarse for a row: RBW above the MBW (the 3GPP measurement notes
    allow an RBW equal to or below the MBW, integrated), or points wider apart than the RBW."""
    notes = []
    coarse = sorted({s.mbw_hz for s in mask.segments if rbw_hz > s.mbw_hz * (1 + 1e-9)})
    if coarse:
        notes.append(f"RBW {_bw_text(rbw_hz)} > MBW {', '.join(_bw_text(m) for m in coarse)}: "
                     "those rows are not resolved (RBW must not exceed the MBW)")
    if df > rbw_hz * (1 + 1e-9):
        notes.append(f"trace points {_bw_text(df)} apart > RBW {_bw_text(rbw_hz)}: the "
                     "integration misses power between points")
    return tuple(notes)


def evaluate_sem_psd(psd: Psd, carrier_hz: float, channel_bandwidth_hz: float,
                     mask: SemMask) -> SemResult:
    """SEM on a PSD (W/Hz, e.g. from ``psd_welch`` of captured IQ), same MBW integration.

    The PSD resolution (``psd.rbw_hz``) should be well below the narrowest MBW.
    """
    df = _uniform_step(psd.freq_hz)
    method = (f"SEM from PSD: MBW power = integral of the density with partial-bin weighting, "
              f"bin {df:.1f} Hz ({psd.method})")
    return _evaluate(np.asarray(psd.psd_w_per_hz, dtype=float), np.asarray(psd.freq_hz), df,
                     carrier_hz, channel_bandwidth_hz, mask, method)


def _uniform_step(f: np.ndarray) -> float:
    if f.ndim != 1 or f.size < 2:
        raise ValueError("need a 1-D frequency axis of at least two points")
    df = float((f[-1] - f[0]) / (f.size - 1))
    if df <= 0 or not np.allclose(np.diff(f), df, rtol=1e-6, atol=0.0):
        raise ValueError("frequency axis must be uniformly spaced and ascending")
    return df


def _evaluate(density: np.ndarray, f: np.ndarray, df: float, carrier_hz: float,
              channel_bandwidth_hz: float, mask: SemMask, method: str) -> SemResult:
    if density.shape != f.shape:
        raise ValueError(f"power {density.shape} and frequency {f.shape} differ in shape")
    half_bw = channel_bandwidth_hz / 2
    edge = {LOWER: carrier_hz - half_bw, UPPER: carrier_hz + half_bw}
    results = []
    for i, seg in enumerate(mask.segments):
        offsets = _positions(seg, df)
        for side, sign in ((LOWER, -1.0), (UPPER, 1.0)):
            centres = edge[side] + sign * offsets
            results.append(_segment(i, side, seg, offsets, centres, density, f, df))
    notes = tuple(f"segment {r.index} ({r.segment.describe()}) {r.side}: not fully inside the "
                  f"trace span" for r in results if not r.covered)
    if mask.channel_bandwidth_hz and not math.isclose(mask.channel_bandwidth_hz,
                                                      channel_bandwidth_hz):
        notes += (f"mask built for {mask.channel_bandwidth_hz / 1e6:g} MHz, evaluated at "
                  f"{channel_bandwidth_hz / 1e6:g} MHz",)
    return SemResult(mask, float(carrier_hz), float(channel_bandwidth_hz), tuple(results),
                     f"{method}; mask {mask.name} ({mask.source})", notes)


def _positions(seg: MaskSegment, df: float) -> np.ndarray:
    """Filter-centre offsets across a segment, spaced by at most the trace step, ends included."""
    n = max(1, int(math.ceil((seg.stop_hz - seg.start_hz) / df - 1e-9)) + 1)
    return np.linspace(seg.start_hz, seg.stop_hz, n) if n > 1 else np.array([seg.start_hz])


def _segment(index: int, side: str, seg: MaskSegment, offsets: np.ndarray, centres: np.ndarray,
             density: np.ndarray, f: np.ndarray, df: float) -> SegmentResult:
    half = seg.mbw_hz / 2
    lo_edge, hi_edge = f[0] - df / 2, f[-1] + df / 2
    tol = 1e-9 * df
    inside = (centres - half >= lo_edge - tol) & (centres + half <= hi_edge + tol)
    c = centres[inside]
    power_w = _band_powers(density, f, df, c - half, c + half) if c.size else np.empty(0)
    power_dbm = 10.0 * np.log10(np.maximum(power_w, _MIN_POWER_W)) + 30.0
    return SegmentResult(index, side, seg, offsets[inside], c, power_dbm,
                         seg.limit_dbm_at(offsets[inside]), bool(inside.all()))


def _band_powers(density: np.ndarray, f: np.ndarray, df: float, lo: np.ndarray,
                 hi: np.ndarray) -> np.ndarray:
    """Powers (W) of ``density`` in each ``[lo, hi]``: exact for a density flat within a bin.

    The cumulative integral is taken over only the bins these bands touch, so a strong carrier
    elsewhere in the trace does not cost float64 precision in weak out-of-band bands.
    """
    i0 = max(int(np.floor((lo.min() - f[0]) / df)) - 1, 0)
    i1 = min(int(np.ceil((hi.max() - f[0]) / df)) + 2, f.size)
    edges = np.concatenate(([f[i0] - df / 2], f[i0:i1] + df / 2))
    cum = np.concatenate(([0.0], np.cumsum(density[i0:i1] * df)))
    return np.interp(hi, edges, cum) - np.interp(lo, edges, cum)
