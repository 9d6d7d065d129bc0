"""Two-tone intermodulation of an amplifier: IMD3 (and IMD5) against per-tone power, OIP3
(rf-measurements-and-scpi.md §1.6, per-tone convention).

The generator plays two equal tones at ``f ± spacing/2`` from its ARB
(:mod:`benchbot.waveforms.two_tone`); its RMS level is the two tones' total, so it is set
3.01 dB above the planned per-tone level. At every level each tone and product is read

- ``method: sweep``: from one peak-detector sweep over ``f ± 3·spacing`` (``± 2·spacing``
  without IM5), as the highest trace point within ``± max(2·RBW, 2 bins)`` of its frequency;
- ``method: iq``: from a coherent FFT of an IQ capture holding whole periods of the two-tone
  waveform (every product on a bin), as the power of the bins within ±1.5 bins of it;

and the median of the spectrum is the noise floor. Readings are referred to the DUT output
plane with the analyzer path loss at each product's own frequency.

OIP3 comes from :func:`benchbot.analysis.two_tone.im3_slope`: lines of fixed slope 1 and 3
fitted to the tone and IM3 output over the extraction region, per side, the worse side
reported. The region is per-tone input ``<= extraction_max_input_dbm`` (default: this sweep's
own per-tone IP1dB - 10 dB, where the 3:1 law holds) and ``>= extraction_min_input_dbm``, and
only points whose IM3 is at least :data:`IM_MIN_SNR_DB` above the noise floor on both sides.
The fitted IM3 slope is reported; a slope outside 3 ± 0.3 is flagged in the note (OIP3 is then
an extrapolation the DUT does not follow).

Resume unit (``benchbot run --resume``): one frequency — its whole drive ramp and the spectrum
kept at its highest drive. A frequency committed before an interruption is kept as recorded
and its metrics are computed from the record; any other is measured again from its lowest
level (never restarted mid-ramp: the DUT's drive history would differ). The two-tone waveform
is downloaded and played again before the first frequency either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from benchbot.analysis.power_sweep import analyse_power_sweep
from benchbot.analysis.sweep_points import SweepReading, value_at
from benchbot.analysis.two_tone import im3_slope
from benchbot.limits import MetricResult
from benchbot.measurements.base import BenchView, StepContext
from benchbot.measurements.common import (
    DIMS,
    judge,
    read_supplies,
    resumable_row,
    supply_datasets,
    sweep_axes,
    sweep_levels,
    tune_generator,
)
from benchbot.plan import ROLE_ANALYZER, TwoToneStep
from benchbot.waveforms.two_tone import TwoToneWaveform, generate_two_tone

#: IM products closer than this to the noise floor are not used for the OIP3 fit
IM_MIN_SNR_DB = 20.0  # a noise-like bin 20 dB down biases the reading by < 0.05 dB
#: the 3:1 law is trusted this far below the per-tone input P1dB (§1.6)
EXTRACTION_BACKOFF_DB = 10.0
MIN_POINTS, MAX_POINTS = 401, 100_001
#: IQ method: capture rate = this x spacing (usable ±3.2 spacings at fs/1.25 >= IM5 at ±2.5)
IQ_RATE_PER_SPACING = 8
IQ_CAPTURE_SAMPLES = 65536  # FFT bin = spacing / 8192 (1.2 kHz at 10 MHz): a low noise floor
#: product name -> signed offset from the centre in tone spacings
PRODUCTS: dict[str, float] = {
    "tone_lower": -0.5, "tone_upper": 0.5, "im3_lower": -1.5, "im3_upper": 1.5,
    "im5_lower": -2.5, "im5_upper": 2.5,
}
NAN = float("nan")


#: ARB clock = this x the tone spacing: the tones sit at ±fs/16, far inside the DAC's
#: reconstruction band; one beat period is then 16 samples
ARB_RATE_PER_SPACING = 8
#: highest ARB sample clock used (MXG N5182B ARB: 200 MSa/s with option 656 [verify])
MAX_ARB_RATE_HZ = 200e6
#: the loop is repeated to at least this many samples, a multiple of ARB_GRANULARITY, so that
#: every supported generator accepts it (MXG: >= 60, multiple of 2; SMW200A: >= 512 [verify])
ARB_MIN_SAMPLES = 1024
ARB_GRANULARITY = 4


def two_tone_arb(spacing_hz: float) -> TwoToneWaveform:
    """Two equal tones at ±spacing/2 (:mod:`benchbot.waveforms.two_tone`), mean power 1,
    whole periods only (seamless when the ARB loops)."""
    rate = min(ARB_RATE_PER_SPACING * spacing_hz, MAX_ARB_RATE_HZ)
    return generate_two_tone(spacing_hz, rate, granularity=ARB_GRANULARITY,
                             min_samples=ARB_MIN_SAMPLES)


def products(step: TwoToneStep) -> list[str]:
    """The products this step reads (tones, IM3, and IM5 if measured)."""
    return [p for p in PRODUCTS if step.measure_im5 or not p.startswith("im5")]


def rbw_hz(step: TwoToneStep) -> float:
    """The plan's RBW, or spacing/100 within [1 kHz, 1 MHz]."""
    if step.rbw_hz is not None:
        return step.rbw_hz
    return float(np.clip(step.tone_spacing_hz / 100, 1e3, 1e6))


