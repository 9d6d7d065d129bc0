"""CW power sweep of an amplifier: Pout, DC power and phase vs input power, per frequency.

The generator level is set so that the DUT input sees the planned power (input path loss
added); output readings are referred back to the DUT output plane (output path loss added).
Definitions follow the lab reference §1.1: G = Pout − Pin, PAE = (Pout − Pin)/P_DC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchbot.analysis.power_sweep import MetricValue, analyse_power_sweep, gain_flatness
from benchbot.bench import PathLoss
from benchbot.limits import MetricResult, evaluate
from benchbot.measurements.base import BenchView, StepContext
from benchbot.measurements.common import (
    BIAS_RAILS,
    read_supplies,
    supply_datasets,
    sweep_levels,
)
from benchbot.plan import (
    ROLE_ANALYZER,
    ROLE_GENERATOR,
    ROLE_POWER_METER,
    PowerSweepStep,
    SupplySetting,
)
from instruments.interfaces import DCSupply, PowerMeter, SignalAnalyzer, SignalGenerator

# IQ capture for the output tone's phase (AM-PM): 100 µs at 1 MS/s averages analyzer noise
# far below 0.1° at PA output levels.
IQ_SAMPLE_RATE_HZ = 1.0e6
IQ_DURATION_S = 100e-6
# Narrow sweep used when the analyzer measures Pout: the tone within its RBW, peak detector.
TONE_SPAN_HZ = 1.0e6
TONE_RBW_HZ = 100e3
# Spectrum stored at the highest drive of each frequency: carrier up to its 3rd harmonic.
SPECTRUM_POINTS = 4001
SPECTRUM_RBW_HZ = 3.0e6
DIMS = ("frequency_hz", "drive_level_dbm")


@dataclass
class PowerSweepBench:
    """The instruments and corrections a power sweep uses, named by what they do."""

    generator: SignalGenerator
    input_loss: PathLoss
    dut_max_input_dbm: float  # the DUT's safe operating area, at its input plane
    power_meter: PowerMeter | None
    power_meter_loss: PathLoss | None
    analyzer: SignalAnalyzer | None
    analyzer_loss: PathLoss | None
    supplies: list[tuple[SupplySetting, DCSupply]]
    #: the transistor's bias kernel when the step biases it (gate and drain read per point)
    bias: Any = None


def sweep_bench(view: BenchView, step: PowerSweepStep) -> PowerSweepBench:
    """The instruments and corrections of ``view`` this power sweep uses."""
    return PowerSweepBench(
        generator=view.generator,
        input_loss=view.loss(ROLE_GENERATOR),
        dut_max_input_dbm=view.max_rf_input_dbm,
        power_meter=view.optional(ROLE_POWER_METER, PowerMeter),
        power_meter_loss=view.optional_loss(ROLE_POWER_METER),
        analyzer=view.optional(ROLE_ANALYZER, SignalAnalyzer),
        analyzer_loss=view.optional_loss(ROLE_ANALYZER),
        supplies=list(view.supplies),
        bias=view.bias if step.bias is not None else None,
    )


def dc_rail_names(step: PowerSweepStep, view: BenchView) -> list[str]:
    """The DUT supplies, then a biased transistor's gate and drain SMU channels."""
    return view.supply_names + (list(BIAS_RAILS) if step.bias is not None else [])


def declare(step: PowerSweepStep, bench: BenchView) -> tuple[dict, dict]:
    """Axes and datasets this step writes, as (axes, datasets) in the record's terms."""
    axes = {
        "frequency_hz": (np.asarray(step.frequencies_hz, dtype=float), "Hz"),
        "drive_level_dbm": (step.input_power_dbm.levels_dbm(), "dBm"),
    }
    datasets = {
        "generator_power_dbm": (DIMS, "dBm", "generator output level setting"),
        "input_power_dbm": (DIMS, "dBm", "power at the DUT input plane"),
        "output_reading_dbm": (DIMS, "dBm", "output power as read at the instrument port"),
        "output_power_dbm": (DIMS, "dBm", "power at the DUT output plane"),
    }
    datasets.update(supply_datasets(dc_rail_names(step, bench)))
    if step.measure_am_pm:
        datasets["output_phase_deg"] = (DIMS, "deg", "output tone phase vs the shared reference")
    return axes, datasets


