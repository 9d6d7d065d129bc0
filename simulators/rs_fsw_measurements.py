"""Harmonic distortion, third-order intercept and spectrum emission mask of the simulated R&S FSW.

The Spectrum application's measurements beyond the power functions of `rs_fsw.py`. One
measurement is active per Spectrum channel: switching one on switches the others and any power
function (CP/ACLR/OBW) off, as selecting a measurement does on the instrument [verify].

Sources: R&S FSW User Manual 1173.9411.02 ("Harmonic Distortion Measurement", "Third Order
Intercept (TOI) Measurement", "Spectrum Emission Mask (SEM) Measurement" and their remote
commands); the TRACe:DATA? LIST layout is the one the FPL1000 and ESR manuals of the same
firmware family document. Reproduced behaviour:

- Harmonics (``CALCulate:MARKer:FUNCtion:HARMonics[:STATe] ON``): the fundamental is the peak of
  the frequency sweep (trace 1); the fundamental and each harmonic n*f are then measured in zero
  span (RMS over the sweep time of the frequency sweep) [verify], harmonic n with n x the RBW
  while ``:HARMonics:BANDwidth:AUTO`` is ON (preset) [verify]. ``:NHARmonics`` 1..26 (*RST 10)
  counts the fundamental [verify]. ``:LIST?`` -> fundamental dBm, then H2..Hn in dB relative to
  it; ``:DISTortion? TOTal`` -> THD in %, THD in dB [verify]. Harmonics beyond the frequency
  range read 9.91E37. A single sweep takes NHARmonics sweep times [verify].
- TOI (``:FUNCtion:TOI[:STATe] ON``): marker 1 and 2 on the two tones (peak, next peak; marker 1
  the lower one [verify]), delta markers 3 and 4 (reference marker 1 unless
  ``CALC:DELT<m>:MREF`` says otherwise [verify]) on the highest point within one RBW of
  2*f1 - f2 and 2*f2 - f1. ``:TOI:RESult?`` -> the lower of the two intercepts
  P_tone + (P_tone - P_IM3)/2 [verify]. ``CALC:DELT<m>:X?`` is absolute, ``:X:RELative?`` and
  ``:Y?`` relative to the reference marker.
- SEM (``[SENSe:]SWEep:MODE ESPectrum``): a sweep list of 3..30 ranges, frequencies relative to
  the centre, ascending, not overlapping (gaps allowed), the reference range centred with a span
  of at least the TX bandwidth (``ESPectrum:BWID``) (manual, "Ranges and range settings"); the
  list is checked when a sweep starts (-221 otherwise). ``:RANGe<r>:INSert AFTer|BEFore`` copies
  range r next to it; ``:DELete`` refuses the reference range and the third-last range. Per range:
  ``[:FREQuency]:STARt|STOP``, ``:BANDwidth:RESolution``, ``:FILTer:TYPE NORMal|CFILter``,
  ``:SWEep:TIME[:AUTO]``, ``:LIMit1:ABSolute|RELative:STARt|STOP``, ``:LIMit1:STATe
  ABSolute|RELative|AND|OR`` (one power class simulated); the ranges use the channel's reference
  level and attenuation (per-range RLEVel/attenuation are not simulated). RMS detector. The
  sweep points (``SWEep:POINts``) are shared among the ranges in proportion to their spans, at
  least 2 each [verify]. A Gaussian (NORMal) range reads the power in its RBW filter; a channel
  filter (CFILter) range reads the power in a square band of the filter bandwidth (ideal
  rectangle [verify]) - the way an MBW is measured on the FSW. Reference power (``:RTYPe
  CPOWer``): channel power of the reference range over the TX bandwidth (IBW method), or its
  peak (``PEAK``). ``TRACe:DATA? LIST`` -> 11 values per range: range number, start and stop
  (absolute Hz), RBW, frequency, power (dBm), power relative to the reference (dB), delta to
  the limit (dB, positive fails), limit check (0 pass, 1 fail), 0, 0; per range the sweep point
  with the largest delta to the limit is reported [verify]. ``CALCulate:LIMit:FAIL?`` -> 1 if
  any range fails. ``TRACe? TRACE1`` and ``TRACe:X? TRACE1`` give the readings and their
  (non-equidistant) frequencies, ranges concatenated. A sweep takes the sum of the ranges'
  sweep times.
The analyzer's own distortion (harmonics and intermodulation of its mixer) is not modelled:
every reading is of the signals at the RF input plus the analyzer's noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from simulators import analyzer_measurements as am
from simulators import spectrum as sp
from simulators.scpi_core import ScpiError, parse_bool, parse_enum
from simulators.scpi_parse import STANDARD_ERRORS
from simulators.signals import ModulatedSignal, Tone

if TYPE_CHECKING:
    from simulators.rs_fsw import RohdeSchwarzFSW, _Spectrum

Args = list[str]
Sfx = tuple[int, ...]

NAN = 9.91e37  # R&S "no result" value [verify]
MAX_HARMONICS = 26
MAX_SEM_RANGES = 30  # firmware >= 1.60 (manual)
MIN_SEM_RANGES = 3
MIN_RANGE_SPAN_HZ = 20.0
SEM_LIST_VALUES = 11
MAX_LIMIT_DBM = 400.0  # limit range -400..400 (manual, relative limits) [verify absolute]
#: FSW channel filters (data sheet "Channel filters") [verify]
CHANNEL_FILTERS_HZ = np.array([
    100.0, 200.0, 300.0, 500.0, 1e3, 1.5e3, 2e3, 2.4e3, 2.7e3, 3e3, 3.4e3, 4e3, 4.5e3, 5e3,
    6e3, 8.5e3, 9e3, 10e3, 12.5e3, 14e3, 15e3, 16e3, 20e3, 21e3, 25e3, 30e3, 50e3, 100e3,
    150e3, 192e3, 200e3, 300e3, 500e3, 1e6, 1.228e6, 1.5e6, 2e6, 3e6, 5e6])
#: a channel filter's reading of a noise-like modulated signal is integrated from the signal's
#: line spectrum seen through a Gaussian RBW this many times narrower than the filter
CFIL_OVERSAMPLING = 10
MAX_INTERNAL_POINTS = 400_000
ZERO_SPAN_POINTS = 101
_FILTER_TYPES = ["NORMal", "CFILter", "RRC", "PULSe", "P5"]
_LIMIT_STATES = ["ABSolute", "RELative", "AND", "OR"]


def rs_number(x: float) -> str:
    """R&S-style numeric response: plain decimal/exponent without a plus sign."""
    return f"{x:.12g}"


def rs_error(code: int, detail: str) -> ScpiError:
    """An error with the R&S message form ``<standard text>;<detail>``."""
    return ScpiError(code, f"{STANDARD_ERRORS.get(code, 'Error')};{detail}")


def snap_channel_filter(value_hz: float) -> float:
    """The channel filter nearest to `value_hz` [verify: the FSW may round differently]."""
    return float(CHANNEL_FILTERS_HZ[int(np.argmin(np.abs(CHANNEL_FILTERS_HZ - value_hz)))])


def _dbm(watts: np.ndarray | float) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(watts, 1e-300)) + 30.0


# ------------------------------------------------------------------------------ state
@dataclass
class SemRange:
    """One sweep-list range; frequencies relative to the centre frequency."""

    start_hz: float
    stop_hz: float
    rbw_hz: float
    filter_type: str = "NORM"
    sweep_time_s: float | None = None  # None: auto
    abs_start_dbm: float = -13.0
    abs_stop_dbm: float = -13.0
    rel_start_db: float = -50.0
    rel_stop_db: float = -50.0
    limit_state: str = "ABS"
    reference: bool = False


def _preset_ranges() -> list[SemRange]:
    """*RST sweep list: five ranges, the reference range in the middle [verify]."""
    return [SemRange(-12.75e6, -4e6, 1e6), SemRange(-4e6, -2.52e6, 30e3),
            SemRange(-2.52e6, 2.52e6, 30e3, abs_start_dbm=MAX_LIMIT_DBM,
                     abs_stop_dbm=MAX_LIMIT_DBM, reference=True),
            SemRange(2.52e6, 4e6, 30e3), SemRange(4e6, 12.75e6, 1e6)]


@dataclass
class SemConfig:
    """The sweep list, the reference range's TX bandwidth and reference power type."""

    ranges: list[SemRange] = field(default_factory=_preset_ranges)
    tx_bandwidth_hz: float = 3.84e6  # *RST [verify]
    reference_type: str = "CPOW"