def sweep_settings(step: TwoToneStep) -> tuple[float, float, int]:
    """(span, RBW, points) of the one sweep that sees every product (bins <= RBW/2)."""
    span = 2 * (max(abs(PRODUCTS[p]) for p in products(step)) + 0.5) * step.tone_spacing_hz
    rbw = rbw_hz(step)
    points = int(np.clip(np.ceil(2 * span / rbw) + 1, MIN_POINTS, MAX_POINTS))
    return span, rbw, points


def declare(step: TwoToneStep, bench: BenchView) -> tuple[dict, dict]:
    """Axes and datasets this step writes, as (axes, datasets) in the record's terms."""
    datasets = {
        "generator_power_dbm": (DIMS, "dBm", "generator RMS level (two tones: per tone + 3.01)"),
        "input_power_dbm": (DIMS, "dBm", "power per tone at the DUT input plane"),
        "output_power_dbm": (DIMS, "dBm", "power per tone at the DUT output (mean of the two)"),
        "noise_floor_dbm": (DIMS, "dBm", "trace median at the DUT output plane (per RBW)"),
    }
    for p in products(step):
        side, what = p.split("_")[1], p.split("_")[0]
        datasets[f"{p}_dbm"] = (DIMS, "dBm", f"{side} {what} at the DUT output plane")
    for order in ("3", "5") if step.measure_im5 else ("3",):
        for side in ("lower", "upper"):
            datasets[f"imd{order}_{side}_dbc"] = (DIMS, "dBc", f"P_IM{order} - P_tone, {side} "
                                                  "side (vs its nearer tone)")
    datasets["oip3_dbm"] = (DIMS, "dBm", "per-point OIP3 = P_tone + dIM3/2, worse side")
    datasets.update(supply_datasets(bench.supply_names))
    return sweep_axes(step), datasets


