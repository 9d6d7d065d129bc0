"""What the transistor I-V measurements share: the kernel from the bench view, the datasets of
a kernel reading, writing one reading, and judging an extraction and its per-mm twin."""

from __future__ import annotations

import math
from typing import Any

from benchbot.analysis.iv import Extraction
from benchbot.limits import MetricResult
from benchbot.measurements.base import BenchView, StepContext
from benchbot.measurements.common import judge

#: dataset -> (unit, long name) of one kernel read-back (:class:`benchbot.bias.BiasReading`)
READING_DATASETS: dict[str, tuple[str, str]] = {
    "vgs_v": ("V", "gate-source voltage read back"),
    "vds_v": ("V", "drain-source voltage read back"),
    "ig_a": ("A", "gate current (into the gate)"),
    "id_a": ("A", "drain current (into the drain)"),
    "gate_in_compliance": ("1", "1 where the gate SMU was clamped at its current limit"),
    "drain_in_compliance": ("1", "1 where the drain SMU was clamped at its current limit"),
    "pdiss_w": ("W", "dissipated power |Vds·Id| + |Vgs·Ig|"),
    "tj_estimate_c": ("C", "steady-state junction estimate Tbase + Rth·Pdiss"),
}


def kernel(bench: BenchView) -> Any:
    """The bias safety kernel; a step that biases the transistor cannot run without it."""
    if bench.bias is None:
        raise RuntimeError("this step biases a transistor: the plan needs conditions.bias and "
                           "dut.safe_operating_area.transistor")
    return bench.bias


def reading_datasets(dims: tuple[str, ...]) -> dict[str, tuple[tuple[str, ...], str, str]]:
    return {name: (dims, unit, text) for name, (unit, text) in READING_DATASETS.items()}


def write_reading(ctx: StepContext, index: tuple[int, ...], reading: Any) -> None:
    """Store one kernel read-back at ``index`` and advance progress (an abort raises here)."""
    values = {"vgs_v": reading.vgs_v, "vds_v": reading.vds_v, "ig_a": reading.ig_a,
              "id_a": reading.id_a, "gate_in_compliance": float(reading.gate_in_compliance),
              "drain_in_compliance": float(reading.drain_in_compliance),
              "pdiss_w": reading.pdiss_w, "tj_estimate_c": reading.tj_c}
    for name, value in values.items():
        ctx.write(name, index, float(value))
    ctx.point_done()


def judge_extraction(step: Any, metric: str, extraction: Extraction,
                     condition: dict[str, float | str] | None = None) -> list[MetricResult]:
    """``metric`` from the extraction's value, and its per-mm twin (``<metric>_per_mm`` or
    ``_ohm_mm``) from the normalised value when the step's catalogue has one."""
    where = dict(condition or {})
    out = [judge(step, metric, extraction.value, extraction.method, where)]
    twin = (metric.replace("_ohm", "_ohm_mm") if metric.endswith("_ohm")
            else f"{metric}_per_mm")
    if twin in step.METRICS and (math.isfinite(extraction.per_mm) or twin in step.limits):
        out.append(judge(step, twin, extraction.per_mm, extraction.method, where))
    return out


def extraction_attrs(extractions: list[Extraction]) -> dict[str, Any]:
    """Step attributes naming every extracted figure, its value and method (HDF5-readable)."""
    attrs: dict[str, Any] = {}
    for e in extractions:
        attrs[f"extraction_{e.name}_value"] = float(e.value)
        attrs[f"extraction_{e.name}_unit"] = e.unit
        attrs[f"extraction_{e.name}_method"] = e.method
        if math.isfinite(e.per_mm):
            attrs[f"extraction_{e.name}_per_mm"] = float(e.per_mm)
            attrs[f"extraction_{e.name}_per_mm_unit"] = e.per_mm_unit
    return attrs
