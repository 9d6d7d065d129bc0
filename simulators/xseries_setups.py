"""Keysight X-series simulator: result layouts, measurement set-ups and acquisition records.

The constants give the sizes and sentinels of the SA-mode results (`FETCh:ACPower?` 28 values,
`FETCh:SEMask?` 82, `FETCh:TOI?` 6/13, harmonics 10; 9.91E+37 where a result does not exist);
the `*Setup` dataclasses hold each built-in measurement's "Meas Local" settings (span, RBW,
points, averaging, sweep-time rules) and the `*Acquisition` records what one sweep or capture
saw. The SCPI tree that reads and writes them is `simulators.keysight_xseries`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from simulators import analyzer_measurements as am
from simulators import spectrum as sp
from simulators.signals import ModulatedSignal, Tone

NAN_RESULT = 9.91e37  # X-series "not a number" result
#: SA-mode measurements as `:CONFigure?` names them: Swept SA, Channel Power, ACP, Occupied BW.
#: The manual says `:CONF?` returns the long form (e.g. CHPower); public scripts compare the
#: reply with the short form ("OBW") [verify].
MEASUREMENTS = {"SAN": "SANalyzer", "CHP": "CHPower", "ACP": "ACPower", "OBW": "OBWidth",
                "SEM": "SEMask", "TOI": "TOI", "HARM": "HARMonics"}
N_OFFSETS = 6  # ACP offsets A..F ("Max Num of Offsets" preset 6)
ACP_RESULTS = 4 + 4 * N_OFFSETS  # FETCh:ACPower? n=1 with 6 offsets: 28 values
#: Auto sweep time of CHP/ACP/OBW: besides the swept k-rule, every display point averages at
#: least this many independent RBW-bandwidth samples with the RMS detector, so the integrated
#: power of a noise-like signal repeats to ~0.1 dB (a "best accuracy" sweep rule) [verify].
ACCURACY_SAMPLES = 20.0
#: Harmonics: "Harmonics" 2..10, preset 10 (PSA reference, kept by the X-series [verify])
MAX_HARMONICS = 10
HARM_RESULTS = 10  # AMPLitude:ALL? / FREQuency:ALL?: the first ten harmonics
#: preset RBW of the fundamental's zero-span measurement [verify]
HARM_PRESET_RBW_HZ = 30e3
#: ST/Harmonic auto: 200/RBW, at least 10 ms (PSA reference "ST/Harmonic") [verify for X-series]
HARM_MIN_SWEEP_TIME_S = 10e-3
TOI_RESULTS, TOI2_RESULTS = 6, 13
#: SEM offsets: lists of 12 values (A..L), SA mode measures A..F and FETCh:SEM? n=1 reports
#: A..F (reference: "query returns 12 values for other Modes"; "n = 1 returns results of 6
#: offsets")
SEM_LIST_SIZE, SEM_OFFSETS = 12, 6
SEM_REFERENCE_VALUES, SEM_VALUES_PER_OFFSET = 10, 10
SEM_RESULTS = SEM_REFERENCE_VALUES + SEM_VALUES_PER_OFFSET * SEM_OFFSETS + 2 * SEM_OFFSETS
#: Offset Freq Define ([:SENSe]:SEMask:OFFSet<n>:TYPE) [verify preset]
SEM_OFFSET_TYPES = ["CTOCenter", "CTOEdge", "ETOCenter", "ETOEdge"]
#: internal preamp, `:POW:GAIN:BAND LOW` (preset): amplifies below 3.6 GHz only [verify]
LOW_BAND_PREAMP_MAX_HZ = 3.6e9


@dataclass
class Acquisition:
    """What one sweep/capture saw: tones and modulated signals at INIT time, settings, and a
    seed for its noise."""

    tones: list[Tone]
    settings: sp.SweepSettings
    seed: int
    modulated: list[ModulatedSignal] = field(default_factory=list)
    cache: dict[int, sp.SweepResult] = field(default_factory=dict)
    #: excess noise PSD (W/Hz) per display point from the noise-source chain, at INIT time
    external_noise_w_hz: np.ndarray | None = None


@dataclass(frozen=True)
class IqAcquisition:
    """One IQ Basic capture: inputs at INIT time, capture settings and a seed for its noise."""

    tones: list[Tone]
    modulated: list[ModulatedSignal]
    center_hz: float
    sample_rate_hz: float
    n_samples: int
    seed: int
    noise_density_dbm_hz: float
    gain_db: float


@dataclass
class PowerMeasSetup:
    """The "Meas Local" settings each built-in power measurement keeps for itself (presets:
    span 3 MHz, 1001 points, averaging on with 10 averages [verify])."""

    DETECTOR: ClassVar[sp.Detector] = "AVER"  # RMS: the average detector, power averaging
    AVERAGE_TYPE: ClassVar[sp.AverageType] = "RMS"

    span_hz: float = 3e6
    rbw_hz: float = 30e3
    rbw_auto: bool = True
    points: int = 1001
    avg_on: bool = True
    avg_count: int = 10
    swt_s: float = 1e-3
    swt_auto: bool = True

    def span(self) -> float:
        return self.span_hz

    def auto_rbw(self) -> float:
        """RBW auto rule: ~1 % of the span (the presets pair a 3 MHz span with 30 kHz) [verify]."""
        return sp.snap_rbw(min(max(self.span() / 100.0, 1.0), 3e6), 3e6)

    def rbw(self) -> float:
        return self.auto_rbw() if self.rbw_auto else self.rbw_hz

    def averages(self) -> int:
        return self.avg_count if self.avg_on else 1

    def sweep_time(self, analysis_bw_hz: float) -> float:
        """Auto: the swept k-rule (average detector) or ACCURACY_SAMPLES per point, if longer."""
        if not self.swt_auto:
            return self.swt_s
        rbw = self.rbw()
        swept, _ = sp.sweep_time(self.span(), rbw, 10.0 * rbw, "AVER", self.points,
                                 analysis_bw_hz)
        return max(swept, self.points * ACCURACY_SAMPLES / rbw)


@dataclass
class ChpSetup(PowerMeasSetup):
    """Channel Power: integration bandwidth (preset 2 MHz, SA mode)."""

    integ_bw_hz: float = 2e6


def acp_offsets() -> list[float]:
    return [3e6] + [0.0] * (N_OFFSETS - 1)


@dataclass
class AcpSetup(PowerMeasSetup):
    """ACP: one carrier and offsets A..F (presets: carrier 2 MHz, offset A at 3 MHz on, B..F off,
    2 MHz integration bandwidths [verify]); integration-bandwidth method only."""

    carrier_bw_hz: float = 2e6
    carrier_width_hz: float = 2e6
    offset_hz: list[float] = field(default_factory=acp_offsets)
    offset_bw_hz: list[float] = field(default_factory=lambda: [2e6] * N_OFFSETS)
    offset_on: list[bool] = field(default_factory=lambda: [True] + [False] * (N_OFFSETS - 1))
    noise_correction: bool = False

    def enabled(self) -> list[int]:
        return [i for i, on in enumerate(self.offset_on) if on]

    def span(self) -> float:
        """The span the carrier and the enabled offsets need (coupled, not settable)."""
        on = self.enabled()
        return am.acp_span_hz(self.carrier_bw_hz, np.array([self.offset_hz[i] for i in on]),
                              np.array([self.offset_bw_hz[i] for i in on]))

    def auto_rbw(self) -> float:
        """~1 % of the narrowest integration bandwidth, but at least two display points per RBW
        so a tone cannot fall between points [verify]."""
        widths = [self.carrier_bw_hz] + [self.offset_bw_hz[i] for i in self.enabled()]
        spacing = self.span() / max(self.points - 1, 1)
        return sp.snap_rbw(min(max(min(widths) / 100.0, 2.0 * spacing, 1.0), 3e6), 3e6)


@dataclass
class ObwSetup(PowerMeasSetup):
    """Occupied BW: power percentage (preset 99 %) and the x dB bandwidth level (-26 dB)."""

    percent: float = 99.0
    xdb_db: float = -26.0


@dataclass
class ToiSetup(PowerMeasSetup):
    """TOI: one swept trace over both tones and their IM3 products, peak detector (a tone's
    level is its highest point wherever it falls between display points) [verify detector]."""

    DETECTOR: ClassVar[sp.Detector] = "POS"
    AVERAGE_TYPE: ClassVar[sp.AverageType] = "LOG"

    def sweep_time(self, analysis_bw_hz: float) -> float:
        """Auto: the swept k-rule of a peak-detector sweep (VBW = RBW)."""
        if not self.swt_auto:
            return self.swt_s
        rbw = self.rbw()
        return sp.sweep_time(self.span(), rbw, rbw, "POS", self.points, analysis_bw_hz)[0]


def rbw_at_least(rbw_hz: float, max_rbw_hz: float) -> float:
    """The smallest available RBW >= `rbw_hz` (the widest if none is)."""
    values = sp.rbw_values()
    wide = values[(values >= rbw_hz * (1 - 1e-9)) & (values <= max_rbw_hz * (1 + 1e-9))]
    return float(wide[0]) if wide.size else float(values[values <= max_rbw_hz * 1.000001][-1])


@dataclass
class HarmSetup(PowerMeasSetup):
    """Harmonics: number of harmonics (2..10, the fundamental counts as the first), the
    fundamental (auto: the centre frequency [verify: the instrument searches for it]), the
    fundamental's RBW; "ST/Harmonic" is the zero-span sweep time of each harmonic."""

    number: int = MAX_HARMONICS
    fundamental_hz: float = 1e9
    fundamental_auto: bool = True

    def auto_rbw(self) -> float:
        return HARM_PRESET_RBW_HZ

    def rbw_for(self, order: int, max_rbw_hz: float) -> float:
        """RBW of harmonic `order`: order x the fundamental's, next available (PSA reference
        "Harmonic Distortion") [verify for the X-series]."""
        return rbw_at_least(order * self.rbw(), max_rbw_hz)

    def sweep_time(self, analysis_bw_hz: float) -> float:
        """ST/Harmonic auto: 200/RBW, at least 10 ms [verify]."""
        if not self.swt_auto:
            return self.swt_s
        return max(200.0 / self.rbw(), HARM_MIN_SWEEP_TIME_S)


