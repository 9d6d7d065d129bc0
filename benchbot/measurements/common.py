"""Pieces every swept measurement shares: drive levels, the generator's safety ceiling, DC
supply read-out and judging a metric against the step's limit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchbot.bench import PathLoss
from benchbot.limits import MetricResult, evaluate
from benchbot.measurements.base import BenchView, StepContext
from benchbot.plan import ROLE_GENERATOR, SupplySetting
from instruments.interfaces import DCSupply, SignalGenerator

DIMS = ("frequency_hz", "drive_level_dbm")
#: a biased transistor's SMU channels, as DC rails of an RF step
BIAS_RAILS = ("gate", "drain")


def sweep_axes(step: Any) -> dict[str, tuple[np.ndarray, str]]:
    """The two axes every sweep has: carrier frequency and planned input level."""
    return {
        "frequency_hz": (np.asarray(step.frequencies_hz, dtype=float), "Hz"),
        "drive_level_dbm": (step.levels_dbm(), "dBm"),
    }


def supply_datasets(names: list[str]) -> dict[str, tuple[tuple[str, ...], str, str]]:
    """P_DC and each rail's measured V and I over (frequency, drive)."""
    datasets = {"dc_power_w": (DIMS, "W", "sum of V*I over all DUT supplies")}
    for name in names:
        datasets[f"supply_{name}_voltage_v"] = (DIMS, "V", f"supply {name} measured voltage")
        datasets[f"supply_{name}_current_a"] = (DIMS, "A", f"supply {name} measured current")
    return datasets


