"""CW harmonics of an amplifier: H_n = P(n·f) − P(f) in dBc at the DUT output, per frequency
and input level (rf-measurements-and-scpi.md §1.6).

Each tone (the fundamental and every harmonic) is read by a narrow swept measurement centred on
it, peak detector, its highest trace point; readings are referred to the DUT output plane with
the analyzer path loss at that tone's own frequency (the bench table must cover n·f). The median
of each narrow trace estimates the noise floor there: a harmonic within
:data:`NOISE_MARGIN_DB` of it is an upper bound, and the metric's note says so.

Metric ``h<n>_dbc`` is the worst (highest) H_n over the swept levels at each frequency: a
harmonics requirement applies over the whole drive range the plan sweeps, so sweep exactly the
levels the requirement covers (e.g. up to rated input).

Resume unit (``benchbot run --resume``): one frequency, its whole drive ramp. A frequency
committed before an interruption is kept as recorded and its metrics are computed from the
record; any other is measured again from its lowest level (a ramp is never restarted mid-way:
the DUT's drive history would differ).

A valid setup needs the analyzer's own distortion well below the DUT's (a high-pass filter or
enough input attenuation; §1.6): the plan's ``reference_level_dbm`` sets the analyzer's range.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchbot.limits import MetricResult
from benchbot.measurements.base import BenchView, StepContext
from benchbot.measurements.common import (
    DIMS,
    judge,
    resumable_row,
    sweep_axes,
    sweep_levels,
    tune_generator,
)
from benchbot.plan import ROLE_ANALYZER, HarmonicsStep

#: a tone less than this above the trace median is at the noise floor (reading = upper bound)
NOISE_MARGIN_DB = 6.0
SWEEP_POINTS = 201
AXES_ORDER = (*DIMS, "harmonic_order")


def declare(step: HarmonicsStep, bench: BenchView) -> tuple[dict, dict]:
    """Axes and datasets this step writes, as (axes, datasets) in the record's terms."""
    axes = sweep_axes(step)
    axes["harmonic_order"] = (np.asarray(step.orders(), dtype=float), "")
    datasets = {
        "generator_power_dbm": (DIMS, "dBm", "generator output level setting"),
        "input_power_dbm": (DIMS, "dBm", "power at the DUT input plane"),
        "output_power_dbm": (DIMS, "dBm", "fundamental at the DUT output plane"),
        "harmonic_power_dbm": (AXES_ORDER, "dBm", "harmonic n*f at the DUT output plane"),
        "harmonic_dbc": (AXES_ORDER, "dBc", "H_n = P(n*f) - P(f)"),
        "harmonic_noise_floor_dbm": (AXES_ORDER, "dBm", "median of the narrow trace around n*f, "
                                     "at the DUT output plane (per RBW)"),
    }
    return axes, datasets


