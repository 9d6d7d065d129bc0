"""Off-state gate and drain leakage through the bias kernel (reference §2.2): the gate held
pinched off, the drain swept upward, |Ig| and |Id| judged at the highest drain voltage.

A drain compliance here is a fault (the kernel powers down and the step ends in error: an
off-state drain at its current limit is breaking down, not leaking). A gate reading clamped at
its limit is stored but gives no leakage figure (NaN: the leakage is at least the limit).

Resume unit (``benchbot run --resume``): the whole sweep, one acquisition (no row is committed
before it ends). A run interrupted during the sweep measures it again from its first drain
voltage on resume: the leakage at the top may depend on how the drain got there (the off-state
trapping charged along the ramp), so the figure always comes from one whole ramp."""

from __future__ import annotations

import math

import numpy as np

from benchbot.analysis import iv
from benchbot.limits import MetricResult
from benchbot.measurements.base import BenchView, StepContext
from benchbot.measurements.hemt_common import (
    extraction_attrs,
    judge_extraction,
    kernel,
    reading_datasets,
    write_reading,
)
from benchbot.plan_hemt import LeakageStep, voltage_values

DIMS = ("drain_voltage_v",)


def declare(step: LeakageStep, bench: BenchView) -> tuple[dict, dict]:
    axes = {"drain_voltage_v": (voltage_values(step.drain_voltage_v), "V")}
    return axes, reading_datasets(DIMS)


def run(step: LeakageStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """Sweep the drain at the pinched-off gate, store, power down, extract and judge."""
    k = kernel(bench)
    ctx.set_attrs({"gate_voltage_v": step.gate_voltage_v})
    sweep = k.sweep_drain(step.gate_voltage_v, voltage_values(step.drain_voltage_v),
                          drain_current_limit_a=step.drain_current_limit_a,
                          on_point=lambda i, r: write_reading(ctx, (i,), r))
    ctx.commit()
    k.power_down()  # the device rests unbiased; the figures are computed off-bias
    width = bench.gate_width_mm
    found = {
        "gate_leakage_a": at_highest_drain("gate_leakage", step.gate_voltage_v, sweep.vds_v,
                                           sweep.ig_a, sweep.gate_in_compliance, width),
        "drain_leakage_a": at_highest_drain("drain_leakage", step.gate_voltage_v, sweep.vds_v,
                                            sweep.id_a, sweep.drain_in_compliance, width),
    }
    ctx.set_attrs(extraction_attrs(list(found.values())))
    ctx.commit()
    vds_max = float(voltage_values(step.drain_voltage_v)[-1])
    where = {"gate_voltage_v": step.gate_voltage_v, "drain_voltage_v": vds_max}
    results: list[MetricResult] = []
    for metric, extraction in found.items():
        results += judge_extraction(step, metric, extraction, where)
    return [r for r in results if r.limit is not None or np.isfinite(r.value)]


def at_highest_drain(name: str, vgs_v: float, vds_v: np.ndarray, i_a: np.ndarray,
                     compliance: np.ndarray, gate_width_mm: float | None) -> iv.Extraction:
    """|I| at the highest drain voltage reached (read back); NaN if that point is clamped."""
    terminal = "Ig" if name == "gate_leakage" else "Id"
    vds, cur = np.asarray(vds_v, float), np.asarray(i_a, float)
    if vds.size == 0:
        return iv.Extraction(name, math.nan, "A", f"|{terminal}|: no point measured",
                             per_mm_unit="A/mm")
    k = int(vds.size - 1)  # the sweep rises: the last point is the highest drain voltage
    method = (f"|{terminal}| at Vgs = {vgs_v:g} V, highest drain voltage of the step "
              f"(Vds read back {vds[k]:.4g} V)")
    at = {"vgs_v": float(vgs_v), "vds_v": float(vds[k])}
    if bool(np.asarray(compliance, bool)[k]):
        return iv.Extraction(name, math.nan, "A", method + "; the SMU was clamped at its "
                             "current limit there (leakage at least the limit)",
                             per_mm_unit="A/mm", at=at)
    value = abs(float(cur[k]))
    per_mm = value / gate_width_mm if gate_width_mm else math.nan
    return iv.Extraction(name, value, "A", method, per_mm, "A/mm", at)
