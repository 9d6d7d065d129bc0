"""Pulsed I-V from several quiescent points through the bias kernel (reference §2.3).

For each quiescent point Q (the trap-free reference first, then the stress points) the kernel
biases the device at Q by the DC sequence and pulses gate and drain together to every (Vgs, Vds)
of the family; the traps charged at Q do not empty during a short pulse, so a stressed Q reads a
lower knee current (current collapse) and a higher on-resistance (dynamic Ron) than the
reference. Each family is stored as soon as it is read.

Resume unit (``benchbot run --resume``): one quiescent point (the row): its whole pulsed family
and the read-back at Q, committed together. A run interrupted inside the step keeps the families
committed before (the trap-free reference first of all: it was measured before any stress point)
and measures the interrupted quiescent point again whole: the kernel powers the device up to Q
through its checked sequence and the family is pulsed again from Q, so its traps are charged at Q
as in an uninterrupted run. Only the history before Q differs: traps filled at a harsher
previous quiescent point may have emptied during the interruption; with capture much faster than
emission (as in GaN) that can lower, never raise, the collapse read at Q against a run that went
straight through. Collapse and dynamic Ron are computed from the stored families exactly as in
an uninterrupted run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchbot.analysis import iv
from benchbot.limits import MetricResult
from benchbot.measurements.base import BenchView, StepContext
from benchbot.measurements.common import judge
from benchbot.measurements.hemt_common import extraction_attrs, kernel
from benchbot.plan_hemt import PulsedIvStep, QuiescentPoint, voltage_values

DIMS = ("quiescent_point", "gate_voltage_v", "drain_voltage_v")
_PULSE_DATASETS: dict[str, tuple[str, str]] = {
    "vgs_v": ("V", "in-pulse gate voltage read back"),
    "vds_v": ("V", "in-pulse drain voltage read back"),
    "ig_a": ("A", "in-pulse gate current"),
    "id_a": ("A", "in-pulse drain current"),
    "gate_in_compliance": ("1", "1 where the gate SMU was clamped at its limit in the pulse"),
    "drain_in_compliance": ("1", "1 where the drain SMU was clamped at its limit in the pulse"),
}
_Q_DATASETS: dict[str, tuple[str, str]] = {
    "quiescent_vgs_v": ("V", "gate voltage read back at Q after the family"),
    "quiescent_vds_v": ("V", "drain voltage read back at Q after the family"),
    "quiescent_id_a": ("A", "drain current at Q after the family"),
}


def declare(step: PulsedIvStep, bench: BenchView) -> tuple[dict, dict]:
    qs = step.quiescent_points()
    axes = {"quiescent_point": (np.arange(len(qs), dtype=float), "1"),
            "gate_voltage_v": (np.asarray(step.gate_voltages_v, float), "V"),
            "drain_voltage_v": (voltage_values(step.drain_voltage_v), "V")}
    datasets = {name: (DIMS, unit, text) for name, (unit, text) in _PULSE_DATASETS.items()}
    datasets.update({name: (DIMS[:1], unit, text) for name, (unit, text) in _Q_DATASETS.items()})
    return axes, datasets


def run(step: PulsedIvStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """One pulsed family per quiescent point, then collapse and dynamic Ron against the
    reference for every stress point (the worst is judged)."""
    k = kernel(bench)
    qs = step.quiescent_points()
    vgs_steps = np.asarray(step.gate_voltages_v, float)
    vds = voltage_values(step.drain_voltage_v)
    shape = (vgs_steps.size, vds.size)
    ctx.set_attrs({
        "quiescent_gate_voltage_v": np.array([q.gate_voltage_v for q in qs]),
        "quiescent_drain_voltage_v": np.array([q.drain_voltage_v for q in qs]),
        "pulse_width_s": step.pulse_width_s, "pulse_period_s": step.pulse_period_s,
        "aperture_s": step.aperture_s if step.aperture_s is not None else step.pulse_width_s / 2,
        "quiescent_point_0": "reference (trap-free)"})
    families = []
    for qi, q in enumerate(qs):
        stored = ctx.stored_row(qi)
        if stored is None:
            stored = _measure_family(step, k, ctx, qi, q, shape)
            ctx.commit(row=qi)
        for _ in range(len(step.pulse_grid())):  # progress (a kept family: progress only)
            ctx.point_done()
        families.append({name: stored[name] for name in _PULSE_DATASETS})
    if k.biased:
        k.power_down()
    return _evaluate(step, qs, vgs_steps, vds, families, bench.gate_width_mm, ctx)


def _measure_family(step: PulsedIvStep, k: Any, ctx: StepContext, qi: int, q: QuiescentPoint,
                    shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Quiescent point ``qi``'s pulsed family and the read-back at Q, stored; returns them as
    stored (float arrays over (gate, drain)), as `ctx.stored_row` would."""
    sweep = k.pulsed_sweep((q.gate_voltage_v, q.drain_voltage_v), step.pulse_grid(),
                           step.pulse_width_s, step.pulse_period_s, step.aperture_s,
                           step.drain_current_limit_a)
    raw = {"vgs_v": sweep.gate.voltage_v, "ig_a": sweep.gate.current_a,
           "gate_in_compliance": sweep.gate.in_compliance,
           "vds_v": sweep.drain.voltage_v, "id_a": sweep.drain.current_a,
           "drain_in_compliance": sweep.drain.in_compliance}
    family = {name: np.asarray(values, float).reshape(shape) for name, values in raw.items()}
    for name, values in family.items():
        ctx.write(name, (qi,), values)
    at_q = sweep.at_quiescent
    for name, value in (("quiescent_vgs_v", at_q.vgs_v), ("quiescent_vds_v", at_q.vds_v),
                        ("quiescent_id_a", at_q.id_a)):
        ctx.write(name, (qi,), float(value))
    return family