def run(step: HarmonicsStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """Sweep every frequency (one committed row each; a row committed before an interruption
    is read back instead), then judge the worst H_n per frequency."""
    results: list[MetricResult] = []
    gen = bench.generator
    gen.set_rf_output(False)
    gen.set_modulation(False)  # CW
    for fi, frequency_hz in enumerate(step.frequencies_hz):
        measure = partial(_sweep_frequency, step, bench, ctx, fi, float(frequency_hz))
        results.extend(evaluate_row(step, float(frequency_hz), resumable_row(ctx, fi, measure)))
    return results


def _sweep_frequency(step: HarmonicsStep, bench: BenchView, ctx: StepContext, fi: int,
                     frequency_hz: float) -> dict[str, np.ndarray]:
    gen = bench.generator
    generator_dbm, input_dbm = tune_generator(step, bench, frequency_hz)
    return sweep_levels(gen, generator_dbm, input_dbm, step.settle_s, ctx, fi,
                        measure=lambda pi: measure_point(step, bench, frequency_hz))


def measure_point(step: HarmonicsStep, bench: BenchView, frequency_hz: float
                  ) -> dict[str, float | np.ndarray]:
    """The fundamental and each harmonic, at the DUT output plane, at one drive level."""
    if step.method == "analyzer":
        return analyzer_point(step, bench, frequency_hz)
    fundamental_dbm, _ = read_tone(step, bench, frequency_hz)
    powers, floors = [], []
    for n in step.orders():
        power_dbm, floor_dbm = read_tone(step, bench, n * frequency_hz)
        powers.append(power_dbm)
        floors.append(floor_dbm)
    harmonic = np.asarray(powers)
    return {"output_power_dbm": fundamental_dbm, "harmonic_power_dbm": harmonic,
            "harmonic_dbc": harmonic - fundamental_dbm,
            "harmonic_noise_floor_dbm": np.asarray(floors)}


def analyzer_point(step: HarmonicsStep, bench: BenchView, frequency_hz: float
                   ) -> dict[str, float | np.ndarray]:
    """The analyzer's own harmonics measurement, its dBc moved to the DUT output plane by the
    path-loss difference between n·f and f (the measurement reports no noise floor: NaN)."""
    result = bench.analyzer.measure_harmonics(frequency_hz, step.max_harmonic,
                                              step.reference_level_dbm)
    loss = bench.loss(ROLE_ANALYZER)
    loss_f = float(loss.loss_db_at(frequency_hz))
    fundamental_dbm = result.fundamental_dbm + loss_f
    dbc = np.array([result.harmonics_dbc[n - 2] + float(loss.loss_db_at(n * frequency_hz))
                    - loss_f for n in step.orders()])
    return {"output_power_dbm": fundamental_dbm, "harmonic_power_dbm": fundamental_dbm + dbc,
            "harmonic_dbc": dbc, "harmonic_noise_floor_dbm": np.full(dbc.size, np.nan)}


def read_tone(step: HarmonicsStep, bench: BenchView, tone_hz: float) -> tuple[float, float]:
    """(peak, median) of a narrow peak-detector sweep centred on ``tone_hz``, referred to the
    DUT output plane with the analyzer path loss at ``tone_hz``."""
    analyzer = bench.analyzer
    analyzer.configure_sweep(center_hz=tone_hz, span_hz=step.span_hz, rbw_hz=step.rbw_hz,
                             points=SWEEP_POINTS, detector="peak",
                             reference_level_dbm=step.reference_level_dbm)
    analyzer.single_sweep()
    trace = analyzer.fetch_trace()
    loss_db = float(bench.loss(ROLE_ANALYZER).loss_db_at(tone_hz))
    power = np.asarray(trace.power_dbm, dtype=float)
    return float(np.max(power)) + loss_db, float(np.median(power)) + loss_db


def evaluate_row(step: HarmonicsStep, frequency_hz: float, row: dict[str, np.ndarray]
                 ) -> list[MetricResult]:
    """``h<n>_dbc``: the worst (highest) H_n over the swept levels (pure: no instrument)."""
    condition: dict[str, float | str] = {"frequency_hz": frequency_hz}
    dbc = row["harmonic_dbc"].reshape(len(row["input_power_dbm"]), -1)
    snr = (row["harmonic_power_dbm"] - row["harmonic_noise_floor_dbm"]).reshape(dbc.shape)
    pin = row["input_power_dbm"]
    out = []
    for j, n in enumerate(step.orders()):
        k = int(np.nanargmax(dbc[:, j])) if np.any(np.isfinite(dbc[:, j])) else 0
        how = ("the analyzer's harmonics measurement" if step.method == "analyzer" else
               f"narrow sweep {step.span_hz:g} Hz, RBW {step.rbw_hz:g} Hz, peak detector")
        note = f"worst H{n} over {len(pin)} levels (at Pin = {pin[k]:g} dBm); {how}, path loss " \
               f"at {n}f"
        if snr[k, j] < NOISE_MARGIN_DB:
            note += (f"; at the noise floor there ({snr[k, j]:.1f} dB above the trace median):"
                     " an upper bound")
        out.append(judge(step, f"h{n}_dbc", float(dbc[k, j]), note, condition))
    return out