def drive_plan(
    step: PowerSweepStep, input_loss: PathLoss, frequency_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """(generator setpoints, DUT-plane input powers) in dBm at one frequency."""
    levels = step.input_power_dbm.levels_dbm()
    loss = input_loss.loss_db_at(frequency_hz)
    if step.reference_plane == "dut_input":
        return levels + loss, levels
    return levels, levels - loss


def run(step: PowerSweepStep, view: BenchView, ctx: StepContext) -> list[MetricResult]:
    """Acquire the sweep point by point, committing each frequency row; then analyse."""
    bench = sweep_bench(view, step)
    frequencies = np.asarray(step.frequencies_hz, dtype=float)
    results: list[MetricResult] = []
    for fi, frequency_hz in enumerate(frequencies):
        row = ctx.stored_row(fi)  # a row committed before an interruption is not re-measured
        if row is None:
            row = _sweep_frequency(step, bench, ctx, fi, float(frequency_hz))
            ctx.commit(row=fi)
        results.extend(_evaluate_row(step, float(frequency_hz), row))
    if len(frequencies) > 1:
        g0 = [r.value for r in results if r.metric == "small_signal_gain_db"]
        results.append(_judge(step, "gain_flatness_db", gain_flatness(g0), {}))
    return results


def _sweep_frequency(
    step: PowerSweepStep, bench: PowerSweepBench, ctx: StepContext, fi: int, frequency_hz: float
) -> dict[str, np.ndarray]:
    generator_dbm, input_dbm = drive_plan(step, bench.input_loss, frequency_hz)
    _prepare_frequency(step, bench, frequency_hz)
    return sweep_levels(
        bench.generator, generator_dbm, input_dbm, step.settle_s, ctx, fi,
        measure=lambda pi: _measure_point(step, bench, frequency_hz),
        at_top=lambda row: _store_spectrum(bench, ctx, frequency_hz, float(generator_dbm[-1])),
    )


def _prepare_frequency(step: PowerSweepStep, bench: PowerSweepBench, frequency_hz: float) -> None:
    """Tune every instrument to the carrier; cap the generator so that the DUT input can
    never exceed its safe operating area at this frequency, whatever is commanded later."""
    bench.generator.set_rf_output(False)
    bench.generator.set_modulation(False)  # CW: an earlier modulated step may have left an ARB
    bench.generator.set_frequency_hz(frequency_hz)
    ceiling_dbm = bench.dut_max_input_dbm + bench.input_loss.loss_db_at(frequency_hz)
    bench.generator.set_power_limit_dbm(ceiling_dbm)
    if bench.power_meter is not None:
        bench.power_meter.set_frequency_hz(frequency_hz)
    if step.output_power_from == "signal_analyzer" and bench.analyzer is not None:
        bench.analyzer.configure_sweep(
            center_hz=frequency_hz, span_hz=TONE_SPAN_HZ, rbw_hz=TONE_RBW_HZ,
            points=101, detector="peak", reference_level_dbm=10.0,
        )


def _measure_point(
    step: PowerSweepStep, bench: PowerSweepBench, frequency_hz: float
) -> dict[str, float]:
    point: dict[str, float] = {}
    if step.output_power_from == "power_meter":
        assert bench.power_meter is not None and bench.power_meter_loss is not None
        reading = bench.power_meter.measure_power_dbm()
        loss = bench.power_meter_loss.loss_db_at(frequency_hz)
    else:
        assert bench.analyzer is not None and bench.analyzer_loss is not None
        bench.analyzer.single_sweep()
        _, reading = bench.analyzer.peak_marker()
        loss = bench.analyzer_loss.loss_db_at(frequency_hz)
    point["output_reading_dbm"] = reading
    point["output_power_dbm"] = reading + loss
    if step.measure_am_pm:
        assert bench.analyzer is not None
        capture = bench.analyzer.capture_iq(frequency_hz, IQ_SAMPLE_RATE_HZ, IQ_DURATION_S)
        point["output_phase_deg"] = float(np.degrees(np.angle(np.mean(capture.iq))))
    point.update(read_supplies(bench.supplies, bench.bias))
    return point


def _store_spectrum(
    bench: PowerSweepBench, ctx: StepContext, frequency_hz: float, generator_dbm: float
) -> None:
    """Keep the output spectrum (carrier to H3) at the highest drive of this frequency."""
    if bench.analyzer is None:
        return
    start_hz, stop_hz = 0.5 * frequency_hz, 3.5 * frequency_hz
    bench.analyzer.configure_sweep(
        center_hz=(start_hz + stop_hz) / 2, span_hz=stop_hz - start_hz,
        rbw_hz=SPECTRUM_RBW_HZ, points=SPECTRUM_POINTS, detector="peak",
        reference_level_dbm=10.0,
    )
    bench.analyzer.single_sweep()
    trace = bench.analyzer.fetch_trace()
    attrs = dict(trace.settings)
    attrs.update(carrier_frequency_hz=frequency_hz, generator_power_dbm=generator_dbm,
                 reference_plane="analyzer input (no path-loss correction)")
    name = f"spectrum_max_drive_{frequency_hz / 1e6:.0f}MHz"
    ctx.add_trace(name, trace.frequency_hz, trace.power_dbm, "Hz", "dBm", attrs)


def _evaluate_row(
    step: PowerSweepStep, frequency_hz: float, row: dict[str, np.ndarray]
) -> list[MetricResult]:
    metrics = analyse_power_sweep(
        pin_dbm=row["input_power_dbm"],
        pout_dbm=row["output_power_dbm"],
        dc_power_w=row["dc_power_w"],
        phase_deg=row.get("output_phase_deg"),
        small_signal_max_input_dbm=step.small_signal_max_input_dbm,
    )
    condition = {"frequency_hz": frequency_hz}
    return [_judge(step, name, metric, condition)
            for name, metric in metrics.to_metrics().items()]


def _judge(step: PowerSweepStep, name: str, metric: MetricValue, condition: dict) -> MetricResult:
    limit = step.limits.get(name)
    verdict, margin = evaluate(metric.value, limit)
    return MetricResult(
        step=step.name, metric=name, unit=metric.unit, value=metric.value,
        condition=condition, limit=limit, verdict=verdict, margin=margin, note=metric.method,
    )