@dataclass
class HarmonicsConfig:
    """NHARmonics (the fundamental counts) and HARMonics:BANDwidth:AUTO."""

    count: int = 10  # fundamental included
    rbw_auto: bool = True


@dataclass
class MeasurementState:
    """Per Spectrum channel: the active measurement (None, "HARM", "TOI" or "ESP"), settings,
    delta markers (frequency), their reference markers, and the last result."""

    function: str | None = None
    harmonics: HarmonicsConfig = field(default_factory=HarmonicsConfig)
    sem: SemConfig = field(default_factory=SemConfig)
    deltas: dict[int, float] = field(default_factory=dict)
    delta_refs: dict[int, int] = field(default_factory=dict)
    cached: tuple[int, str, Any] | None = None  # (acquisition seed, function, result)


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class HarmonicsOutcome:
    """Zero-span readings at n x the fundamental."""

    frequency_hz: np.ndarray  # n * fundamental, n = 1..count
    power_dbm: np.ndarray  # NaN beyond the frequency range

    def list_values(self) -> list[float]:
        """Fundamental dBm, then each harmonic relative to it (dB)."""
        rel = self.power_dbm[1:] - self.power_dbm[0]
        return [float(self.power_dbm[0]), *(float(v) for v in rel)]

    def thd(self) -> tuple[float, float]:
        """(THD %, THD dB): harmonic power over fundamental power, as amplitude % and dB."""
        p = 10.0 ** (self.power_dbm / 10.0)
        ratio = float(np.nansum(p[1:]) / p[0])
        return 100.0 * math.sqrt(ratio), 10.0 * math.log10(max(ratio, 1e-300))