def drive_plan(step: Any, input_loss: PathLoss, frequency_hz: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """(generator RMS setpoints, planned levels at the DUT input plane) in dBm at one frequency.

    The generator's RMS level is the planned level plus ``step.rms_offset_db()`` (two equal
    tones: +3.01 dB over the per-tone level); with ``reference_plane: dut_input`` it also adds
    the input path loss so that the DUT input sees the plan's level.
    """
    levels = step.levels_dbm()
    loss = float(input_loss.loss_db_at(frequency_hz))
    offset = step.rms_offset_db()
    if step.reference_plane == "dut_input":
        return levels + offset + loss, levels
    return levels + offset, levels - loss


def set_generator_ceiling(generator: SignalGenerator, bench: BenchView,
                          frequency_hz: float) -> float:
    """Cap the generator so that the DUT input can never exceed its safe operating area at
    this frequency, whatever is commanded later; returns the ceiling (dBm at the generator).

    The SOA's ``max_rf_input_dbm`` is an RMS (average-power) rating, so it is compared with the
    RMS level: a modulated waveform's peaks (RMS + PAPR) may exceed it, as they do in the
    datasheet conditions the rating comes from.
    """
    ceiling_dbm = bench.max_rf_input_dbm + float(
        bench.loss(ROLE_GENERATOR).loss_db_at(frequency_hz))
    generator.set_power_limit_dbm(ceiling_dbm)
    return ceiling_dbm


def read_supplies(supplies: tuple[tuple[SupplySetting, DCSupply], ...] | list[Any],
                  bias: Any = None) -> dict[str, float]:
    """Measured V and I of every DUT rail and their total P_DC (``dc_power_w``; NaN without
    rails). ``bias``: a biased transistor's kernel, whose gate and drain read-back join as the
    rails ``gate`` and ``drain`` (judged against the SOA; a fault raises without powering
    down, so that the sweep turns RF off before the engine powers the device down)."""
    point: dict[str, float] = {}
    dc_power_w = 0.0
    for setting, supply in supplies:
        volts = supply.measure_voltage_v(setting.channel)
        amps = supply.measure_current_a(setting.channel)
        point[f"supply_{setting.name}_voltage_v"] = volts
        point[f"supply_{setting.name}_current_a"] = amps
        dc_power_w += volts * amps
    if bias is not None:
        r = bias.monitor()
        for rail, volts, amps in (("gate", r.vgs_v, r.ig_a), ("drain", r.vds_v, r.id_a)):
            point[f"supply_{rail}_voltage_v"] = volts
            point[f"supply_{rail}_current_a"] = amps
            dc_power_w += volts * amps
    point["dc_power_w"] = dc_power_w if supplies or bias is not None else math.nan
    return point


def pae_pct(pin_dbm: np.ndarray, pout_dbm: np.ndarray, dc_power_w: np.ndarray) -> np.ndarray:
    """PAE = (Pout - Pin) / P_DC in % (linear W; rf-measurements-and-scpi.md §1.1)."""
    pin_w = 10.0 ** ((np.asarray(pin_dbm, dtype=float) - 30.0) / 10.0)
    pout_w = 10.0 ** ((np.asarray(pout_dbm, dtype=float) - 30.0) / 10.0)
    pdc = np.asarray(dc_power_w, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pdc > 0, 100.0 * (pout_w - pin_w) / pdc, np.nan)


def judge(step: Any, metric: str, value: float, note: str,
          condition: dict[str, float | str]) -> MetricResult:
    """``metric`` of ``step`` judged against the step's limit for it (if any)."""
    spec = step.METRICS[metric]
    limit = step.limits.get(metric)
    verdict, margin = evaluate(value, limit)
    return MetricResult(step=step.name, metric=metric, unit=spec.unit, value=float(value),
                        condition=dict(condition), limit=limit, verdict=verdict, margin=margin,
                        note=note)


def sweep_levels(
    generator: SignalGenerator, generator_dbm: np.ndarray, input_dbm: np.ndarray,
    settle_s: float, ctx: StepContext, fi: int,
    measure: Callable[[int], dict[str, Any]],
    at_top: Callable[[dict[str, np.ndarray]], None] | None = None,
) -> dict[str, np.ndarray]:
    """One frequency row: RF on, then for each drive level set it, settle, `measure(pi)`, write
    the point at (fi, pi) with the generator and DUT-input levels, advance progress; then
    `at_top(row)` with RF still on at the highest drive. RF off whatever happens; the points
    flushed when the row is done (the caller marks the row committed, `ctx.commit(row=fi)`,
    once everything it stores for the row is written). Returns the row's columns."""
    columns: dict[str, list[Any]] = {}
    row: dict[str, np.ndarray] = {}
    generator.set_power_dbm(float(generator_dbm[0]))
    generator.set_rf_output(True)
    try:
        for pi, level_dbm in enumerate(generator_dbm):
            generator.set_power_dbm(float(level_dbm))
            if settle_s:
                time.sleep(settle_s)
            point = measure(pi)
            point["generator_power_dbm"] = float(level_dbm)
            point["input_power_dbm"] = float(input_dbm[pi])
            for name, value in point.items():
                ctx.write(name, (fi, pi), value)
                columns.setdefault(name, []).append(value)
            ctx.point_done()
        row = {name: np.asarray(values, dtype=float) for name, values in columns.items()}
        if at_top is not None:
            at_top(row)
    finally:
        generator.set_rf_output(False)
    ctx.commit()
    return row


def resumable_row(ctx: StepContext, row: int, measure: Callable[[], dict[str, Any]]
                  ) -> dict[str, Any]:
    """Row ``row`` (the step's leading index) of a resumable step: its stored values when it
    was committed before an interruption (``benchbot run --resume``: not measured again), else
    ``measure()`` — which writes everything the step stores for the row and returns the same
    values — then committed. Either way the caller computes the row's metrics from what this
    returns, so a replayed row yields what a fresh one would."""
    stored = ctx.stored_row(row)
    if stored is not None:
        return stored
    values = measure()
    ctx.commit(row=row)
    return values


def tune_generator(step: Any, bench: BenchView, frequency_hz: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """RF off, the carrier frequency, the SOA ceiling at it; returns (generator setpoints,
    DUT-plane input powers) in dBm for the step's levels."""
    generator = bench.generator
    generator.set_rf_output(False)
    generator.set_frequency_hz(frequency_hz)
    set_generator_ceiling(generator, bench, frequency_hz)
    return drive_plan(step, bench.loss(ROLE_GENERATOR), frequency_hz)
