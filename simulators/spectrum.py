"""Physics of the simulated Keysight X-series analyzers: swept-SA traces and IQ captures.

Conventions (all powers referred to the analyzer's RF input connector):

* RBW filter: Gaussian power response ``H(df) = exp(-4 ln2 (df/RBW)^2)`` (-3 dB at +/-RBW/2),
  so ENBW = sqrt(pi/(4 ln2))*RBW = 1.0645*RBW (the X-series documents "Res BW (Noise) 317 Hz"
  for a 300 Hz RBW, 1.057).
* DANL is the datasheet quantity: the log-averaged displayed noise with the input terminated,
  normalised to 1 Hz by subtracting 10*log10(RBW) and to 0 dB attenuation by subtracting the
  attenuation (Keysight DANL performance test). Hence, per RBW:
  log-averaged noise = DANL + 10*log10(RBW) + atten, true (RMS) noise power = that + 2.51 dB.
  The input attenuator adds 1:1 to displayed noise; the preamp swaps in its own DANL.
* Log averaging of noise reads 10*euler_gamma/ln10 = 2.507 dB below RMS; voltage (SCALar)
  averaging reads 1.049 dB below (X-series AVER:TYPE help text).
* Detector statistics: a display bucket holds ``M`` independent envelope samples (swept:
  t_bucket*RBW; FFT: bucket/RBW); the video filter averages ``V = RBW/VBW`` of them in the
  averaging domain (not for the average detector); peak/negative peak take the max/min of the
  ``M/V`` smoothed samples; sample takes one. Trace averaging (AVER:COUN K) averages K sweeps in
  the same domain. A tone adds its RBW response (per detector) in power to the noise reading.
* Modulated signals (an ARB waveform after the DUT) are noise-like: their RBW-filtered power
  ``sum_k P_k H(x - f_k)`` over the spectral lines of the periodic waveform is added to the
  analyzer's own noise and read with the same detector statistics.
* IQ samples: complex baseband in sqrt(W*50 ohm) (RMS volts): a tone of P watts at f is
  ``sqrt(P*50)*exp(j*(2*pi*(f-fc)*t + phase_rad))``, so power = mean(|x|^2)/50. The SCPI device
  converts to the X-series' peak-volt scaling itself (see keysight_xseries.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import special

from simulators.signals import ModulatedSignal, Tone

Detector = Literal["AVER", "POS", "SAMP", "NEG", "NORM"]
AverageType = Literal["RMS", "LOG", "SCAL"]

LN10_10 = 10.0 / math.log(10.0)  # dB per neper of power
LOG_AVERAGE_BIAS_DB = LN10_10 * float(np.euler_gamma)  # 2.507 dB
GAUSS_C = 4.0 * math.log(2.0)  # H = exp(-GAUSS_C*(df/RBW)^2)
ENBW_RATIO = math.sqrt(math.pi / GAUSS_C)  # 1.0645
SPAN_RBW_RATIO = 106.0  # X-series Span:RBW auto ratio ("approximately 106:1")
SWEEP_K = 2.5  # swept time constant k in k*span/(RBW*min(RBW, VBW))
MIN_SWEEP_TIME_S = 1e-3
FFT_RBW_THRESHOLD_HZ = 210.0  # auto sweep type: FFT at or below this Gaussian RBW
MAX_MIXER_LEVEL_DBM = -10.0  # X-series Max Mixer Level preset
ADC_HEADROOM_DB = 6.0  # signals this far above the reference level over-range the IF ADC
_NOISE_BUDGET = 2_000_000  # values generated per trace before switching to the CLT shortcut


@dataclass(frozen=True)
class AnalyzerModel:
    """Per-model constants; amplitudes are nominal/typical [typ], not warranted specs."""

    model: str
    danl_dbm_hz: float  # at 3.5 GHz, preamp off (typical)
    danl_preamp_dbm_hz: float  # at 3.5 GHz, preamp on
    p1db_mixer_dbm: float  # 1 dB gain compression referred to the input mixer
    f_min_hz: float = -80e6  # settable start (the X-series accepts negative start frequencies)
    f_max_hz: float = 27.0e9  # settable stop with option 526 (spec range 26.5 GHz)
    f_spec_max_hz: float = 26.5e9
    max_points: int = 100_001
    max_rbw_hz: float = 8e6
    analysis_bw_hz: float = 25e6  # B25 standard; wider with B1X (N9030B)
    max_sample_rate_hz: float = 200e6


MODELS: dict[str, AnalyzerModel] = {
    "N9030B": AnalyzerModel("N9030B", -155.0, -166.0, 4.0, analysis_bw_hz=160e6),
    "N9020B": AnalyzerModel("N9020B", -152.0, -163.0, 3.0, analysis_bw_hz=25e6,
                            max_sample_rate_hz=31.25e6),
}


def rbw_values() -> np.ndarray:
    """The 160 Gaussian RBWs: 1 Hz..3 MHz in ~10 % (E24) steps, plus 4, 5, 6 and 8 MHz."""
    e24 = np.array([1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.7, 3.0, 3.3, 3.6, 3.9,
                    4.3, 4.7, 5.1, 5.6, 6.2, 6.8, 7.5, 8.2, 9.1])
    vals = np.concatenate([e24 * 10.0**d for d in range(7)])
    return np.concatenate([vals[vals <= 3e6 + 1], [4e6, 5e6, 6e6, 8e6]])


_RBWS = rbw_values()


def snap_rbw(rbw_hz: float, max_rbw_hz: float = 8e6) -> float:
    """Nearest available RBW, ties rounding up (manual: "nearest ..., rounding up")."""
    limit = max_rbw_hz * (1 + 1e-9)
    vals = _RBWS[np.less_equal(_RBWS, limit)]
    i = int(np.argmin(np.abs(vals - rbw_hz) - 1e-9 * vals))
    return float(vals[i])


def auto_rbw(span_hz: float) -> float:
    """RBW coupled to span at Span:RBW = 106, limited to 1 Hz..3 MHz in auto."""
    return snap_rbw(min(max(span_hz / SPAN_RBW_RATIO, 1.0), 3e6), 3e6)


def auto_vbw(rbw_hz: float, detector: Detector) -> float:
    """VBW:RBW auto rule of the Swept SA: 0.1 for the average detector, else 1.0."""
    return rbw_hz * (0.1 if detector == "AVER" else 1.0)


def auto_attenuation(reference_level_dbm: float, preamp_gain_db: float = 0.0,
                     max_mixer_dbm: float = MAX_MIXER_LEVEL_DBM, step_db: float = 2.0) -> float:
    """Attenuation putting a reference-level signal at Max Mixer Level; 2 dB steps, 6..70 dB."""
    raw = reference_level_dbm + preamp_gain_db - max_mixer_dbm
    return float(min(max(math.ceil(raw / step_db - 1e-9) * step_db, 6.0), 70.0))


def preamp_gain_db(frequency_hz: float) -> float:
    """Nominal internal preamp gain: ~20 dB in the low band (<3.6 GHz), ~35 dB above [typ]."""
    return 20.0 if frequency_hz < 3.6e9 else 35.0


def danl_dbm_hz(model: AnalyzerModel, frequency_hz: np.ndarray | float,
                preamp: bool = False) -> np.ndarray:
    """Typical DANL (log average, 1 Hz, 0 dB atten): rises ~0.45 dB/GHz above 3.5 GHz, better by
    0.3 dB/GHz down to 1 GHz, plus the 1/f rise below a few MHz."""
    f = np.abs(np.asarray(frequency_hz, dtype=float))
    ghz = f / 1e9
    base = model.danl_preamp_dbm_hz if preamp else model.danl_dbm_hz
    shape = np.where(ghz >= 3.5, 0.45 * (ghz - 3.5), -0.3 * (3.5 - np.maximum(ghz, 1.0)))
    return base + shape + 10.0 * np.log10(1.0 + (1e6 / np.maximum(f, 1.0)) ** 2)


def noise_density_dbm_hz(model: AnalyzerModel, frequency_hz: np.ndarray | float,
                         attenuation_db: float, preamp: bool = False) -> np.ndarray:
    """RMS noise density referred to the input (per Hz of noise bandwidth), attenuation included."""
    return (danl_dbm_hz(model, frequency_hz, preamp) + LOG_AVERAGE_BIAS_DB
            - 10.0 * math.log10(ENBW_RATIO) + attenuation_db)


def sweep_time(span_hz: float, rbw_hz: float, vbw_hz: float, detector: Detector, points: int,
               analysis_bw_hz: float = 25e6) -> tuple[float, str]:
    """Auto sweep time and type. Type rule (X-series "best dynamic range"): FFT for Gaussian RBW
    <= 210 Hz, else swept. Swept: k*span/(RBW*min(RBW, VBW)) (VBW ignored by the average
    detector), at least 1 ms, rising above 15001 points. FFT: segments of min(analysis BW,
    1000*RBW), each ~2.5/RBW of acquisition + 0.5 ms processing."""
    floor = MIN_SWEEP_TIME_S * max(1.0, points / 15001.0)
    if span_hz <= 0:
        return floor, "SWE"
    if rbw_hz <= FFT_RBW_THRESHOLD_HZ:
        segments = math.ceil(span_hz / min(analysis_bw_hz, 1000.0 * rbw_hz))
        return segments * (2.5 / rbw_hz + 0.5e-3), "FFT"
    narrow = rbw_hz if detector == "AVER" else min(rbw_hz, vbw_hz)
    return max(SWEEP_K * span_hz / (rbw_hz * narrow), floor), "SWE"


@dataclass(frozen=True)
class SweepSettings:
    """Resolved (coupled) analyzer settings for one trace; detector/average type as in SCPI."""

    start_hz: float
    stop_hz: float
    points: int = 1001
    rbw_hz: float = 3e6
    vbw_hz: float = 3e6
    detector: Detector = "NORM"
    average_type: AverageType = "LOG"
    average_count: int = 1  # sweeps averaged into the trace (1 = averaging off)
    attenuation_db: float = 10.0
    reference_level_dbm: float = 0.0
    preamp: bool = False
    sweep_time_s: float | None = None  # None: auto (coupled)


@dataclass(frozen=True)
class SweepResult:
    """A synthesized trace plus the front-end state the instrument reports with it."""

    frequency_hz: np.ndarray
    power_dbm: np.ndarray
    sweep_time_s: float  # one sweep
    sweep_type: str  # "SWE" | "FFT"
    mixer_level_dbm: float  # total (RMS) signal power at the first mixer
    compression_db: float
    input_overload: bool  # mixer near/above compression (STAT:QUES:INT bit 4)
    over_range: bool  # IF/ADC over-range: signal > ref level + headroom (bit 5)
    #: the analyzer's own mean (RMS) noise power per point within the RBW noise bandwidth, W;
    #: what ACP/CHP noise correction subtracts
    noise_w: np.ndarray | None = None


def compression_db(mixer_dbm: float, p1db_dbm: float, smoothness: float = 2.0) -> float:
    """Gain reduction of a Rapp limiter whose 1 dB point is at ``p1db_dbm`` (mixer level)."""
    p = smoothness
    x_1db = (10.0 ** (p / 10.0) - 1.0) ** (1.0 / (2.0 * p))
    x = 10.0 ** ((mixer_dbm - p1db_dbm) / 20.0) * x_1db
    return 10.0 / p * math.log10(1.0 + x ** (2.0 * p)) if x > 1e-6 else 0.0


def mixer_state(tones: Sequence[Tone], atten_db: float, preamp: bool, model: AnalyzerModel,
                modulated: Sequence[ModulatedSignal] = ()) -> tuple[float, float, bool]:
    """(total RMS power at the mixer dBm, gain compression dB, input-overload flag). A modulated
    signal compresses by its RMS power but flags overload by its envelope peaks."""
    watts = sum(10.0 ** (t.power_dbm / 10.0) for t in tones)
    watts += sum(m.power_w * 1e3 for m in modulated)
    if watts <= 0:
        return -math.inf, 0.0, False
    freqs = [t.frequency_hz for t in tones] + [m.center_frequency_hz for m in modulated]
    gain = preamp_gain_db(max(freqs)) if preamp else 0.0
    mixer = 10.0 * math.log10(watts) - atten_db + gain
    peak = mixer + max((m.crest_factor_db for m in modulated), default=0.0)
    return mixer, compression_db(mixer, model.p1db_mixer_dbm), peak > model.p1db_mixer_dbm - 3.0


def input_flags(tones: Sequence[Tone], s: SweepSettings, model: AnalyzerModel,
                offset_db: float = 0.0, modulated: Sequence[ModulatedSignal] = ()
                ) -> tuple[float, float, bool, bool]:
    """(mixer level dBm, compression dB, input overload, over range) for a sweep: over range when a
    signal near the swept band exceeds the reference level by more than the ADC headroom."""
    mixer, comp, overload = mixer_state(tones, s.attenuation_db, s.preamp, model, modulated)
    margin = 3.0 * s.rbw_hz
    near = [(t.frequency_hz, t.power_dbm) for t in tones]
    near += [(m.center_frequency_hz, m.power_dbm) for m in modulated]
    over = any(s.start_hz - margin <= f <= s.stop_hz + margin
               and p + offset_db - comp > s.reference_level_dbm + ADC_HEADROOM_DB
               for f, p in near)
    return mixer, comp, overload, over


@lru_cache(maxsize=4)
def _signal_fft(signal: ModulatedSignal) -> np.ndarray:
    """DFT of one period, shared by the trace and IQ synthesis of the same signal."""
    return np.fft.fft(signal.iq)


@lru_cache(maxsize=4)
def _line_spectrum(signal: ModulatedSignal) -> tuple[np.ndarray, np.ndarray]:
    """(absolute frequencies ascending, power W) of the spectral lines of a periodic signal."""
    n = signal.iq.size
    spectrum = _signal_fft(signal)
    power = np.fft.fftshift(spectrum.real**2 + spectrum.imag**2) / (n * n * 50.0)
    offsets = np.fft.fftshift(np.fft.fftfreq(n, 1.0 / signal.sample_rate_hz))
    freqs = signal.center_frequency_hz + offsets
    return freqs, power


def _coarse_lines(freqs: np.ndarray, power: np.ndarray, max_width_hz: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Merge adjacent lines into bins no wider than `max_width_hz` (power-weighted centres)."""
    spacing = freqs[1] - freqs[0] if freqs.size > 1 else max_width_hz
    m = int(max_width_hz // spacing)
    if m <= 1:
        return freqs, power
    n = (freqs.size // m) * m
    p = power[:n].reshape(-1, m)
    total = p.sum(axis=1)
    f = freqs[:n].reshape(-1, m)
    centre = np.where(total > 0, (f * p).sum(axis=1) / np.where(total > 0, total, 1.0),
                      f.mean(axis=1))
    return centre, total


#: a spectral line at least this far (dB) above everything else within ±RBW reads as a steady
#: tone (it dominates the RBW filter's output, nothing beats against it) ...
STEADY_LINE_DOMINANCE_DB = 10.0
#: ... if it also stands this far above the typical line around it (the median of its block of
#: lines): a carrier or IM product, not one line of a noise floor or of a dense OFDM spectrum
STEADY_LINE_ABOVE_FLOOR_DB = 20.0
_LINE_BLOCK = 256
MAX_STEADY_LINES = 4096  # more than this: treat the spectrum as noise-like


@lru_cache(maxsize=8)
def _line_candidates(signal: ModulatedSignal) -> np.ndarray:
    """Indices of the lines standing STEADY_LINE_ABOVE_FLOOR_DB above the median of their block
    of lines (the block medians from every 4th line: the floor is smooth)."""
    _, power = _line_spectrum(signal)
    n_blocks = max(power.size // _LINE_BLOCK, 1)
    blocks = power[:n_blocks * _LINE_BLOCK].reshape(n_blocks, -1)[:, ::4]
    floor = np.median(blocks, axis=1)
    ref = floor[np.minimum(np.arange(power.size) // _LINE_BLOCK, n_blocks - 1)]
    return np.flatnonzero((power > 0)
                          & (power >= 10.0 ** (STEADY_LINE_ABOVE_FLOOR_DB / 10.0) * ref))


@lru_cache(maxsize=16)
def _steady_mask(signal: ModulatedSignal, rbw_hz: float) -> np.ndarray | None:
    """Indices of the spectral lines that read as steady tones at this RBW (None: none do)."""
    candidates = _line_candidates(signal)
    if not 0 < candidates.size <= MAX_STEADY_LINES:
        return None
    freqs, power = _line_spectrum(signal)
    cum = np.concatenate([[0.0], np.cumsum(power)])
    f = freqs[candidates]
    others = (cum[np.searchsorted(freqs, f + rbw_hz, "right")]
              - cum[np.searchsorted(freqs, f - rbw_hz, "left")] - power[candidates])
    steady = candidates[power[candidates] >= 10.0 ** (STEADY_LINE_DOMINANCE_DB / 10.0) * others]
    return steady if steady.size else None


def steady_lines(signal: ModulatedSignal, rbw_hz: float) -> list[Tone]:
    """The lines of a periodic signal that an RBW of `rbw_hz` resolves as steady tones (e.g.
    the tones and IM products of a two-tone test); the rest of the spectrum is noise-like."""
    mask = _steady_mask(signal, rbw_hz)
    if mask is None:
        return []
    freqs, power = _line_spectrum(signal)
    return [Tone(float(f), 10.0 * math.log10(float(w)) + 30.0)
            for f, w in zip(freqs[mask], power[mask], strict=True)]


def modulated_rbw_power_w(signal: ModulatedSignal, x_hz: np.ndarray, rbw_hz: float) -> np.ndarray:
    """Noise-like RBW-filtered power (W) of a modulated signal at each display frequency: the
    Gaussian RBW response summed over its spectral lines (merged to RBW/8 bins for speed),
    without the lines `steady_lines` reads as tones."""
    freqs, power = _line_spectrum(signal)
    steady = _steady_mask(signal, rbw_hz)
    if steady is not None:
        power = power.copy()
        power[steady] = 0.0
    freqs, power = _coarse_lines(freqs, power, rbw_hz / 8.0)
    c = GAUSS_C / rbw_hz**2
    reach = 4.5 * rbw_hz  # exp(-c*reach^2) = 1e-24: nothing visible beyond
    spacing = freqs[1] - freqs[0] if freqs.size > 1 else rbw_hz
    j = int(math.ceil(reach / spacing)) + 1
    out = np.zeros(x_hz.size)
    inside = (x_hz >= freqs[0] - reach) & (x_hz <= freqs[-1] + reach)
    if not inside.any():
        return out
    xs = x_hz[inside]
    centre = np.clip(np.searchsorted(freqs, xs), 0, freqs.size - 1)
    acc = np.zeros(xs.size)
    for k in range(-j, j + 1):
        idx = centre + k
        ok = (idx >= 0) & (idx < freqs.size)
        idx = np.clip(idx, 0, freqs.size - 1)
        acc += np.where(ok, power[idx] * np.exp(-c * (xs - freqs[idx]) ** 2), 0.0)
    out[inside] = acc
    return out


def _tone_response(x: np.ndarray, f0: float, rbw: float, bucket: float, detector: Detector,
                   avg_type: AverageType) -> np.ndarray:
    """Relative power of a tone at f0 seen by each display point's detector (1 = on the peak)."""
    d = np.abs(x - f0)
    c = GAUSS_C / rbw**2
    half = bucket / 2.0
    if detector in ("POS", "NORM"):
        return np.exp(-c * np.maximum(d - half, 0.0) ** 2)
    if detector == "NEG":
        return np.exp(-c * (d + half) ** 2)
    if detector == "SAMP" or bucket <= 0:
        return np.exp(-c * d**2)
    lo, hi = x - half - f0, x + half - f0  # average detector: mean over the bucket in the domain
    if avg_type == "LOG":
        return np.exp(-c * (hi**3 - lo**3) / (3.0 * bucket))
    k = c if avg_type == "RMS" else c / 4.0  # voltage response is H^(1/2)
    mean = (special.erf(math.sqrt(k) * hi) - special.erf(math.sqrt(k) * lo)) * (
        math.sqrt(math.pi / k) / (2.0 * bucket))
    return mean if avg_type == "RMS" else mean**2


def _smoothed_quantile(u: np.ndarray, a: float, avg_type: AverageType) -> np.ndarray:
    """Quantile (in the averaging domain) of the mean of ``a`` exponential power samples."""
    if a < 1.5:  # one sample: exponential power, exact
        p = -np.log1p(-u)
        return _to_domain(p, avg_type)
    z = special.ndtri(u)
    if avg_type == "RMS":  # Wilson-Hilferty for Gamma(a, 1/a)
        return np.maximum(1.0 - 1.0 / (9 * a) + z * math.sqrt(1.0 / (9 * a)), 0.0) ** 3
    if avg_type == "LOG":
        return -float(np.euler_gamma) + z * math.pi / math.sqrt(6.0 * a)
    return np.maximum(math.sqrt(math.pi) / 2 + z * math.sqrt((1 - math.pi / 4) / a), 1e-6)


def _to_domain(p: np.ndarray, avg_type: AverageType) -> np.ndarray:
    if avg_type == "LOG":
        return np.log(np.maximum(p, 1e-300))
    return p if avg_type == "RMS" else np.sqrt(p)


def _from_domain(v: np.ndarray, avg_type: AverageType) -> np.ndarray:
    if avg_type == "LOG":
        return np.exp(v)
    return v if avg_type == "RMS" else v**2


def _one_sweep(rng: np.random.Generator, n: int, kind: str, a: float, g: float,
               avg_type: AverageType) -> np.ndarray:
    """One sweep's noise readings (domain values) for kind 'max' | 'min' | 'one'."""
    u = rng.random(n)
    if kind == "one" or g <= 1.0:
        return _smoothed_quantile(np.clip(u, 1e-300, 1 - 1e-16), a, avg_type)
    logu = np.log(np.maximum(u, 1e-300)) / g
    if kind == "max":
        q = np.exp(logu)  # U^(1/g)
        if a < 1.5:  # exact max of exponentials, precise for q -> 1
            return _to_domain(-np.log(-np.expm1(logu)), avg_type)
    else:
        q = -np.expm1(logu)  # 1 - U^(1/g)
        if a < 1.5:
            return _to_domain(-logu, avg_type)
    return _smoothed_quantile(np.clip(q, 1e-300, 1 - 1e-16), a, avg_type)


@lru_cache(maxsize=256)
def _moments(kind: str, a: float, g: float, avg_type: AverageType) -> tuple[float, float]:
    v = _one_sweep(np.random.default_rng(12345), 40_000, kind, a, g, avg_type)
    return float(v.mean()), float(v.std())


def _noise_reading(rng: np.random.Generator, n: int, kind: str, a: float, g: float,
                   avg_type: AverageType, k: int) -> np.ndarray:
    """Trace-averaged noise reading as a power ratio to the mean (RMS) noise power."""
    if k == 1:
        return _from_domain(_one_sweep(rng, n, kind, a, g, avg_type), avg_type)
    if k * n <= _NOISE_BUDGET:
        acc = np.zeros(n)
        for _ in range(k):
            acc += _one_sweep(rng, n, kind, a, g, avg_type)
        return _from_domain(acc / k, avg_type)
    mu, sd = _moments(kind, round(a, 3), round(g, 3), avg_type)  # CLT for many sweeps
    return _from_domain(mu + sd / math.sqrt(k) * rng.standard_normal(n), avg_type)


def synthesize_sweep(tones: Sequence[Tone], s: SweepSettings, model: AnalyzerModel,
                     rng: np.random.Generator, amplitude_offset_db: float = 0.0,
                     amplitude_jitter_db: float = 0.01,
                     modulated: Sequence[ModulatedSignal] = (),
                     external_noise_w_hz: np.ndarray | float | None = None) -> SweepResult:
    """One displayed trace (dBm per point) for tones and modulated signals at the input under
    settings ``s``; modulated power is noise-like and read with the noise statistics.

    ``amplitude_offset_db`` is the instrument's fixed calibration error; each sweep adds a
    N(0, amplitude_jitter_db) gain error, averaged down with the trace averaging.
    ``external_noise_w_hz`` is a noise PSD (W/Hz, per display point or one value) arriving at the
    input on top of the terminated input the DANL describes (`simulators.noise`): it adds to the
    analyzer's own noise within each RBW's noise bandwidth before detection, so it is read with
    the same statistics (a channel power of noise repeats to 1/sqrt(B·T)).
    """
    n = int(s.points)
    x = np.linspace(s.start_hz, s.stop_hz, n)
    span = s.stop_hz - s.start_hz
    bucket = span / (n - 1) if n > 1 else 0.0
    auto_time, sweep_type = sweep_time(span, s.rbw_hz, s.vbw_hz, s.detector, n,
                                       model.analysis_bw_hz)
    t_sweep = auto_time if s.sweep_time_s is None else s.sweep_time_s
    k = max(int(s.average_count), 1)
    if sweep_type == "FFT" and s.sweep_time_s is None:
        m = max(bucket / s.rbw_hz, 1.0)
    else:
        m = max(t_sweep / max(n, 1) * s.rbw_hz, 1.0)
    v = 1.0 if s.detector == "AVER" else max(s.rbw_hz / s.vbw_hz, 1.0)
    g = max(m / v, 1.0)

    mixer, comp, overload, over = input_flags(tones, s, model, amplitude_offset_db, modulated)
    gain_db = amplitude_offset_db - comp + rng.normal(0.0, amplitude_jitter_db / math.sqrt(k))
    sig = np.zeros(n)
    peak_sig = np.zeros(n)
    reach = 8.0 * s.rbw_hz + bucket  # Gaussian skirt is < -200 dBc beyond this
    line_tones = [t for m in modulated for t in steady_lines(m, s.rbw_hz)]
    for t in [*tones, *line_tones]:
        if n > 1:
            lo = max(int(math.floor((t.frequency_hz - reach - s.start_hz) / bucket)), 0)
            hi = min(int(math.ceil((t.frequency_hz + reach - s.start_hz) / bucket)) + 1, n)
        else:
            lo, hi = (0, 1) if abs(t.frequency_hz - s.start_hz) < reach else (0, 0)
        if hi <= lo:
            continue
        p = 10.0 ** ((t.power_dbm + gain_db) / 10.0 - 3.0)
        sl = slice(lo, hi)
        sig[sl] += p * _tone_response(x[sl], t.frequency_hz, s.rbw_hz, bucket, s.detector,
                                      s.average_type)
        if s.detector == "NORM":
            peak_sig[sl] += p * _tone_response(x[sl], t.frequency_hz, s.rbw_hz, bucket, "POS",
                                               s.average_type)

    nd = noise_density_dbm_hz(model, x, s.attenuation_db, s.preamp)
    noise_w = 10.0 ** ((nd + 10.0 * math.log10(ENBW_RATIO * s.rbw_hz)) / 10.0 - 3.0)
    analyzer_noise_w = noise_w
    if external_noise_w_hz is not None:  # through the input like a signal: the gain error too
        noise_w = noise_w + (10.0 ** (gain_db / 10.0) * ENBW_RATIO * s.rbw_hz
                             * np.asarray(external_noise_w_hz, dtype=float))
    if modulated:
        gain_w = 10.0 ** (gain_db / 10.0)
        noise_w = noise_w + gain_w * sum(modulated_rbw_power_w(m, x, s.rbw_hz) for m in modulated)
    if s.detector == "NORM":  # Rosenfell: peak where a signal rises and falls, else alternate
        hi_r = _noise_reading(rng, n, "max", v, g, s.average_type, k)
        lo_r = _noise_reading(rng, n, "min", v, g, s.average_type, k)
        odd = (np.arange(n) % 2 == 1) & (peak_sig < 2.0 * noise_w)
        reading = np.where(odd, lo_r, hi_r)
    else:
        kind = {"POS": "max", "NEG": "min"}.get(s.detector, "one")
        a = m if s.detector == "AVER" else v
        reading = _noise_reading(rng, n, kind, a, 1.0 if kind == "one" else g,
                                 s.average_type, k)
    power_dbm = 10.0 * np.log10(sig + noise_w * reading) + 30.0
    return SweepResult(x, power_dbm, t_sweep, sweep_type, mixer, comp, overload, over,
                       analyzer_noise_w)


def next_peak_index(y: np.ndarray, below: float, excursion_db: float = 6.0) -> int:
    """Index of the highest peak lower than `below` that rises `excursion_db` above its
    surroundings on both sides (X-series Peak Excursion, preset 6 dB); -1 if none."""
    inner = (y[1:-1] >= y[:-2]) & (y[1:-1] > y[2:])
    cand = np.flatnonzero(inner) + 1
    cand = cand[y[cand] < below]
    for i in cand[np.argsort(y[cand])[::-1]]:
        v = y[i]
        left = np.flatnonzero(y[:i] > v)
        right = np.flatnonzero(y[i + 1:] > v)
        lo = y[(left[-1] + 1 if left.size else 0):i]
        hi = y[i + 1:(i + 1 + right[0] if right.size else y.size)]
        if lo.size and hi.size and v - lo.min() >= excursion_db and v - hi.min() >= excursion_db:
            return int(i)
    return -1


def iq_capture(tones: Sequence[Tone], center_hz: float, sample_rate_hz: float, n_samples: int,
               rng: np.random.Generator, noise_density_dbm_hz: float, *,
               if_bandwidth_hz: float | None = None, gain_db: float = 0.0,
               t0_s: float = 0.0, modulated: Sequence[ModulatedSignal] = ()) -> np.ndarray:
    """Complex baseband capture in sqrt(W*50 ohm) units (power = mean(|x|^2)/50).

    Modulated signals are shifted to the capture centre, band-limited to the IF filter and
    resampled to ``sample_rate_hz`` exactly (periodic spectra), starting at a random point of
    their period: a capture is not time-aligned with the generator's ARB.

    Each tone inside the IF filter (|f - fc| <= IF BW/2, default 0.8*fs as for the X-series
    flat-top IF filter at sample rate = 1.25*IF BW) appears as sqrt(P*50)*exp(j(2*pi*(f-fc)*t
    + phase_rad)), t = t0_s + n/fs, phase referenced to the shared 10 MHz. White complex Gaussian
    noise of density ``noise_density_dbm_hz`` fills the IF bandwidth. ``gain_db`` carries the
    amplitude-accuracy offset and any compression.
    """
    ifbw = 0.8 * sample_rate_hz if if_bandwidth_hz is None else if_bandwidth_hz
    t = t0_s + np.arange(n_samples) / sample_rate_hz
    x = np.zeros(n_samples, dtype=np.complex128)
    g = 10.0 ** (gain_db / 20.0)
    for tone in tones:
        df = tone.frequency_hz - center_hz
        if abs(df) <= ifbw / 2.0:
            amp = g * math.sqrt(10.0 ** (tone.power_dbm / 10.0 - 3.0) * 50.0)
            x += amp * np.exp(1j * (2.0 * np.pi * df * t + tone.phase_rad))
    for m in modulated:
        x += g * _resample_modulated(m, center_hz, sample_rate_hz, n_samples, ifbw, t0_s,
                                     float(rng.random()) * m.duration_s)
    noise_var = 10.0 ** (noise_density_dbm_hz / 10.0 - 3.0) * ifbw * 50.0  # V^2 per sample
    sigma = math.sqrt(noise_var / 2.0)
    x += sigma * (rng.standard_normal(n_samples) + 1j * rng.standard_normal(n_samples))
    return x


def _resample_modulated(m: ModulatedSignal, center_hz: float, sample_rate_hz: float,
                        n_samples: int, if_bandwidth_hz: float, t0_s: float,
                        start_s: float) -> np.ndarray:
    """`n_samples` of the periodic signal `m` seen by an IQ receiver at `center_hz`: every
    spectral line k/T inside the IF filter, evaluated at t = start + n/fs (exact, no filter
    transients). Lines are summed by an inverse FFT on the capture's own grid when the period
    holds a whole number of capture samples, else directly."""
    n = m.iq.size
    spectrum = _signal_fft(m) / n
    line_hz = np.fft.fftfreq(n, 1.0 / m.sample_rate_hz)
    offset_hz = line_hz + (m.center_frequency_hz - center_hz)
    keep = np.abs(offset_hz) <= min(if_bandwidth_hz, sample_rate_hz) / 2.0
    coeff = spectrum[keep] * np.exp(2j * np.pi * line_hz[keep] * start_s)
    offset_hz = offset_hz[keep]
    period_samples = sample_rate_hz * m.duration_s
    per = round(period_samples)
    df = m.center_frequency_hz - center_hz
    whole_lines = abs(df * m.duration_s - round(df * m.duration_s)) < 1e-6
    if abs(period_samples - per) < 1e-6 and whole_lines:
        bins = np.round(offset_hz * m.duration_s).astype(np.int64) % per
        grid = np.zeros(per, dtype=np.complex128)
        np.add.at(grid, bins, coeff)
        one_period = np.fft.ifft(grid) * per
        shift = int(round(t0_s * sample_rate_hz)) % per
        return np.resize(np.roll(one_period, -shift), n_samples)
    t = t0_s + np.arange(n_samples) / sample_rate_hz
    out = np.zeros(n_samples, dtype=np.complex128)
    for chunk in range(0, offset_hz.size, 512):
        sl = slice(chunk, chunk + 512)
        out += np.exp(2j * np.pi * np.outer(t, offset_hz[sl])) @ coeff[sl]
    return out
