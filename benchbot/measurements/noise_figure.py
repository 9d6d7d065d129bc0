"""Y-factor noise figure of a DUT with second-stage correction (rf-measurements-and-scpi.md §1.7).

The bench's noise source (``bench.noise_source``: ENR calibration table, cold temperature, the
role whose +28 V output drives it, the GPIO test-set switch that bypasses the DUT) sits at the
DUT's input plane. Sequence:

1. before anything is switched: the ENR table must cover every frequency (never extrapolated),
   the source must be driven by the analyzer role, the bypass must be the step's ``bypass_role``;
2. with ``second_stage_correction``: the test set routes the source straight to the analyzer
   (``thru_value``) and at each frequency the analyzer reads the noise power with the source hot
   (28 V on) then cold: ``N1h``, ``N1c`` (the receiver: everything after the DUT);
3. the test set routes through the DUT (``dut_value``): ``N2h``, ``N2c`` at each frequency;
4. per frequency: ``Y = N2h/N2c``; ``F12 = (ENR - Y (Tc/T0 - 1))/(Y - 1)`` with the source's
   physical (cold) temperature Tc; the receiver's ``F2`` likewise from ``N1h/N1c``; the DUT gain
   ``G1 = (N2h - N2c)/(N1h - N1c)``; ``F1 = F12 - (F2 - 1)/G1`` (Friis).

The noise source is switched OFF and the test set left on the DUT route at the end and after any
error. Raw noise powers (dBm at the analyzer input), Y, ENR, NF (corrected and not), the
receiver's NF and the gain are stored per frequency; the ENR table with the cold temperature and
the source's identity is stored as the step's ``enr_table`` trace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from benchbot.analysis.noise_figure import YFactorResult, enr_db_at, y_factor_noise_figure
from benchbot.limits import MetricResult
from benchbot.measurements import dut_control
from benchbot.measurements.base import BenchView, StepContext
from benchbot.measurements.common import judge
from benchbot.plan_control import check_control_states
from benchbot.plan_noise import NoiseFigureStep
from benchbot.safety import noise_source_problems
from instruments.interfaces import GpioController, SignalAnalyzer

DIMS = ("frequency_hz",)
#: a Y factor below this (dB) leaves the noise figure poorly conditioned: said in the note
LOW_Y_FACTOR_DB = 1.0

_DATASETS: dict[str, tuple[str, str]] = {
    "receiver_hot_dbm": ("dBm", "noise power at the analyzer, source hot, DUT bypassed"),
    "receiver_cold_dbm": ("dBm", "noise power at the analyzer, source cold, DUT bypassed"),
    "dut_hot_dbm": ("dBm", "noise power at the analyzer, source hot, through the DUT"),
    "dut_cold_dbm": ("dBm", "noise power at the analyzer, source cold, through the DUT"),
    "y_factor_db": ("dB", "Y = N_hot / N_cold through the DUT"),
    "enr_db": ("dB", "noise source ENR (calibration table, linear in dB vs frequency)"),
    "noise_figure_db": ("dB", "DUT noise figure (second-stage corrected when calibrated)"),
    "gain_db": ("dB", "DUT gain (N2h - N2c)/(N1h - N1c)"),
    "noise_figure_uncorrected_db": ("dB", "noise figure of DUT + receiver (no correction)"),
    "receiver_noise_figure_db": ("dB", "noise figure of the receiver (path + analyzer)"),
}


class NoiseSetupError(ValueError):
    """The bench's noise source cannot serve this step (checked before anything is switched)."""


def declare(step: NoiseFigureStep, bench: BenchView) -> tuple[dict, dict]:
    """Axes and datasets this step writes, as (axes, datasets) in the record's terms."""
    axes = {"frequency_hz": (np.asarray(step.frequencies_hz, dtype=float), "Hz")}
    datasets = {name: (DIMS, unit, long_name) for name, (unit, long_name) in _DATASETS.items()}
    return axes, datasets


def noise_source_for(step: NoiseFigureStep, bench: BenchView) -> Any:
    """The bench's noise source entry, checked against the step (driving role, bypass, ENR
    coverage: :func:`benchbot.safety.noise_source_problems`). NoiseSetupError if unusable."""
    problems = noise_source_problems(step, bench.noise_source)
    if problems:
        raise NoiseSetupError("; ".join(problems))
    return bench.noise_source


