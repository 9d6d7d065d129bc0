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

Resume unit (``benchbot run --resume``): one frequency — its receiver calibration (``N1h``,
``N1c``), its DUT readings (``N2h``, ``N2c``) and what is derived from them, committed once its
DUT reading is done. A resumed run keeps the committed frequencies as recorded and measures the
others again, receiver calibration first then through the DUT, so every frequency's noise
figure combines readings of one session (never a calibration of one with a DUT reading of
another).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from benchbot.analysis.noise_figure import enr_db_at, y_factor_noise_figure
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

#: the datasets derived from a frequency's readings (named as the fields of YFactorResult)
_DERIVED = ("y_factor_db", "noise_figure_db", "gain_db", "noise_figure_uncorrected_db",
            "receiver_noise_figure_db")


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
    """Receiver calibration (bypass), then the DUT route, committing each frequency once its DUT
    reading is done (frequencies committed before an interruption are read back instead); NF
    per frequency, judged."""
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
    values, todo = _stored_rows(ctx, frequencies.size)
    calibrated = test_set is not None and bypass is not None

    def commit_frequency(fi: int) -> None:
        """The frequency's results from its readings, written with its ENR; the row committed."""
        dut_hot, dut_cold, receiver_hot, receiver_cold = _readings_at(values, fi, calibrated)
        row = y_factor_noise_figure(enr_db[fi], dut_hot, dut_cold, cold_k, receiver_hot,
                                    receiver_cold)
        values["enr_db"][fi] = enr_db[fi]
        for name in _DERIVED:
            values[name][fi] = getattr(row, name)
        for name in ("enr_db", *_DERIVED):
            ctx.write(name, (fi,), float(values[name][fi]))
        ctx.commit(row=fi)

    check_control_states(step, bench.dut_control)
    with _source_off_on_dut_route(analyzer, test_set, bypass):
        analyzer.set_noise_source(False)
        if todo and calibrated:
            assert test_set is not None and bypass is not None
            _route(test_set, bypass.port, bypass.thru_value, step.settle_s)
            _hot_cold(step, analyzer, ctx, "receiver", todo, values)
            _route(test_set, bypass.port, bypass.dut_value, step.settle_s)
        if todo:
            with dut_control.powered(bench, ctx.log):
                if step.state is not None:
                    dut_control.apply_state(bench, step.state, rf_on_after=False, log=ctx.log)
                _hot_cold(step, analyzer, ctx, "dut", todo, values, commit_frequency)
    return evaluate(step, values, cold_k)


def _stored_rows(ctx: StepContext, n: int) -> tuple[dict[str, np.ndarray], list[int]]:
    """Every dataset of the step over its ``n`` frequencies as committed before an
    interruption (NaN elsewhere), and the frequency indices still to measure (all of them in
    a fresh run)."""
    values = {name: np.full(n, np.nan) for name in _DATASETS}
    todo = []
    for fi in range(n):
        row = ctx.stored_row(fi)
        if row is None:
            todo.append(fi)
            continue
        for name in _DATASETS:
            values[name][fi] = float(row[name])
    return values, todo


def _readings_at(values: dict[str, np.ndarray], fi: int, calibrated: bool
                 ) -> tuple[float, float, float | None, float | None]:
    """(N2h, N2c, N1h, N1c) at frequency ``fi`` in dBm; the receiver's None when uncalibrated."""
    dut = (float(values["dut_hot_dbm"][fi]), float(values["dut_cold_dbm"][fi]))
    if not calibrated:
        return (*dut, None, None)
    return (*dut, float(values["receiver_hot_dbm"][fi]), float(values["receiver_cold_dbm"][fi]))


def _route(test_set: GpioController, port: int, value: int, settle_s: float) -> None:
    test_set.write_port(port, value)
    if settle_s:
        time.sleep(settle_s)


def _hot_cold(step: NoiseFigureStep, analyzer: SignalAnalyzer, ctx: StepContext, route: str,
              frequency_indices: list[int], values: dict[str, np.ndarray],
              done: Callable[[int], None] | None = None) -> None:
    """At each of ``frequency_indices`` the noise power with the source hot, then cold, written
    (``<route>_hot_dbm``, ``<route>_cold_dbm``) into the record and ``values``; ``done(fi)``
    after each frequency, everything flushed at the end of the route."""
    for fi in frequency_indices:
        for on, name in ((True, f"{route}_hot_dbm"), (False, f"{route}_cold_dbm")):
            analyzer.set_noise_source(on)
            if step.settle_s:
                time.sleep(step.settle_s)
            value = analyzer.measure_noise_power(
                float(step.frequencies_hz[fi]), step.measurement_bandwidth_hz,
                step.average_count, step.preamplifier)
            values[name][fi] = value
            ctx.write(name, (fi,), value)
        if done is not None:
            done(fi)
        ctx.point_done()
    ctx.commit()


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


def evaluate(step: NoiseFigureStep, values: Mapping[str, np.ndarray],
             cold_temperature_k: float) -> list[MetricResult]:
    """Per-frequency ``noise_figure_db`` (and ``gain_db`` with the receiver calibration), and
    ``noise_figure_max_db``, the worst over frequencies (NaN if any frequency has none), from
    the step's per-frequency datasets (``enr_db`` and the results of
    :func:`~benchbot.analysis.noise_figure.y_factor_noise_figure`, as stored); pure."""
    out: list[MetricResult] = []
    corrected = step.second_stage_correction
    how = (f"Y-factor, {step.measurement_bandwidth_hz:g} Hz noise bandwidth, "
           f"{step.average_count} averages, Tc {cold_temperature_k:g} K")
    for fi, frequency_hz in enumerate(step.frequencies_hz):
        condition: dict[str, float | str] = {"frequency_hz": float(frequency_hz)}
        y_db = float(values["y_factor_db"][fi])
        note = f"{how}, ENR {values['enr_db'][fi]:.2f} dB, Y {y_db:.2f} dB"
        if corrected:
            note += (f"; second-stage corrected (receiver NF "
                     f"{values['receiver_noise_figure_db'][fi]:.2f} dB, uncorrected "
                     f"{values['noise_figure_uncorrected_db'][fi]:.2f} dB)")
        else:
            note += "; not second-stage corrected: DUT + receiver"
        if not np.isfinite(y_db) or y_db < LOW_Y_FACTOR_DB:
            note += (f"; Y below {LOW_Y_FACTOR_DB:g} dB: no usable excess noise (ENR too low or "
                     "the DUT's output below the receiver's noise)")
        out.append(judge(step, "noise_figure_db", float(values["noise_figure_db"][fi]), note,
                         condition))
        if corrected:
            out.append(judge(step, "gain_db", float(values["gain_db"][fi]),
                             "(N2h - N2c)/(N1h - N1c): the DUT's gain between the noise source "
                             "and the receiver", condition))
    nf = np.asarray(values["noise_figure_db"], dtype=float)
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