def sem_list(*values: float) -> list[float]:
    return list(values) + [values[-1]] * (SEM_LIST_SIZE - len(values))


@dataclass
class SemSetup(PowerMeasSetup):
    """SEM: the reference channel (Integ BW, Ref Chan Span = the measurement's span, its own
    RBW and sweep time) and offsets A..L as 12-value lists. Presets follow the 3GPP W-CDMA BS
    mask the SA-mode SEM starts with (Integ BW 3.84 MHz, span 5 MHz; offsets A..E on) [verify
    every preset value]. Offsets are filter-centre positions from the carrier centre
    (CTOCenter) unless `offset_type` says otherwise."""

    span_hz: float = 5e6
    integ_bw_hz: float = 3.84e6
    start_hz: list[float] = field(default_factory=lambda: sem_list(
        2.515e6, 2.715e6, 3.515e6, 4.0e6, 8.0e6, 12.5e6))
    stop_hz: list[float] = field(default_factory=lambda: sem_list(
        2.715e6, 3.515e6, 4.0e6, 8.0e6, 12.5e6, 15.0e6))
    offset_rbw_hz: list[float] = field(default_factory=lambda: sem_list(
        30e3, 30e3, 30e3, 1e6, 1e6, 1e6))
    imulti: list[float] = field(default_factory=lambda: sem_list(1))
    start_abs_dbm: list[float] = field(default_factory=lambda: sem_list(
        -14.0, -14.0, -26.0, -13.0, -13.0, -13.0))
    stop_abs_dbm: list[float] = field(default_factory=lambda: sem_list(
        -14.0, -26.0, -26.0, -13.0, -13.0, -13.0))
    stop_abs_couple: list[bool] = field(default_factory=lambda: [False] * SEM_LIST_SIZE)
    start_rel_db: list[float] = field(default_factory=lambda: sem_list(-30.0))
    stop_rel_db: list[float] = field(default_factory=lambda: sem_list(-30.0))
    stop_rel_couple: list[bool] = field(default_factory=lambda: [True] * SEM_LIST_SIZE)
    state: list[bool] = field(default_factory=lambda: [True] * 5 + [False] * 7)
    test: list[str] = field(default_factory=lambda: ["ABS"] * SEM_LIST_SIZE)
    offset_swt_s: list[float] = field(default_factory=lambda: sem_list(10e-3))
    offset_swt_auto: list[bool] = field(default_factory=lambda: [True] * SEM_LIST_SIZE)
    offset_type: str = "CTOC"

    def mbw(self, k: int) -> float:
        """Meas BW of offset k: IMULti x its RBW."""
        return self.imulti[k] * self.offset_rbw_hz[k]

    def limits_dbm(self, k: int, carrier_dbm: float) -> tuple[float, float]:
        """(start, stop) limit of offset k in dBm per Meas BW for its fail mask (ABS or REL)."""
        if self.test[k] == "REL":
            stop = self.start_rel_db[k] if self.stop_rel_couple[k] else self.stop_rel_db[k]
            return carrier_dbm + self.start_rel_db[k], carrier_dbm + stop
        stop = self.start_abs_dbm[k] if self.stop_abs_couple[k] else self.stop_abs_dbm[k]
        return self.start_abs_dbm[k], stop

    def centres_hz(self, k: int) -> tuple[float, float]:
        """(first, last) filter-centre offset of offset k from its reference (centre or edge):
        the *TOEdge definitions count to the filter's -3 dB edge closer to the carrier."""
        shift = self.mbw(k) / 2 if self.offset_type.endswith("E") else 0.0
        return self.start_hz[k] + shift, self.stop_hz[k] + shift

    def reference_half_hz(self) -> float:
        """Half-width from the carrier centre to the offsets' reference: 0 (Carrier Center) or
        Ref Chan Span/2 (Carrier Edge, VMA-mode reference "Offset Freq Define")."""
        return self.span_hz / 2 if self.offset_type.startswith("E") else 0.0

    def measured(self) -> list[int]:
        """Enabled offsets among A..F with a usable range (stop > start)."""
        return [k for k in range(SEM_OFFSETS)
                if self.state[k] and self.stop_hz[k] > self.start_hz[k]]

    def side_range_hz(self, k: int) -> tuple[float, float]:
        """(near, far) distance from the carrier centre of the sweep of offset k on each side:
        every filter position +- Meas BW/2, and 2 RBW more."""
        first, last = self.centres_hz(k)
        half, reach = self.reference_half_hz(), self.mbw(k) / 2 + 2 * self.offset_rbw_hz[k]
        return half + first - reach, half + last + reach

    def side_points(self, k: int, max_points: int) -> int:
        """Display points of one side: at most one RBW apart (the RMS integration then misses
        nothing between points), 101 at least [verify the instrument's rule]."""
        near, far = self.side_range_hz(k)
        points = math.ceil((far - near) / self.offset_rbw_hz[k]) + 1
        return int(min(max(points, 101), max_points))

    def offset_sweep_time(self, k: int, max_points: int, analysis_bw_hz: float) -> float:
        """Sweep time of one side of offset k. Auto: the swept rule or ACCURACY_SAMPLES RMS
        samples per point, as the other power measurements [verify]."""
        if not self.offset_swt_auto[k]:
            return self.offset_swt_s[k]
        near, far = self.side_range_hz(k)
        rbw, points = self.offset_rbw_hz[k], self.side_points(k, max_points)
        swept, _ = sp.sweep_time(far - near, rbw, 10.0 * rbw, "AVER", points, analysis_bw_hz)
        return max(swept, points * ACCURACY_SAMPLES / rbw)