def run(step: NoiseFigureStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """Receiver calibration (bypass), then the DUT route; NF per frequency, judged."""
    source = noise_source_for(step, bench)
    frequencies = np.asarray(step.frequencies_hz, dtype=float)
    enr_db = enr_db_at(frequencies, source.enr.frequency_hz, source.enr.enr_db)  # never guessed
    cold_k = float(source.cold_temperature_k)
    analyzer = bench.analyzer
    bypass = source.bypass if step.second_stage_correction else None
    test_set = bench.role(bypass.role, GpioController) if bypass is not None else None
    ctx.add_trace("enr_table", np.asarray(source.enr.frequency_hz, dtype=float),
                  np.asarray(source.enr.enr_db, dtype=float), "Hz", "dB",
                  {"cold_temperature_k": cold_k, "noise_source_model": source.model,
                   "noise_source_serial": source.serial, "cal_due": source.cal_due or "",
                   "driven_by": source.driven_by,
                   "interpolation": "linear in dB vs frequency, no extrapolation"})
    for fi, value in enumerate(enr_db):
        ctx.write("enr_db", (fi,), float(value))
    receiver: tuple[np.ndarray, np.ndarray] | None = None
    check_control_states(step, bench.dut_control)
    with _source_off_on_dut_route(analyzer, test_set, bypass):
        analyzer.set_noise_source(False)
        if test_set is not None and bypass is not None:
            _route(test_set, bypass.port, bypass.thru_value, step.settle_s)
            receiver = _hot_cold(step, analyzer, ctx, "receiver")
            _route(test_set, bypass.port, bypass.dut_value, step.settle_s)
        with dut_control.powered(bench, ctx.log):
            if step.state is not None:
                dut_control.apply_state(bench, step.state, rf_on_after=False, log=ctx.log)
            dut = _hot_cold(step, analyzer, ctx, "dut")
    result = y_factor_noise_figure(enr_db, dut[0], dut[1], cold_k,
                                   *(receiver if receiver is not None else (None, None)))
    for name, values in (("y_factor_db", result.y_factor_db),
                         ("noise_figure_db", result.noise_figure_db),
                         ("gain_db", result.gain_db),
                         ("noise_figure_uncorrected_db", result.noise_figure_uncorrected_db),
                         ("receiver_noise_figure_db", result.receiver_noise_figure_db)):
        for fi, value in enumerate(values):
            ctx.write(name, (fi,), float(value))
    ctx.commit()
    return evaluate(step, enr_db, cold_k, result)


def _route(test_set: GpioController, port: int, value: int, settle_s: float) -> None:
    test_set.write_port(port, value)
    if settle_s:
        time.sleep(settle_s)


def _hot_cold(step: NoiseFigureStep, analyzer: SignalAnalyzer, ctx: StepContext, route: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """At each frequency the noise power with the source hot, then cold; each row written
    (``<route>_hot_dbm``, ``<route>_cold_dbm``) and committed at the end of the route."""
    hot, cold = [], []
    for fi, frequency_hz in enumerate(step.frequencies_hz):
        for on, readings in ((True, hot), (False, cold)):
            analyzer.set_noise_source(on)
            if step.settle_s:
                time.sleep(step.settle_s)
            readings.append(analyzer.measure_noise_power(
                float(frequency_hz), step.measurement_bandwidth_hz, step.average_count,
                step.preamplifier))
        ctx.write(f"{route}_hot_dbm", (fi,), hot[-1])
        ctx.write(f"{route}_cold_dbm", (fi,), cold[-1])
        ctx.point_done()
    ctx.commit()
    return np.asarray(hot, dtype=float), np.asarray(cold, dtype=float)


@contextmanager
def _source_off_on_dut_route(analyzer: SignalAnalyzer, test_set: GpioController | None,
                             bypass: Any) -> Iterator[None]:
    """Noise source OFF and the test set on the DUT route when the block ends, whatever
    happens; both are attempted. A failure of either is raised only if the block succeeded
    (otherwise the block's own error is the news)."""
    try:
        yield
    except BaseException:
        _safe_state(analyzer, test_set, bypass, raise_errors=False)
        raise
    _safe_state(analyzer, test_set, bypass, raise_errors=True)


def _safe_state(analyzer: SignalAnalyzer, test_set: GpioController | None, bypass: Any,
                raise_errors: bool) -> None:
    errors: list[Exception] = []
    try:
        analyzer.set_noise_source(False)
    except Exception as exc:
        errors.append(exc)
    if test_set is not None:
        try:
            test_set.write_port(bypass.port, bypass.dut_value)
        except Exception as exc:
            errors.append(exc)
    if errors and raise_errors:
        raise errors[0]


def evaluate(step: NoiseFigureStep, enr_db: np.ndarray, cold_temperature_k: float,
             result: YFactorResult) -> list[MetricResult]:
    """Per-frequency ``noise_figure_db`` (and ``gain_db`` with the receiver calibration), and
    ``noise_figure_max_db``, the worst over frequencies (NaN if any frequency has none); pure."""
    out: list[MetricResult] = []
    corrected = step.second_stage_correction
    how = (f"Y-factor, {step.measurement_bandwidth_hz:g} Hz noise bandwidth, "
           f"{step.average_count} averages, Tc {cold_temperature_k:g} K")
    for fi, frequency_hz in enumerate(step.frequencies_hz):
        condition: dict[str, float | str] = {"frequency_hz": float(frequency_hz)}
        y_db = float(result.y_factor_db[fi])
        note = f"{how}, ENR {enr_db[fi]:.2f} dB, Y {y_db:.2f} dB"
        if corrected:
            note += (f"; second-stage corrected (receiver NF "
                     f"{result.receiver_noise_figure_db[fi]:.2f} dB, uncorrected "
                     f"{result.noise_figure_uncorrected_db[fi]:.2f} dB)")
        else:
            note += "; not second-stage corrected: DUT + receiver"
        if not np.isfinite(y_db) or y_db < LOW_Y_FACTOR_DB:
            note += (f"; Y below {LOW_Y_FACTOR_DB:g} dB: no usable excess noise (ENR too low or "
                     "the DUT's output below the receiver's noise)")
        out.append(judge(step, "noise_figure_db", float(result.noise_figure_db[fi]), note,
                         condition))
        if corrected:
            out.append(judge(step, "gain_db", float(result.gain_db[fi]),
                             "(N2h - N2c)/(N1h - N1c): the DUT's gain between the noise source "
                             "and the receiver", condition))
    nf = np.asarray(result.noise_figure_db, dtype=float)
    if np.all(np.isfinite(nf)):
        k = int(np.argmax(nf))
        worst, note = float(nf[k]), (f"worst of {nf.size} frequencies, at "
                                     f"{step.frequencies_hz[k]:g} Hz")
    else:
        bad = [f"{f:g}" for f, v in zip(step.frequencies_hz, nf, strict=True)
               if not np.isfinite(v)]
        worst, note = float("nan"), f"no noise figure at {', '.join(bad)} Hz"
    out.append(judge(step, "noise_figure_max_db", worst, note, {}))
    return out