@dataclass(frozen=True)
class ToiOutcome:
    """Where the markers go (trace point indices) and both sides' intercepts."""

    tone_index: tuple[int, int]  # trace points of the lower and upper tone
    im3_index: tuple[int, int]  # trace points of 2f1-f2 and 2f2-f1
    lower_toi_dbm: float
    upper_toi_dbm: float


@dataclass(frozen=True)
class SemOutcome:
    """One SEM sweep: the concatenated readings, the list evaluation, the reference power."""

    frequency_hz: np.ndarray  # every sweep point, ranges concatenated
    power_dbm: np.ndarray
    rows: np.ndarray  # (ranges, 11): the TRACe:DATA? LIST layout
    reference_dbm: float

    @property
    def failed(self) -> bool:
        return bool(np.any(self.rows[:, 8] > 0))


# ------------------------------------------------------------------------------ physics
def zero_span_dbm(acq_tones: Sequence[Tone], modulated: Sequence[ModulatedSignal],
                  base: sp.SweepSettings, frequency_hz: float, rbw_hz: float,
                  sweep_time_s: float, model: sp.AnalyzerModel, rng: np.random.Generator,
                  offset_db: float) -> float:
    """RMS reading of a zero-span sweep at `frequency_hz`: the power average of a trace whose
    points all lie within RBW/200 of it (a tone there reads -0.0001 dB), over the sweep time."""
    s = replace(base, start_hz=frequency_hz - rbw_hz / 200, stop_hz=frequency_hz + rbw_hz / 200,
                points=ZERO_SPAN_POINTS, rbw_hz=rbw_hz, vbw_hz=rbw_hz, detector="AVER",
                average_type="RMS", average_count=1, sweep_time_s=sweep_time_s)
    r = sp.synthesize_sweep(acq_tones, s, model, rng, offset_db, modulated=modulated)
    return float(_dbm(np.mean(10.0 ** (r.power_dbm / 10.0 - 3.0))))


def toi_from_trace(x: np.ndarray, y: np.ndarray, rbw_hz: float) -> ToiOutcome:
    """Tones: the trace maximum and the next peak (6 dB excursion); IM3: the highest point
    within one RBW of 2*f1 - f2 and 2*f2 - f1. ValueError if there are not two signals."""
    first = int(np.argmax(y))
    second = sp.next_peak_index(y, float(y[first]))
    if second < 0:
        raise ValueError("no second signal found")
    lo, hi = sorted((first, second))
    spacing = x[hi] - x[lo]
    im3 = []
    for f in (x[lo] - spacing, x[hi] + spacing):
        near = np.flatnonzero(np.abs(x - f) <= max(rbw_hz, (x[1] - x[0]) * 1.01))
        if near.size == 0:
            raise ValueError("intermodulation product outside the span")
        im3.append(int(near[np.argmax(y[near])]))
    lower = float(y[lo] + (y[lo] - y[im3[0]]) / 2)
    upper = float(y[hi] + (y[hi] - y[im3[1]]) / 2)
    return ToiOutcome((lo, hi), (im3[0], im3[1]), lower, upper)


def allocate_points(spans_hz: Sequence[float], total: int) -> list[int]:
    """Sweep points per range: shared in proportion to the spans, at least 2 each [verify]."""
    whole = float(sum(spans_hz))
    return [max(2, int(round(total * s / whole))) for s in spans_hz]


def check_sweep_list(cfg: SemConfig) -> None:
    """ValueError naming the first rule of the manual the sweep list breaks."""
    ranges = cfg.ranges
    if not MIN_SEM_RANGES <= len(ranges) <= MAX_SEM_RANGES:
        raise ValueError(f"{len(ranges)} ranges (3..30)")
    for k, r in enumerate(ranges, start=1):
        if r.stop_hz - r.start_hz < MIN_RANGE_SPAN_HZ:
            raise ValueError(f"range {k} spans less than 20 Hz")
        if k > 1 and r.start_hz < ranges[k - 2].stop_hz:
            raise ValueError(f"ranges {k - 1} and {k} overlap")
    ref = next(r for r in ranges if r.reference)
    if not math.isclose(ref.start_hz, -ref.stop_hz, rel_tol=1e-9, abs_tol=1.0):
        raise ValueError("reference range not centred on the centre frequency")
    if ref.stop_hz - ref.start_hz < cfg.tx_bandwidth_hz * (1 - 1e-9):
        raise ValueError("reference range narrower than the TX bandwidth")