SETUPS: dict[str, Callable[[], PowerMeasSetup]] = {
    "CHP": ChpSetup, "ACP": AcpSetup, "OBW": ObwSetup, "SEM": SemSetup, "TOI": ToiSetup,
    "HARM": HarmSetup}


@dataclass(frozen=True)
class Sweep:
    """One further sweep of a multi-sweep measurement: harmonic `index` (its order), or one
    `side` ("lower"|"upper") of SEM offset `index` (0 = A)."""

    index: int
    side: str
    result: sp.SweepResult
    rbw_hz: float


@dataclass(frozen=True)
class MeasAcquisition:
    """One built-in measurement: its settings at INIT time and its sweeps (the main one, RMS
    detector except TOI; harmonics and SEM offsets in `more`)."""

    setup: PowerMeasSetup
    center_hz: float
    rbw_hz: float
    duration_s: float
    result: sp.SweepResult
    more: tuple[Sweep, ...] = ()


def finite(values: list[float]) -> np.ndarray:
    """Results as sent: anything not finite (no power left after noise correction) is NaN."""
    arr = np.asarray(values, dtype=float)
    return np.where(np.isfinite(arr), arr, NAN_RESULT)


def xdb_bandwidth_hz(frequency_hz: np.ndarray, power_dbm: np.ndarray, xdb_db: float) -> float:
    """Width between the points where the trace first falls `xdb_db` (negative) below its peak,
    walking out from the peak on each side; linear interpolation in dB between points."""
    peak = int(np.argmax(power_dbm))
    level = float(power_dbm[peak]) + xdb_db
    edges = []
    for step in (-1, 1):
        i = peak
        while 0 <= i + step < power_dbm.size and power_dbm[i + step] > level:
            i += step
        j = i + step
        if not 0 <= j < power_dbm.size:
            return NAN_RESULT  # never falls x dB within the span
        y0, y1 = float(power_dbm[i]), float(power_dbm[j])
        frac = (y0 - level) / (y0 - y1) if y0 != y1 else 0.0
        edges.append(float(frequency_hz[i] + frac * (frequency_hz[j] - frequency_hz[i])))
    return edges[1] - edges[0]