def _evaluate(step: PulsedIvStep, qs: list[QuiescentPoint], vgs_steps: np.ndarray, vds: np.ndarray,
              families: list[dict[str, np.ndarray]], width: float | None,
              ctx: StepContext) -> list[MetricResult]:
    ref = families[0]
    q_ref = _q_text(qs[0])
    collapses, ratios = [], []
    for q, fam in zip(qs[1:], families[1:], strict=True):
        common = dict(vgs_v=step.collapse_gate_voltage_v,
                      compliance_ref=ref["drain_in_compliance"].astype(bool),
                      compliance_stress=fam["drain_in_compliance"].astype(bool),
                      q_ref=q_ref, q_stress=_q_text(q))
        collapses.append(iv.current_collapse(vgs_steps, vds, ref["id_a"], fam["id_a"],
                                             knee_vds_v=step.knee_drain_voltage_v, **common))
        ratios.append(iv.dynamic_ron_ratio(vgs_steps, vds, ref["id_a"], fam["id_a"],
                                           gate_width_mm=width, **common))
    attrs: dict[str, object] = {}
    for i, (c, r) in enumerate(zip(collapses, ratios, strict=True), start=1):
        for e in (c, r):
            attrs.update({f"q{i}_{key}": value for key, value in extraction_attrs([e]).items()})
    ctx.set_attrs(attrs)
    return [_worst(step, "current_collapse_pct", collapses, qs),
            _worst(step, "dynamic_ron_ratio", ratios, qs)]


def _worst(step: PulsedIvStep, metric: str, found: list[iv.Extraction],
           qs: list[QuiescentPoint]) -> MetricResult:
    """The stress point with the highest value (NaN if any could not be extracted)."""
    values = np.array([e.value for e in found], float)
    i = int(np.nanargmax(values)) if np.isfinite(values).any() else 0
    value = float(values[i]) if np.isfinite(values).all() else float("nan")
    return judge(step, metric, value, found[i].method,
                 {"quiescent_point": _q_text(qs[i + 1])})


def _q_text(q: QuiescentPoint) -> str:
    return f"Q ({q.gate_voltage_v:g} V, {q.drain_voltage_v:g} V)"
