"""Figures of the GaN HEMT I-V steps of a run record: ``transfer_curve``, ``output_family``,
``leakage``, ``off_state_breakdown`` and ``pulsed_iv`` (reference §2.2, §2.3).

Each maker reads the step's datasets (:class:`benchbot.plots.data.StepData`: the kernel's
read-backs, NaN where a point was not reached) and its extraction attributes, and draws with the
record-free figure functions of :mod:`benchbot.plots.iv`; the title names the DUT and the step
and the footer the record (:func:`benchbot.plots.style.title`). Currents are per mm of gate width
when the record's DUT has one. The values drawn (Vth, gm,max, Ron, BV...) are the ones the step
stored and judged; only the max-gm tangent's anchor point is recomputed, by the same analysis
function, from the stored curve.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from benchbot.analysis import iv
from benchbot.plots import iv as iv_plots
from benchbot.plots.data import RecordData, StepData
from benchbot.plots.style import limit_label, title

KIND_TRANSFER = "transfer_curve"
KIND_OUTPUT = "output_family"
KIND_LEAKAGE = "leakage"
KIND_BREAKDOWN = "off_state_breakdown"
KIND_PULSED = "pulsed_iv"


# ----------------------------------------------------------------------------- helpers
def _width(record: RecordData) -> float | None:
    """The DUT's gate width in mm (None: figures per device)."""
    value = record.summary.dut.get("gate_width_mm")
    try:
        width = float(value)
    except (TypeError, ValueError):
        return None
    return width if math.isfinite(width) and width > 0 else None


def _array(step: StepData, name: str) -> np.ndarray | None:
    values = step.data.get(name)
    return None if values is None else np.asarray(values, float)