def run(step: TwoToneStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """Play the two tones, sweep every frequency (one committed row each; a row committed
    before an interruption is read back instead), then analyse."""
    arb = two_tone_arb(step.tone_spacing_hz)
    name = "bb_" + step.name.replace("-", "_")
    if step.method == "iq" and not bench.analyzer.supports_iq_capture():
        raise RuntimeError(f"step {step.name!r} (method: iq) needs an IQ capture and the "
                           f"analyzer ({type(bench.analyzer).__name__}) has none")
    gen = bench.generator
    gen.set_rf_output(False)
    gen.load_arb_waveform(name, arb.iq, arb.sample_rate_hz)
    gen.play_arb_waveform(name, arb.sample_rate_hz)
    ctx.log("info", f"step {step.name}: ARB {name}: two tones {step.tone_spacing_hz:g} Hz apart,"
            f" {arb.iq.size} samples at {arb.sample_rate_hz:g} Sa/s, crest factor "
            f"{arb.crest_factor_db:.2f} dB; generator RMS level = per tone + 3.01 dB; the SOA "
            f"is judged on that RMS level")
    results: list[MetricResult] = []
    try:
        for fi, frequency_hz in enumerate(step.frequencies_hz):
            row = resumable_row(ctx, fi, partial(_sweep_frequency, step, bench, ctx, fi,
                                                 float(frequency_hz)))
            results.extend(evaluate_row(step, float(frequency_hz), row))
    finally:
        gen.set_rf_output(False)
        gen.set_modulation(False)
    return results


def _sweep_frequency(step: TwoToneStep, bench: BenchView, ctx: StepContext, fi: int,
                     frequency_hz: float) -> dict[str, np.ndarray]:
    gen = bench.generator
    generator_dbm, input_dbm = tune_generator(step, bench, frequency_hz)
    traces: list[Spectrum] = []

    def measure(pi: int) -> dict[str, float]:
        point, trace = measure_point(step, bench, frequency_hz)
        traces[:] = [trace] if trace is not None else []
        point.update(read_supplies(bench.supplies))
        return point

    def store_top_trace(row: dict[str, np.ndarray]) -> None:
        if traces:
            _store_trace(ctx, traces[0], frequency_hz, float(generator_dbm[-1]),
                         float(input_dbm[-1]))

    return sweep_levels(gen, generator_dbm, input_dbm, step.settle_s, ctx, fi, measure,
                        at_top=store_top_trace)


def measure_point(step: TwoToneStep, bench: BenchView, frequency_hz: float
                  ) -> tuple[dict[str, float], Spectrum | None]:
    """Tones and products at the DUT output plane, with IMD per side, from one sweep, one IQ
    capture or the analyzer's TOI measurement (``step.method``)."""
    if step.method == "analyzer":
        return analyzer_point(step, bench, frequency_hz), None
    if step.method == "iq":
        spectrum = iq_spectrum(step, bench, frequency_hz)
        half = 1.5 * step.tone_spacing_hz / 2 / iq_periods(step)  # ±1.5 FFT bins
    else:
        spectrum = swept_spectrum(step, bench, frequency_hz)
        span, rbw, points = sweep_settings(step)
        half = max(2 * rbw, 2 * span / max(points - 1, 1))
    loss = bench.loss(ROLE_ANALYZER)
    point = {"noise_floor_dbm": float(np.median(spectrum.power_dbm))
             + float(loss.loss_db_at(frequency_hz))}
    for name in products(step):
        f_hz = frequency_hz + PRODUCTS[name] * step.tone_spacing_hz
        point[f"{name}_dbm"] = spectrum.read(f_hz, half) + float(loss.loss_db_at(f_hz))
    point.update(imd_columns(point, step.measure_im5))
    return point, spectrum


def analyzer_point(step: TwoToneStep, bench: BenchView, frequency_hz: float
                   ) -> dict[str, float]:
    """The analyzer's own TOI measurement, each reading moved to the DUT output plane with the
    path loss at its own frequency (no noise floor or IM5 from it: NaN)."""
    result = bench.analyzer.measure_toi(frequency_hz, step.tone_spacing_hz,
                                        step.reference_level_dbm)
    loss = bench.loss(ROLE_ANALYZER)
    readings = {"tone_lower": result.lower_tone_dbm, "tone_upper": result.upper_tone_dbm,
                "im3_lower": result.lower_im3_dbm, "im3_upper": result.upper_im3_dbm}
    point = {"noise_floor_dbm": math.nan}
    for name in products(step):
        f_hz = frequency_hz + PRODUCTS[name] * step.tone_spacing_hz
        point[f"{name}_dbm"] = readings.get(name, math.nan) + float(loss.loss_db_at(f_hz))
    point.update(imd_columns(point, step.measure_im5))
    return point


@dataclass(frozen=True)
class Spectrum:
    """Power per point (dBm at the analyzer input) against absolute frequency, and how a tone
    is read from it: ``combine="max"`` (peak-detector sweep: the tone's highest point) or
    ``"sum"`` (coherent FFT: the power of the bins around the line)."""

    frequency_hz: np.ndarray
    power_dbm: np.ndarray
    combine: str
    settings: dict[str, float | str]

    def read(self, f_hz: float, half_width_hz: float) -> float:
        window = np.abs(self.frequency_hz - f_hz) <= half_width_hz
        if not window.any():
            raise ValueError(f"{f_hz:g} Hz is not in the measured spectrum")
        p = self.power_dbm[window]
        if self.combine == "max":
            return float(np.max(p))
        return float(10 * np.log10(np.sum(10 ** (p / 10))))


def swept_spectrum(step: TwoToneStep, bench: BenchView, frequency_hz: float) -> Spectrum:
    """One peak-detector sweep over every product."""
    span, rbw, points = sweep_settings(step)
    analyzer = bench.analyzer
    analyzer.configure_sweep(center_hz=frequency_hz, span_hz=span, rbw_hz=rbw, points=points,
                             detector="peak", reference_level_dbm=step.reference_level_dbm)
    analyzer.single_sweep()
    trace = analyzer.fetch_trace()
    return Spectrum(np.asarray(trace.frequency_hz, dtype=float),
                    np.asarray(trace.power_dbm, dtype=float), "max", dict(trace.settings))


def iq_periods(step: TwoToneStep) -> int:
    """Whole two-tone periods (2/spacing) per capture: about IQ_CAPTURE_SAMPLES samples."""
    per_period = IQ_RATE_PER_SPACING * 2
    return max(1, IQ_CAPTURE_SAMPLES // per_period)


def iq_spectrum(step: TwoToneStep, bench: BenchView, frequency_hz: float) -> Spectrum:
    """Coherent FFT (rectangular window) of an IQ capture of whole two-tone periods: every tone
    and product falls exactly on a bin (multiples of spacing/2 from the centre), so its bin holds
    its power and the neighbours only noise (bin width = spacing / (2 x periods))."""
    rate = IQ_RATE_PER_SPACING * step.tone_spacing_hz
    periods = iq_periods(step)
    n = periods * IQ_RATE_PER_SPACING * 2
    capture = bench.analyzer.capture_iq(frequency_hz, rate, n / rate,
                                        reference_level_dbm=step.reference_level_dbm)
    if not np.isclose(capture.sample_rate_hz, rate, rtol=1e-9) or capture.iq.size < n:
        raise RuntimeError(f"IQ capture of {capture.iq.size} samples at "
                           f"{capture.sample_rate_hz:g} Sa/s; the coherent two-tone FFT needs "
                           f"{n} at {rate:g} Sa/s")
    x = np.asarray(capture.iq[:n], dtype=np.complex128)
    p_w = np.abs(np.fft.fftshift(np.fft.fft(x)) / n) ** 2 / 50.0  # IQ is sqrt(W * 50 ohm)
    f = frequency_hz + np.fft.fftshift(np.fft.fftfreq(n, 1.0 / rate))
    power = 10 * np.log10(np.maximum(p_w, 1e-30)) + 30
    settings: dict[str, float | str] = {"sample_rate_hz": rate, "samples": n,
                                        "bin_width_hz": rate / n, "window": "rectangular"}
    return Spectrum(f, power, "sum", settings)


def imd_columns(point: dict[str, float], with_im5: bool) -> dict[str, float]:
    """Per-tone output, IMD per side (dBc, negative) and the per-point OIP3 (worse side)."""
    lo, hi = point["tone_lower_dbm"], point["tone_upper_dbm"]
    out = {"output_power_dbm": (lo + hi) / 2,
           "imd3_lower_dbc": point["im3_lower_dbm"] - lo,
           "imd3_upper_dbc": point["im3_upper_dbm"] - hi}
    out["oip3_dbm"] = min(lo - out["imd3_lower_dbc"] / 2, hi - out["imd3_upper_dbc"] / 2)
    if with_im5:
        out["imd5_lower_dbc"] = point["im5_lower_dbm"] - lo
        out["imd5_upper_dbc"] = point["im5_upper_dbm"] - hi
    return out


def _store_trace(ctx: StepContext, trace: Spectrum, frequency_hz: float, generator_dbm: float,
                 input_dbm: float) -> None:
    attrs = dict(trace.settings)
    attrs.update(carrier_frequency_hz=frequency_hz, generator_power_dbm=generator_dbm,
                 input_power_per_tone_dbm=input_dbm,
                 reference_plane="analyzer input (no path-loss correction)")
    ctx.add_trace(f"two_tone_max_drive_{frequency_hz / 1e6:.0f}MHz", trace.frequency_hz,
                  trace.power_dbm, "Hz", "dBm", attrs)


# -- analysis of one frequency row ------------------------------------------------------


def extraction_mask(step: TwoToneStep, row: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """Points used for the OIP3 fit, and how the region was chosen."""
    pin = row["input_power_dbm"]
    how = []
    pin_max = step.extraction_max_input_dbm
    if pin_max is None:
        ip1 = analyse_power_sweep(pin, row["output_power_dbm"], None,
                                  small_signal_max_input_dbm=float(
                                      pin[step.small_signal_points - 1])).p1db_input_dbm
        if np.isfinite(ip1):
            pin_max = ip1 - EXTRACTION_BACKOFF_DB
            how.append(f"per-tone input <= IP1dB {ip1:.2f} - {EXTRACTION_BACKOFF_DB:g} dB")
        else:
            how.append("no 1 dB compression in the sweep: all levels")
    else:
        how.append(f"per-tone input <= {pin_max:g} dBm")
    mask = np.ones(pin.size, dtype=bool) if pin_max is None else pin <= pin_max + 1e-9
    if step.extraction_min_input_dbm is not None:
        mask &= pin >= step.extraction_min_input_dbm - 1e-9
        how.append(f">= {step.extraction_min_input_dbm:g} dBm")
    floor = row["noise_floor_dbm"] + IM_MIN_SNR_DB
    if np.all(np.isnan(floor)):  # the analyzer's TOI measurement reports no noise floor
        how.append("no noise-floor check (analyzer TOI)")
    else:
        with np.errstate(invalid="ignore"):
            mask &= (row["im3_lower_dbm"] >= floor) & (row["im3_upper_dbm"] >= floor)
        how.append(f"IM3 >= noise floor + {IM_MIN_SNR_DB:g} dB")
    return mask, ", ".join(how)


def evaluate_row(step: TwoToneStep, frequency_hz: float, row: dict[str, np.ndarray]
                 ) -> list[MetricResult]:
    """OIP3/IIP3/slope from the extraction region, IMD at rated Pout (pure: no instrument)."""
    condition: dict[str, float | str] = {"frequency_hz": frequency_hz}
    mask, region = extraction_mask(step, row)
    pin = row["input_power_dbm"]
    fits = []
    for side in ("lower", "upper"):
        if mask.sum() >= 2:
            fits.append((side, im3_slope(pin[mask], row[f"tone_{side}_dbm"][mask],
                                         row[f"im3_{side}_dbm"][mask])))
    out = []
    if fits:
        side, fit = min(fits, key=lambda sf: sf[1].oip3_intercept_dbm)
        note = f"{fit.method}; worse side {side}; region: {region}"
        if not fit.slope_ok:
            note += (f"; IM3 slope {fit.slope_im3:.2f} dB/dB is not 3: OIP3 is an extrapolation"
                     " the DUT does not follow")
        values = (fit.oip3_intercept_dbm, fit.iip3_intercept_dbm, fit.slope_im3)
    else:
        note = f"not computed: {int(mask.sum())} point(s) in the extraction region ({region})"
        values = (NAN, NAN, NAN)
    for metric, value in zip(("oip3_dbm", "iip3_dbm", "im3_slope_db_per_db"), values,
                             strict=True):
        out.append(judge(step, metric, value, note, condition))
    if step.rated_output_power_dbm is not None:
        for order in ("3", "5") if step.measure_im5 else ("3",):
            r = _imd_at_rated(step, row, order)
            out.append(judge(step, f"imd{order}_dbc_at_rated_pout", r.value, r.note, condition))
    return out


def _imd_at_rated(step: TwoToneStep, row: dict[str, np.ndarray], order: str) -> SweepReading:
    worst = np.fmax(row[f"imd{order}_lower_dbc"], row[f"imd{order}_upper_dbc"])
    rated = float(step.rated_output_power_dbm or 0.0)
    r = value_at(row["output_power_dbm"], worst, rated, f"IMD{order} (worse side)")
    return SweepReading(r.value, f"{r.note} (per-tone Pout {rated:g} dBm)")