def channel_filter_w(x: np.ndarray, bandwidth_hz: float, tones: Sequence[Tone],
                     modulated: Sequence[ModulatedSignal], gain_db: float,
                     noise_w_hz: np.ndarray, sweep_time_s: float,
                     rng: np.random.Generator) -> np.ndarray:
    """RMS readings (W) of a square channel filter of `bandwidth_hz` centred on each `x`.

    Mean: the tones (and resolved lines) inside the band, the analyzer noise density times the
    bandwidth, and the modulated signals' line spectrum integrated over the band (from a
    Gaussian RBW of bandwidth / CFIL_OVERSAMPLING on a grid of half that). Noise-like power is
    read with the statistics of an RMS detector averaging sweep_time * bandwidth / points
    independent samples (Gamma distributed); tones are steady."""
    half = bandwidth_hz / 2
    r = bandwidth_hz / CFIL_OVERSAMPLING
    lo, hi = float(x[0]) - half - 5 * r, float(x[-1]) + half + 5 * r
    r = max(r, 2.0 * (hi - lo) / MAX_INTERNAL_POINTS)
    gain_w = 10.0 ** (gain_db / 10.0)
    noise_like = list(modulated)  # their noise-like part: steady lines are read as tones
    lines = [*tones, *(t for m in modulated for t in sp.steady_lines(m, r))]
    steady = np.zeros(x.size)
    if lines:
        f = np.array([t.frequency_hz for t in lines])
        order = np.argsort(f)
        cum = np.concatenate([[0.0], np.cumsum(10.0 ** (np.array(
            [t.power_dbm for t in lines])[order] / 10.0 - 3.0))])
        f = f[order]
        steady = gain_w * (cum[np.searchsorted(f, x + half, "right")]
                           - cum[np.searchsorted(f, x - half, "left")])
    noisy = noise_w_hz * bandwidth_hz
    if noise_like:
        grid = np.linspace(lo, hi, int(math.ceil((hi - lo) / (r / 2))) + 1)
        line_w = gain_w * sum(sp.modulated_rbw_power_w(m, grid, r) for m in noise_like)
        fine = sp.SweepResult(grid, _dbm(line_w), 0.0, "SWE", 0.0, 0.0, False, False)
        noisy = noisy + am.band_powers_w(fine, r, x, bandwidth_hz)
    a = max(sweep_time_s * bandwidth_hz / x.size, 1.0)
    return steady + noisy * rng.gamma(a, 1.0 / a, x.size)


def limit_line_dbm(r: SemRange, fraction: np.ndarray, reference_dbm: float) -> np.ndarray:
    """The range's limit at each point (`fraction` 0 at start .. 1 at stop): absolute, relative
    to the reference power, or both (AND fails only above both: the higher; OR: the lower)."""
    absolute = r.abs_start_dbm + fraction * (r.abs_stop_dbm - r.abs_start_dbm)
    relative = reference_dbm + r.rel_start_db + fraction * (r.rel_stop_db - r.rel_start_db)
    return {"ABS": absolute, "REL": relative, "AND": np.maximum(absolute, relative),
            "OR": np.minimum(absolute, relative)}[r.limit_state]


def sem_row(number: int, x: np.ndarray, p_dbm: np.ndarray, rbw_hz: float, r: SemRange,
            reference_dbm: float) -> list[float]:
    """One TRACe:DATA? LIST entry: the point with the largest delta to the limit line."""
    fraction = (x - x[0]) / (x[-1] - x[0])
    delta = p_dbm - limit_line_dbm(r, fraction, reference_dbm)
    i = int(np.argmax(delta))
    return [float(number), float(x[0]), float(x[-1]), rbw_hz, float(x[i]), float(p_dbm[i]),
            float(p_dbm[i] - reference_dbm), float(delta[i]), 1.0 if delta[i] > 0 else 0.0,
            0.0, 0.0]


