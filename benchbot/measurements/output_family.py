"""Output family Id-Vds over gate steps through the bias kernel (reference §2.2): Ron at
Vds -> 0 and the highest drain current of the family.

Each gate step is one kernel drain sweep upward from the first drain voltage; between steps the
kernel moves the bias itself (the drain ramps back down before the gate steps up). A curve that
runs into the drain compliance ends there (the kernel powers down; the rest of that curve stays
NaN in the record) and the family goes on with the next gate step: the compliance is a limit of
the set-up, not a device fault. Every point is stored as it is read.

Resume unit (``benchbot run --resume``): one gate step's drain curve (the row). A curve is
committed once all of it is stored; a run interrupted inside the family keeps the curves
committed before and measures the interrupted curve again from its first drain voltage (never
from mid-curve: the self-heating and trapping history of the points before would differ), the
kernel powering the device up again through its checked sequence. Ron and Id,max are then
computed from the stored curves exactly as in an uninterrupted run."""

from __future__ import annotations

import math
from typing import Any

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
from benchbot.plan_hemt import OutputFamilyStep, voltage_values

DIMS = ("gate_voltage_v", "drain_voltage_v")
NOT_REACHED = "; NaN where not reached (the curve ended at the drain compliance)"


def declare(step: OutputFamilyStep, bench: BenchView) -> tuple[dict, dict]:
    axes = {"gate_voltage_v": (np.asarray(step.gate_voltages_v, float), "V"),
            "drain_voltage_v": (voltage_values(step.drain_voltage_v), "V")}
    datasets = {name: (dims, unit, text + NOT_REACHED)
                for name, (dims, unit, text) in reading_datasets(DIMS).items()}
    datasets["curve_stopped_by_compliance"] = (
        DIMS[:1], "1", "1 where this gate step's drain sweep ended early at the drain "
        "compliance")
    return axes, datasets


def run(step: OutputFamilyStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """One drain sweep per gate step, stored point by point and committed per curve (a curve
    committed before an interruption is kept, not measured again); then Ron and Id,max
    off-bias from the stored curves."""
    k = kernel(bench)
    vds = voltage_values(step.drain_voltage_v)
    curves = []
    for gi, vgs in enumerate(step.gate_voltages_v):
        curve = ctx.stored_row(gi)
        if curve is None:
            curve = _measure_curve(step, k, ctx, gi, float(vgs), vds)
            ctx.commit(row=gi)
        else:
            for _ in range(vds.size):  # kept from before the interruption: progress only
                ctx.point_done()
        curves.append(curve)
    if k.biased:  # a last curve ended by its compliance stop is powered down already
        k.power_down()  # the device rests unbiased; the figures are computed off-bias
    vds_read = np.stack([c["vds_v"] for c in curves])
    id_read = np.stack([c["id_a"] for c in curves])
    comp = np.stack([c["drain_in_compliance"] for c in curves]) == 1.0  # NaN: not reached
    width = bench.gate_width_mm
    found = {"ron_ohm": _ron(step, vds_read, id_read, comp, width),
             "id_max_a": _id_max(step, vds_read, id_read, comp, width)}
    ctx.set_attrs(extraction_attrs(list(found.values())))
    ctx.commit()
    results: list[MetricResult] = []
    for metric, extraction in found.items():
        where = {"gate_voltage_v": step.ron_gate_voltage_v} if metric == "ron_ohm" else {}
        results += judge_extraction(step, metric, extraction, where)
    return [r for r in results if r.limit is not None or np.isfinite(r.value)]


def _measure_curve(step: OutputFamilyStep, k: Any, ctx: StepContext, gi: int, vgs: float,
                   vds: np.ndarray) -> dict[str, np.ndarray]:
    """Gate step ``gi``'s drain sweep, every point stored as it is read; returns the curve as
    stored (NaN where the compliance stop left it unreached), as `ctx.stored_row` would."""
    def on_point(i: int, r: object) -> None:
        write_reading(ctx, (gi, i), r)
    sweep = k.sweep_drain(vgs, vds, compliance_stops=True, on_point=on_point,
                          drain_current_limit_a=step.drain_current_limit_a)
    n = sweep.id_a.size
    curve = {name: np.full(vds.size, np.nan) for name in ("vds_v", "id_a", "drain_in_compliance")}
    curve["vds_v"][:n] = sweep.vds_v
    curve["id_a"][:n] = sweep.id_a
    curve["drain_in_compliance"][:n] = sweep.drain_in_compliance
    ctx.write("curve_stopped_by_compliance", (gi,), float(sweep.stopped_by_compliance))
    for _ in range(vds.size - n):  # points the compliance stop skipped: progress only
        ctx.point_done()
    return curve


def _ron(step: OutputFamilyStep, vds: np.ndarray, i_d: np.ndarray, comp: np.ndarray,
         width: float | None) -> iv.Extraction:
    """Ron from the curve at ``ron_gate_voltage_v`` (NaN, said why, if that is no gate step)."""
    steps = np.asarray(step.gate_voltages_v, float)
    rows = np.nonzero(np.isclose(steps, step.ron_gate_voltage_v, atol=1e-9))[0]
    if rows.size == 0:
        return iv.Extraction("ron", math.nan, "Ω", f"Ron at Vgs = {step.ron_gate_voltage_v:g} V: "
                             "not one of the gate steps", per_mm_unit="Ω·mm")
    row = int(rows[0])
    return iv.on_resistance(vds[row], i_d[row], width, vgs_v=float(steps[row]),
                            compliance=comp[row])


def _id_max(step: OutputFamilyStep, vds: np.ndarray, i_d: np.ndarray, comp: np.ndarray,
            width: float | None) -> iv.Extraction:
    """Highest measured Id of the family, compliance points excluded (they read the limit)."""
    usable = np.isfinite(i_d) & ~comp
    n_flag = int(comp.sum())
    note = f"; {n_flag} point(s) in compliance excluded" if n_flag else ""
    method = f"highest Id over the family ({int(usable.sum())} points){note}"
    if not usable.any():
        return iv.Extraction("id_max", math.nan, "A", method + "; no usable point",
                             per_mm_unit="A/mm")
    flat = int(np.argmax(np.where(usable, i_d, -np.inf)))
    gi, vi = np.unravel_index(flat, i_d.shape)
    value = float(i_d[gi, vi])
    at = {"vgs_v": float(step.gate_voltages_v[gi]), "vds_v": float(vds[gi, vi])}
    method += f", at Vgs = {at['vgs_v']:g} V, Vds = {at['vds_v']:.3g} V"
    per_mm = value / width if width else math.nan
    return iv.Extraction("id_max", value, "A", method, per_mm, "A/mm", at)
