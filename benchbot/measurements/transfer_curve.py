"""Transfer curve Id-Vgs at fixed Vds through the bias kernel (reference §2.2): gm by a
Savitzky-Golay derivative, Vth by constant current and by max-gm extrapolation, Idss, the
subthreshold swing. The gate is swept upward from pinch-off, each point stored as it is read.

Resume unit (``benchbot run --resume``): the whole curve, one acquisition (no row is committed
before it ends). A run interrupted during the sweep measures the whole curve again from
pinch-off on resume: gm is a derivative along the curve and Vth, Idss and the swing are read
off it, so they always come from one continuous sweep, never from two joined."""

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
from benchbot.plan_hemt import TransferCurveStep, voltage_values

DIMS = ("gate_voltage_v",)


def declare(step: TransferCurveStep, bench: BenchView) -> tuple[dict, dict]:
    axes = {"gate_voltage_v": (voltage_values(step.gate_voltage_v), "V")}
    datasets = reading_datasets(DIMS)
    datasets["gm_s"] = (DIMS, "S", "transconductance dId/dVgs (Savitzky-Golay derivative)")
    return axes, datasets


def run(step: TransferCurveStep, bench: BenchView, ctx: StepContext) -> list[MetricResult]:
    """Sweep, store, extract, judge; the sweep's readings are kept whatever happens after."""
    k = kernel(bench)
    sweep = k.sweep_gate(step.drain_voltage_v, voltage_values(step.gate_voltage_v),
                         drain_current_limit_a=step.drain_current_limit_a,
                         on_point=lambda i, r: write_reading(ctx, (i,), r))
    ctx.commit()
    k.power_down()  # the device rests unbiased; the figures are computed off-bias
    vgs, i_d, comp = sweep.vgs_v, sweep.id_a, sweep.drain_in_compliance
    curve = iv.transconductance(vgs, i_d, comp)
    for i, value in enumerate(curve.gm_s):
        ctx.write("gm_s", (i,), float(value))
    width = bench.gate_width_mm
    gm_below = step.gm_search_max_gate_voltage_v
    found = {
        "vth_constant_current_v": iv.vth_constant_current(
            vgs, i_d, width, step.vth_criterion_a_per_mm, comp),
        "vth_max_gm_v": iv.vth_max_gm(vgs, i_d, width, comp, vgs_max_v=gm_below),
        "gm_max_s": iv.gm_max(vgs, i_d, width, comp, vgs_max_v=gm_below),
        "idss_a": iv.idss(vgs, i_d, width, step.drain_voltage_v, comp),
        "subthreshold_swing_mv_per_decade": iv.subthreshold_swing(
            vgs, i_d, width, compliance=comp),
    }
    ctx.set_attrs(extraction_attrs(list(found.values())))
    ctx.commit()
    where = {"drain_voltage_v": step.drain_voltage_v}
    results: list[MetricResult] = []
    for metric, extraction in found.items():
        results += judge_extraction(step, metric, extraction, where)
    return [r for r in results if r.limit is not None or np.isfinite(r.value)]