# ------------------------------------------------------------------------------ SCPI
class FswMeasurements:
    """The HARMonics, TOI and SEM commands of one simulated FSW (`device`), registered on it.
    `snap_rbw` maps a requested Gaussian RBW to an available filter."""

    def __init__(self, device: RohdeSchwarzFSW, snap_rbw: Callable[[float, float], float]):
        self.dev = device
        self.snap_rbw = snap_rbw

    # -- hooks used by rs_fsw.py ---------------------------------------------------------
    def deselect(self, ch: _Spectrum) -> None:
        """A power function was switched on: the other measurements are off."""
        ch.meas.function = None

    def sweep_duration_s(self, ch: _Spectrum, sweep_s: float) -> float:
        """Duration of one INIT in this channel; -221 for an invalid SEM sweep list."""
        m = ch.meas
        if m.function == "HARM":
            return sweep_s * m.harmonics.count
        if m.function == "ESP":
            try:
                check_sweep_list(m.sem)
            except ValueError as exc:
                raise rs_error(-221, f"SEM sweep list: {exc}") from None
            return float(sum(self._range_time_s(ch, r, n) for r, n in
                             zip(m.sem.ranges, self._points(ch), strict=True)))
        return sweep_s

    def refresh_markers(self, ch: _Spectrum) -> None:
        """With TOI on, markers 1/2 and delta markers 3/4 follow the last sweep."""
        if ch.meas.function == "TOI":
            self._toi(ch)

    def trace_values(self, ch: _Spectrum, word: str, x_axis: bool) -> np.ndarray | None:
        """TRACe[:DATA][:X]? in SEM mode (LIST, or the concatenated ranges), else None."""
        if word.strip().upper() == "LIST":
            if ch.meas.function != "ESP" or x_axis:
                raise rs_error(-221, "no list evaluation active")  # [verify]
            return self._sem(ch).rows.ravel()
        if ch.meas.function != "ESP":
            return None
        outcome = self._sem(ch)
        return outcome.frequency_hz if x_axis else outcome.power_dbm

    # -- registration ----------------------------------------------------------------------
    def register(self) -> None:
        self._register_harmonics_toi()
        self._register_delta_markers()
        self._register_sem()

    def _register_harmonics_toi(self) -> None:
        c, fn = self.dev.command, "CALCulate<n>:MARKer<n>:FUNCtion"
        h = f"{fn}:HARMonics"
        c(f"{h}[:STATe]", set=lambda a, s: self._switch("HARM", a),
          query=lambda a, s: self._on("HARM"))
        c(f"{h}:NHARmonics", set=lambda a, s: setattr(
            self._m().harmonics, "count", self.dev._int(a, 1, MAX_HARMONICS, 10)),
          query=lambda a, s: str(self._m().harmonics.count))
        c(f"{h}:BANDwidth:AUTO", set=lambda a, s: setattr(
            self._m().harmonics, "rbw_auto", parse_bool(a[0])),
          query=lambda a, s: str(int(self._m().harmonics.rbw_auto)))
        c(f"{h}:LIST", query=self._harmonics_list, waits=True)
        c(f"{h}:DISTortion", query=self._harmonics_thd, waits=True)
        c(f"{fn}:TOI[:STATe]", set=lambda a, s: self._switch("TOI", a),
          query=lambda a, s: self._on("TOI"))
        c(f"{fn}:TOI:RESult", query=self._toi_result, waits=True)
        c(f"{fn}:TOI:SEARchsignal", set=self._toi_search, waits=True)

    def _register_delta_markers(self) -> None:
        c, dm = self.dev.command, "CALCulate<n>:DELTamarker<n>"
        c(f"{dm}[:STATe]", set=self._set_delta_state,
          query=lambda a, s: "1" if s[1] in self._m().deltas else "0")
        c(f"{dm}:X", set=self._set_delta_x, query=lambda a, s: rs_number(
            self._delta(s[1])), waits=True)
        c(f"{dm}:X:RELative", query=lambda a, s: rs_number(
            self._delta(s[1]) - self._reference_x(s[1])), waits=True)
        c(f"{dm}:Y", query=self._delta_y, waits=True)
        c(f"{dm}:MREFerence", set=lambda a, s: self._m().delta_refs.__setitem__(
            s[1], self.dev._int(a, 1, 16, 1)),
          query=lambda a, s: str(self._m().delta_refs.get(s[1], 1)))

    def _register_sem(self) -> None:
        c, esp = self.dev.command, "[:SENSe]:ESPectrum<n>"
        rg = f"{esp}:RANGe<n>"
        c("[:SENSe]:SWEep:MODE", set=self._set_sweep_mode,
          query=lambda a, s: "ESP" if self._m().function == "ESP" else "AUTO")
        c(f"{esp}:BWID", set=lambda a, s: setattr(
            self._cfg(s), "tx_bandwidth_hz", self.dev._num(a, "HZ", 20.0, 1e9, 3.84e6)),
          query=lambda a, s: rs_number(self._cfg(s).tx_bandwidth_hz))
        c(f"{esp}:RTYPe", set=lambda a, s: setattr(self._cfg(s), "reference_type", parse_enum(
            a[0], ["PEAK", "CPOWer"])), query=lambda a, s: self._cfg(s).reference_type)
        c(f"{esp}:RRANge", query=lambda a, s: str(1 + next(
            k for k, r in enumerate(self._cfg(s).ranges) if r.reference)))
        c(f"{rg}:COUNt", query=lambda a, s: str(len(self._cfg(s).ranges)))
        for key, node in (("start_hz", "STARt"), ("stop_hz", "STOP")):
            c(f"{rg}[:FREQuency]:{node}", set=lambda a, s, k=key: setattr(
                self._range(s), k, self.dev._num(a, "HZ", -self.dev.hw.f_max_hz,
                                                  self.dev.hw.f_max_hz, 0.0)),
              query=lambda a, s, k=key: rs_number(getattr(self._range(s), k)))
        for bw in ("BANDwidth", "BWIDth"):
            c(f"{rg}:{bw}:RESolution", set=lambda a, s: setattr(
                self._range(s), "rbw_hz", self.dev._num(a, "HZ", 1.0, self.dev.hw.max_rbw_hz,
                                                        30e3)),
              query=lambda a, s: rs_number(self._range_rbw(self._range(s))))
        c(f"{rg}:FILTer:TYPE", set=self._set_filter_type,
          query=lambda a, s: self._range(s).filter_type)
        c(f"{rg}:SWEep:TIME", set=lambda a, s: setattr(
            self._range(s), "sweep_time_s", self.dev._num(a, "S", 1e-6, 16000.0, 1e-3)),
          query=self._range_time_query)
        c(f"{rg}:SWEep:TIME:AUTO", set=self._set_range_time_auto,
          query=lambda a, s: "1" if self._range(s).sweep_time_s is None else "0")
        self._register_sem_limits(rg)
        c(f"{rg}:INSert", set=self._insert_range)
        c(f"{rg}:DELete", set=self._delete_range)
        c("CALCulate<n>:LIMit<n>:FAIL", query=self._limit_fail, waits=True)

    def _register_sem_limits(self, rg: str) -> None:
        c = self.dev.command
        for kind, attr_unit, unit in (("ABSolute", "abs", "DBM"), ("RELative", "rel", "DB")):
            for end, node in (("start", "STARt"), ("stop", "STOP")):
                attr = f"{attr_unit}_{end}_{unit.lower()}"
                c(f"{rg}:LIMit<n>:{kind}:{node}", set=lambda a, s, at=attr, u=unit: setattr(
                    self._limit(s), at, self.dev._num(a, u, -MAX_LIMIT_DBM, MAX_LIMIT_DBM,
                                                      -13.0)),
                  query=lambda a, s, at=attr: rs_number(getattr(self._limit(s), at)))
        c(f"{rg}:LIMit<n>:STATe", set=lambda a, s: setattr(
            self._limit(s), "limit_state", parse_enum(a[0], _LIMIT_STATES)),
          query=lambda a, s: self._limit(s).limit_state)

    # -- state access ----------------------------------------------------------------------
    def _ch(self) -> _Spectrum:
        return self.dev._san()

    def _m(self) -> MeasurementState:
        return self._ch().meas

    def _cfg(self, s: Sfx) -> SemConfig:
        if s[0] != 1:
            raise rs_error(-221, "multi-SEM sub blocks are not simulated")
        return self._m().sem

    def _range(self, s: Sfx) -> SemRange:
        ranges = self._cfg(s).ranges
        if not 1 <= s[1] <= len(ranges):
            raise rs_error(-222, f"no range {s[1]}")
        return ranges[s[1] - 1]

    def _limit(self, s: Sfx) -> SemRange:
        if s[2] != 1:
            raise rs_error(-221, "only power class 1 is simulated")
        return self._range(s)

    def _on(self, function: str) -> str:
        return "1" if self._m().function == function else "0"

    def _switch(self, function: str, args: Args) -> None:
        ch = self._ch()
        if parse_bool(args[0]):
            ch.meas.function = function
            ch.power.function = None
        elif ch.meas.function == function:
            ch.meas.function = None

    def _acquisition(self, ch: _Spectrum) -> Any:
        """The sweep results belong to: the last INIT (re-acquired in continuous mode)."""
        if ch.cont or ch.last is None:
            ch.last = self.dev._acquire(ch)
        return ch.last

    def _cached(self, ch: _Spectrum, function: str, compute: Callable[[], Any]) -> Any:
        if ch.meas.function != function:
            raise rs_error(-221, f"{function} measurement not active")  # [verify]
        acq = self._acquisition(ch)
        c = ch.meas.cached
        if c is None or c[0] != acq.seed or c[1] != function:
            ch.meas.cached = (acq.seed, function, compute())
        return ch.meas.cached[2]  # type: ignore[index]

    # -- harmonics -------------------------------------------------------------------------
    def _harmonics(self, ch: _Spectrum) -> HarmonicsOutcome:
        return self._cached(ch, "HARM", lambda: self._measure_harmonics(ch))

    def _measure_harmonics(self, ch: _Spectrum) -> HarmonicsOutcome:
        trace = self.dev._trace(ch, 1)
        acq = ch.last
        f1 = float(trace.frequency_hz[int(np.argmax(trace.power_dbm))])
        rbw1, swt = acq.settings.rbw_hz, trace.sweep_time_s
        cfg = ch.meas.harmonics
        freqs = f1 * np.arange(1, cfg.count + 1)
        power = np.full(freqs.size, np.nan)
        for k, f in enumerate(freqs):
            if f > self.dev.hw.f_max_hz:
                continue
            rbw = self.snap_rbw((k + 1) * rbw1, self.dev.hw.max_rbw_hz) if cfg.rbw_auto else rbw1
            rng = np.random.default_rng([acq.seed, 100 + k])
            power[k] = zero_span_dbm(acq.tones, acq.modulated, acq.settings, float(f), rbw, swt,
                                     self.dev.hw, rng, self.dev.amplitude_offset_db)
        return HarmonicsOutcome(freqs, power)

    def _harmonics_list(self, a: Args, s: Sfx) -> str:
        values = self._harmonics(self._ch()).list_values()
        return ",".join(rs_number(NAN if math.isnan(v) else v) for v in values)

    def _harmonics_thd(self, a: Args, s: Sfx) -> str:
        if a and parse_enum(a[0], ["TOTal"]) != "TOT":
            raise ScpiError(-224)
        return ",".join(rs_number(v) for v in self._harmonics(self._ch()).thd())

    # -- TOI -------------------------------------------------------------------------------
    def _toi(self, ch: _Spectrum) -> ToiOutcome:
        return self._cached(ch, "TOI", lambda: self._measure_toi(ch))

    def _measure_toi(self, ch: _Spectrum) -> ToiOutcome:
        trace = self.dev._trace(ch, 1)
        try:
            out = toi_from_trace(trace.frequency_hz, trace.power_dbm, ch.last.settings.rbw_hz)
        except ValueError as exc:
            raise rs_error(-200, f"TOI: {exc}") from None  # [verify]
        x = trace.frequency_hz
        ch.markers[1], ch.markers[2] = (float(x[i]) for i in out.tone_index)
        ch.marker_trace[1] = ch.marker_trace[2] = 1
        ch.meas.deltas[3], ch.meas.deltas[4] = (float(x[i]) for i in out.im3_index)
        return out

    def _toi_result(self, a: Args, s: Sfx) -> str:
        out = self._toi(self._ch())
        return rs_number(min(out.lower_toi_dbm, out.upper_toi_dbm))

    def _toi_search(self, a: Args, s: Sfx) -> None:
        if a and parse_enum(a[0], ["ONCE"]) != "ONCE":
            raise ScpiError(-224)
        ch = self._ch()
        ch.meas.cached = None
        self._toi(ch)

    # -- delta markers ---------------------------------------------------------------------
    def _set_delta_state(self, a: Args, s: Sfx) -> None:
        ch = self._ch()
        if not parse_bool(a[0]):
            ch.meas.deltas.pop(s[1], None)
        elif s[1] not in ch.meas.deltas:
            ch.meas.deltas[s[1]] = ch.center_hz

    def _set_delta_x(self, a: Args, s: Sfx) -> None:
        ch = self._ch()
        f = self.dev._num(a, "HZ", ch.start_hz, ch.stop_hz, ch.center_hz)
        x = np.linspace(ch.start_hz, ch.stop_hz, ch.points)
        ch.meas.deltas[s[1]] = float(x[int(np.argmin(np.abs(x - f)))])

    def _delta(self, m: int) -> float:
        ch = self._ch()
        self.refresh_markers(ch)
        if m not in ch.meas.deltas:
            raise rs_error(-221, f"delta marker {m} is off")  # [verify]
        return ch.meas.deltas[m]

    def _reference_x(self, m: int) -> float:
        ch = self._ch()
        ref = ch.meas.delta_refs.get(m, 1)
        f = ch.markers[ref]
        if f is None:
            raise rs_error(-221, f"reference marker {ref} is off")  # [verify]
        return f

    def _delta_y(self, a: Args, s: Sfx) -> str:
        ch = self._ch()
        f, ref = self._delta(s[1]), self._reference_x(s[1])
        r = self.dev._trace(ch, 1)
        x, y = r.frequency_hz, r.power_dbm
        level = float(y[int(np.argmin(np.abs(x - f)))] - y[int(np.argmin(np.abs(x - ref)))])
        return rs_number(level)

    # -- SEM -------------------------------------------------------------------------------
    def _set_sweep_mode(self, a: Args, s: Sfx) -> None:
        mode = parse_enum(a[0], ["AUTO", "ESPectrum", "LIST"])
        if mode == "LIST":
            raise rs_error(-221, "spurious emissions (LIST) are not simulated")
        self._switch("ESP", ["ON" if mode == "ESP" else "OFF"])

    def _set_filter_type(self, a: Args, s: Sfx) -> None:
        kind = parse_enum(a[0], _FILTER_TYPES)
        if kind not in ("NORM", "CFIL"):
            raise rs_error(-221, f"filter type {kind} is not simulated")
        self._range(s).filter_type = kind

    def _set_range_time_auto(self, a: Args, s: Sfx) -> None:
        r = self._range(s)
        if parse_bool(a[0]):
            r.sweep_time_s = None
        elif r.sweep_time_s is None:
            r.sweep_time_s = self._range_time_s(self._ch(), r, 2)

    def _range_time_query(self, a: Args, s: Sfx) -> str:
        ch, r = self._ch(), self._range(s)
        return rs_number(self._range_time_s(ch, r, self._points(ch)[s[1] - 1]))

    def _insert_range(self, a: Args, s: Sfx) -> None:
        """A copy of range r (not the reference) placed before or after it, as wide [verify]."""
        where = parse_enum(a[0], ["AFTer", "BEFore"])
        ranges, r = self._cfg(s).ranges, self._range(s)
        if len(ranges) >= MAX_SEM_RANGES:
            raise rs_error(-221, "at most 30 ranges")
        span = r.stop_hz - r.start_hz
        new = replace(r, reference=False)
        k = s[1] - 1
        if where == "AFT":
            new.start_hz, new.stop_hz = r.stop_hz, r.stop_hz + span
            ranges.insert(k + 1, new)
        else:
            new.start_hz, new.stop_hz = r.start_hz - span, r.start_hz
            ranges.insert(k, new)

    def _delete_range(self, a: Args, s: Sfx) -> None:
        ranges, r = self._cfg(s).ranges, self._range(s)
        if r.reference:
            raise rs_error(-221, "the reference range cannot be deleted")
        if len(ranges) <= MIN_SEM_RANGES:
            raise rs_error(-221, "at least 3 ranges")
        del ranges[s[1] - 1]

    def _range_rbw(self, r: SemRange) -> float:
        if r.filter_type == "CFIL":
            return snap_channel_filter(r.rbw_hz)
        return self.snap_rbw(r.rbw_hz, self.dev.hw.max_rbw_hz)

    def _points(self, ch: _Spectrum) -> list[int]:
        return allocate_points([r.stop_hz - r.start_hz for r in ch.meas.sem.ranges], ch.points)

    def _range_time_s(self, ch: _Spectrum, r: SemRange, points: int) -> float:
        if r.sweep_time_s is not None:
            return r.sweep_time_s
        rbw = self._range_rbw(r)
        return sp.sweep_time(r.stop_hz - r.start_hz, rbw, rbw, "AVER", points,
                             self.dev.hw.analysis_bw_hz)[0]

    def _sem(self, ch: _Spectrum) -> SemOutcome:
        return self._cached(ch, "ESP", lambda: self._measure_sem(ch))

    def _range_readings(self, ch: _Spectrum, acq: Any, k: int, r: SemRange, n: int,
                        gain_db: float) -> tuple[np.ndarray, np.ndarray, float]:
        """(frequencies, dBm, noise bandwidth) of range k's sweep points."""
        s0, hw = acq.settings, self.dev.hw
        x = np.linspace(ch.center_hz + r.start_hz, ch.center_hz + r.stop_hz, n)
        rbw, t = self._range_rbw(r), self._range_time_s(ch, r, n)
        rng = np.random.default_rng([acq.seed, 1000 + k])
        if r.filter_type == "CFIL":
            noise = 10.0 ** (sp.noise_density_dbm_hz(hw, x, s0.attenuation_db, s0.preamp) / 10
                             - 3.0)
            w = channel_filter_w(x, rbw, acq.tones, acq.modulated, gain_db, noise, t, rng)
            return x, _dbm(w), rbw
        s = replace(s0, start_hz=float(x[0]), stop_hz=float(x[-1]), points=n, rbw_hz=rbw,
                    vbw_hz=rbw, detector="AVER", average_type="RMS", average_count=1,
                    sweep_time_s=t)
        res = sp.synthesize_sweep(acq.tones, s, hw, rng, self.dev.amplitude_offset_db,
                                  modulated=acq.modulated)
        return x, res.power_dbm, sp.ENBW_RATIO * rbw

    def _measure_sem(self, ch: _Spectrum) -> SemOutcome:
        acq = self._acquisition(ch)
        cfg = ch.meas.sem
        s0 = acq.settings
        _, comp, _ = sp.mixer_state(acq.tones, s0.attenuation_db, s0.preamp, self.dev.hw,
                                    acq.modulated)
        gain_db = self.dev.amplitude_offset_db - comp
        sweeps = [self._range_readings(ch, acq, k, r, n, gain_db) for k, (r, n) in
                  enumerate(zip(cfg.ranges, self._points(ch), strict=True))]
        ref_x, ref_p, ref_enbw = next(sw for sw, r in zip(sweeps, cfg.ranges, strict=True)
                                      if r.reference)
        if cfg.reference_type == "PEAK":
            reference = float(np.max(ref_p))
        else:
            trace = sp.SweepResult(ref_x, ref_p, 0.0, "SWE", 0.0, 0.0, False, False)
            reference = float(_dbm(am.band_power_w(trace, ref_enbw / sp.ENBW_RATIO,
                                                   ch.center_hz, cfg.tx_bandwidth_hz)))
        rows = [sem_row(k + 1, x, p, self._range_rbw(r), r, reference)
                for k, ((x, p, _), r) in enumerate(zip(sweeps, cfg.ranges, strict=True))]
        return SemOutcome(np.concatenate([sw[0] for sw in sweeps]),
                          np.concatenate([sw[1] for sw in sweeps]),
                          np.array(rows, dtype=float).reshape(-1, SEM_LIST_VALUES), reference)

    def _limit_fail(self, a: Args, s: Sfx) -> str:
        ch = self._ch()
        if ch.meas.function != "ESP":
            raise rs_error(-221, "no limit check active")  # general limit lines: not simulated
        return "1" if self._sem(ch).failed else "0"