def _flags(step: StepData, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A 0/1 dataset as booleans; NaN (point not reached) is False, not True."""
    values = _array(step, name)
    if values is None:
        return np.zeros(shape, bool)
    return np.nan_to_num(values, nan=0.0).reshape(shape) > 0.5


def _attr(step: StepData, key: str) -> float:
    try:
        return float(step.summary.attrs.get(key, math.nan))
    except (TypeError, ValueError):
        return math.nan


def _reached(*arrays: np.ndarray) -> bool:
    return all(a is not None for a in arrays) and bool(np.isfinite(arrays[-1]).any())


def _finish(fig: Figure, record: RecordData, step: StepData, what: str, where: str) -> Figure:
    title(fig, record, step, what, where)
    return fig


def _setting(step: StepData, key: str, default: Any = None) -> Any:
    return step.settings.get(key, default)


# ----------------------------------------------------------------------------- transfer
def transfer_figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """``transfer``: Id and gm (linear, max-gm tangent) and log |Id|, |Ig| against Vgs."""
    vgs, i_d = _array(step, "vgs_v"), _array(step, "id_a")
    if vgs is None or i_d is None or not _reached(vgs, i_d):
        return []
    width = _width(record)
    comp = _flags(step, "drain_in_compliance", i_d.shape)
    ok = np.isfinite(vgs) & np.isfinite(i_d)
    vgs, i_d, comp = vgs[ok], i_d[ok], comp[ok]
    gm = _array(step, "gm_s")
    ig = _array(step, "ig_a")
    vds = _setting(step, "drain_voltage_v")
    peak = iv.gm_max(vgs, i_d, width, comp,
                     vgs_max_v=_setting(step, "gm_search_max_gate_voltage_v"))
    fig = iv_plots.transfer_figure(
        vgs, i_d, None if gm is None else gm[ok],
        vth_cc_v=_attr(step, "extraction_vth_cc_value"),
        vth_gm_v=_attr(step, "extraction_vth_gm_value"),
        vgs_at_gm_max_v=peak.at.get("vgs_at_gm_max_v", math.nan),
        id_at_gm_max_a=peak.at.get("id_at_gm_max_a", math.nan),
        gm_max_s=_attr(step, "extraction_gm_max_value"),
        criterion_a_per_mm=float(_setting(step, "vth_criterion_a_per_mm", 1e-3)),
        gate_width_mm=width, compliance=comp, ig_a=None if ig is None else ig[ok],
        vds_v=None if vds is None else float(vds))
    where = f"DC, Vds = {vds:g} V" if vds is not None else "DC"
    return [("transfer", _finish(fig, record, step, "Transfer characteristics Id-Vgs and gm",
                                 where))]


# ----------------------------------------------------------------------------- output family
def output_family_figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """``output_family``: Id-Vds per gate step (read-back Vds) with the Ron line."""
    vds, i_d = _array(step, "vds_v"), _array(step, "id_a")
    steps = step.axes.get("gate_voltage_v")
    if vds is None or i_d is None or steps is None or not _reached(vds, i_d):
        return []
    width = _width(record)
    comp = _flags(step, "drain_in_compliance", i_d.shape)
    ron = _attr(step, "extraction_ron_value")
    ron_vgs = _setting(step, "ron_gate_voltage_v")
    notes = ["DC, drain swept upward per gate step"]
    id_max = _attr(step, "extraction_id_max_value")
    if math.isfinite(id_max):
        notes.append(f"Id,max = {id_max * 1e3 / (width or 1.0):.0f} "
                     f"{'mA/mm' if width else 'mA'} (compliance excluded)")
    stopped = _array(step, "curve_stopped_by_compliance")
    if stopped is not None and np.nansum(stopped) > 0:
        notes.append(f"{int(np.nansum(stopped))} curve(s) ended at the drain compliance")
    fig = iv_plots.output_family_figure(
        vds, steps, i_d, gate_width_mm=width, compliance=comp, ron_ohm=ron,
        ron_vgs_v=None if ron_vgs is None else float(ron_vgs), notes=notes)
    return [("output_family", _finish(fig, record, step, "Output characteristics Id-Vds",
                                      "DC"))]


# ----------------------------------------------------------------------------- leakage
def _leakage_limits(step: StepData, width: float | None) -> list[tuple[float, str]]:
    """Maximum limits of the leakage metrics as (A per device, label in the plotted unit:
    mA/mm with a gate width, else mA); equal limits of Ig and Id share one line."""
    per_unit, unit = (1e3 / width, "mA/mm") if width else (1e3, "mA")
    found: dict[float, tuple[list[str], str]] = {}
    for metric, name in (("gate_leakage_a", "|Ig|"), ("drain_leakage_a", "|Id|")):
        for key, scale in ((metric, 1.0), (f"{metric}_per_mm", width)):
            _, hi, source = step.limit(key)
            if hi is not None and scale:
                names, _ = found.setdefault(hi * scale, ([], source))
                names.append(name)
    return [(value_a, limit_label(", ".join(names) + " ≤", value_a * per_unit, unit, source))
            for value_a, (names, source) in found.items()]


def leakage_figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """``leakage``: log |Ig|, |Id|, |Is| against Vds at the pinched-off gate, with limits."""
    vds, ig, i_d = _array(step, "vds_v"), _array(step, "ig_a"), _array(step, "id_a")
    if vds is None or ig is None or i_d is None or not _reached(vds, i_d):
        return []
    width = _width(record)
    vgs = _setting(step, "gate_voltage_v")
    fig = iv_plots.leakage_figure(
        vds, ig, i_d, vgs_v=None if vgs is None else float(vgs), gate_width_mm=width,
        gate_compliance=_flags(step, "gate_in_compliance", ig.shape),
        drain_compliance=_flags(step, "drain_in_compliance", i_d.shape),
        limit_lines=_leakage_limits(step, width), notes=["DC, drain swept upward"])
    where = f"DC, Vgs = {vgs:g} V" if vgs is not None else "DC"
    return [("leakage", _finish(fig, record, step, "Off-state gate and drain leakage", where))]


# ----------------------------------------------------------------------------- breakdown
def breakdown_figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """``breakdown``: log |Id|, |Ig| against Vds with the criterion, compliance stop and BV."""
    vds, i_d = _array(step, "vds_v"), _array(step, "id_a")
    if vds is None or i_d is None or not _reached(vds, i_d):
        return []
    width = _width(record)
    vgs = _setting(step, "gate_voltage_v")
    bv = _attr(step, "extraction_bv_value")
    lo, hi = _attr(step, "extraction_bv_bv_above_v"), _attr(step, "extraction_bv_bv_at_most_v")
    bv_min, _, _ = step.limit("breakdown_voltage_v")
    limit_a = _setting(step, "drain_current_limit_a")
    stop = step.summary.attrs.get("stopped_by_compliance")
    ended = ("sweep ended at the compliance stop" if stop in (True, 1, "true", "True")
             else "sweep ran to its last voltage")
    fig = iv_plots.breakdown_figure(
        vds, i_d, _array(step, "ig_a"), vgs_v=None if vgs is None else float(vgs),
        gate_width_mm=width,
        criterion_a_per_mm=float(_setting(step, "criterion_a_per_mm", 1e-3)), bv_v=bv,
        compliance=_flags(step, "drain_in_compliance", i_d.shape),
        current_limit_a=None if limit_a is None else float(limit_a), bv_min_v=bv_min,
        bv_bracket_v=(lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None,
        notes=[f"DC, {ended}"])
    where = f"BV = {bv:.1f} V" if math.isfinite(bv) else "BV not determined"
    return [("breakdown", _finish(fig, record, step, "Off-state breakdown", where))]


# ----------------------------------------------------------------------------- pulsed I-V
def _q_labels(step: StepData, n: int) -> list[str]:
    """"Q (Vgs V, Vds V)" of each quiescent point, from the step attributes (else settings)."""
    gates = step.summary.attrs.get("quiescent_gate_voltage_v")
    drains = step.summary.attrs.get("quiescent_drain_voltage_v")
    if gates is None or drains is None:
        qs = [_setting(step, "reference") or {"gate_voltage_v": 0.0, "drain_voltage_v": 0.0},
              *(_setting(step, "stress_points") or [])]
        gates = [q.get("gate_voltage_v", math.nan) for q in qs]
        drains = [q.get("drain_voltage_v", math.nan) for q in qs]
    gates, drains = np.atleast_1d(gates), np.atleast_1d(drains)
    return [f"Q ({float(gates[i]):g} V, {float(drains[i]):g} V)" if i < min(gates.size,
            drains.size) else f"Q #{i}" for i in range(n)]


def _worst_metric(step: StepData, metric: str) -> float | None:
    for row in step.metrics(metric):
        if row.metric == metric:
            return row.value
    return None


def pulsed_iv_figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """``pulsed_iv``: the pulsed families of every quiescent point overlaid, with the knee."""
    i_d = _array(step, "id_a")
    steps = step.axes.get("gate_voltage_v")
    vds = step.axes.get("drain_voltage_v")
    if i_d is None or steps is None or vds is None or i_d.ndim != 3 or not _reached(i_d):
        return []
    comp = _flags(step, "drain_in_compliance", i_d.shape)
    labels = _q_labels(step, i_d.shape[0])
    measured = [q for q in range(i_d.shape[0]) if np.isfinite(i_d[q]).any()]
    families = {labels[q]: i_d[q] for q in measured}
    compliance = {labels[q]: comp[q] for q in measured}
    knee = _setting(step, "knee_drain_voltage_v")
    fig = iv_plots.pulsed_iv_figure(
        vds, steps, families, compliance=compliance, gate_width_mm=_width(record),
        knee_vds_v=None if knee is None else float(knee),
        collapse_pct=_worst_metric(step, "current_collapse_pct"),
        dynamic_ron_ratio=_worst_metric(step, "dynamic_ron_ratio"))
    width_s, period_s = _setting(step, "pulse_width_s"), _setting(step, "pulse_period_s")
    where = "pulsed"
    if width_s and period_s:  # short: the title line also names the DUT and the step
        where = (f"{float(width_s) * 1e6:g} µs pulses, "
                 f"{float(width_s) / float(period_s) * 100:.2g} % duty")
    return [("pulsed_iv", _finish(fig, record, step, "Pulsed I-V from quiescent points "
                                  "(gate and drain pulsed together)", where))]
