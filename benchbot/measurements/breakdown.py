"""Off-state breakdown BVds through the bias kernel (reference §2.2): the gate pinched off, the
drain swept upward with a low drain compliance as the stop, BV where Id first reaches the
criterion (1 mA/mm by default).

The compliance (``drain_current_limit_a``, set a little above the criterion) ends the sweep: the
kernel powers down at once, so the device never carries more than the limit. Points after the
stop are not measured and stay NaN in the record. If the sweep hit the compliance before a
measured point reached the criterion, BV is NaN and the step attributes bracket it.

Resume unit (``benchbot run --resume``): the whole sweep, one acquisition (no row is committed
before it ends). A run interrupted during the sweep runs it again from its first drain voltage
on resume: BV comes from one uninterrupted ramp, never from two half-ramps. On a real device that
is a second off-state stress: the device was already driven towards breakdown, up to wherever
the interruption (and the watchdog's power-down) caught it, and soft breakdown and trapping
leave it changed (a shifted leakage onset; after a hard event, a damaged die), so the repeated
BV is that of a stressed device and may read low. Every sweep start is recorded as an event
naming that stress, and a sweep restarted after an interruption in it adds a warning saying it
was repeated, so the record (and the report's deviations) show the device saw it twice."""

from __future__ import annotations

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
from benchbot.plan_hemt import BreakdownStep, voltage_values

DIMS = ("drain_voltage_v",)
NOT_REACHED = "; NaN where not reached (the sweep ended at the drain compliance stop)"


def declare(step: BreakdownStep, bench: BenchView) -> tuple[dict, dict]:
    axes = {"drain_voltage_v": (voltage_values(step.drain_voltage_v), "V")}
    datasets = {name: (dims, unit, text + NOT_REACHED)
                for name, (dims, unit, text) in reading_datasets(DIMS).items()}
    return axes, datasets


def run(step: BreakdownStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """Sweep until the compliance stop or the last voltage, store, extract BV, judge."""
    k = kernel(bench)
    vds = voltage_values(step.drain_voltage_v)
    width = bench.gate_width_mm
    criterion_a = step.criterion_a_per_mm * (width if width else 1.0)
    ctx.set_attrs({"gate_voltage_v": step.gate_voltage_v,
                   "criterion_a_per_mm": step.criterion_a_per_mm,
                   "criterion_a": criterion_a,
                   "drain_current_limit_a": step.drain_current_limit_a})
    ctx.log("info", stress_note(step, vds))
    if ctx.restarted:
        ctx.log("warning", f"off-state breakdown sweep {step.name!r} REPEATED after an "
                "interruption in it: the device already saw this stress up to where the "
                "interruption caught it; this BV is that of a stressed device and may read low")
    sweep = k.sweep_drain(step.gate_voltage_v, vds, compliance_stops=True,
                          drain_current_limit_a=step.drain_current_limit_a,
                          off_state_test=True,
                          on_point=lambda i, r: write_reading(ctx, (i,), r))
    n = sweep.id_a.size
    for _ in range(vds.size - n):  # the points the stop skipped: progress only
        ctx.point_done()
    ctx.set_attrs({"stopped_by_compliance": bool(sweep.stopped_by_compliance),
                   "points_measured": n,
                   "last_drain_voltage_v": float(vds[n - 1]) if n else float("nan")})
    ctx.commit()
    if k.biased:  # the off-state test powers down at its end or at the stop already
        k.power_down()
    bv = iv.breakdown_voltage(sweep.vds_v, sweep.id_a, width, step.criterion_a_per_mm,
                              step.gate_voltage_v, sweep.drain_in_compliance)
    if sweep.stopped_by_compliance:
        bv = iv.Extraction(bv.name, bv.value, bv.unit, bv.method + "; sweep ended by the "
                           f"{step.drain_current_limit_a:g} A compliance stop", bv.per_mm,
                           bv.per_mm_unit, bv.at)
    attrs = extraction_attrs([bv])
    attrs.update({f"extraction_bv_{key}": float(value) for key, value in bv.at.items()
                  if key.startswith("bv_")})  # the bracket when BV itself is NaN
    ctx.set_attrs(attrs)
    ctx.commit()
    where = {"gate_voltage_v": step.gate_voltage_v}
    return judge_extraction(step, "breakdown_voltage_v", bv, where)


def stress_note(step: BreakdownStep, vds: np.ndarray) -> str:
    """The event recorded as the sweep starts: the stress the device is about to see."""
    return (f"off-state breakdown sweep {step.name!r} started: gate {step.gate_voltage_v:g} V, "
            f"drain {float(vds[0]):g} V up to {float(vds[-1]):g} V, stop at "
            f"{step.drain_current_limit_a:g} A; a stress of the device (a resume after an "
            "interruption in this step runs the whole sweep again: a second stress)")
