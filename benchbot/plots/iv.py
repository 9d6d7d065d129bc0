"""Device-engineer I-V figures of a GaN HEMT from plain arrays (no record needed).

- output family: Id-Vds, one curve per Vgs step (viridis from pinch-off to open channel);
- transfer: Id and gm against Vgs on linear axes with the max-gm tangent drawn to its Vth
  intercept, next to log |Id| (and |Ig|) with the constant-current criterion and its Vth;
- pulsed I-V: the families from several quiescent points overlaid, one colour per Vgs and one
  line style per Q point, with the knee where the current collapse is read.

Currents are in mA, or mA/mm (gm in mS/mm) when a gate width is given; points flagged in
compliance are drawn as red crosses (the SMU read its limit there, the extraction excluded them).
Definitions: rf-measurements-and-scpi.md §2.2, §2.3.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from benchbot.plots.style import legend_outside, new_figure

COMPLIANCE_STYLE = {"marker": "x", "color": "tab:red", "linestyle": "none", "markersize": 6,
                    "markeredgewidth": 1.6, "zorder": 5}
MARKER_STYLE = {"color": "0.25", "linestyle": ":", "linewidth": 1.2}
KNEE_STYLE = {"color": "0.55", "linestyle": "-", "linewidth": 3.0, "alpha": 0.45}
Q_LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))


def _scale(gate_width_mm: float | None) -> tuple[float, str]:
    """Factor from A to the plotted unit, and the unit (mA or mA/mm)."""
    if gate_width_mm:
        return 1e3 / gate_width_mm, "mA/mm"
    return 1e3, "mA"


def _family(vds_v: ArrayLike, vgs_steps_v: ArrayLike, id_a: ArrayLike
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vds (n_vgs × n_vds), Vgs steps and Id (n_vgs × n_vds) of a family."""
    ids = np.atleast_2d(np.asarray(id_a, float))
    steps = np.atleast_1d(np.asarray(vgs_steps_v, float))
    vds = np.asarray(vds_v, float)
    vds = np.broadcast_to(vds if vds.ndim == 2 else vds[None, :], ids.shape)
    if steps.size != ids.shape[0]:
        raise ValueError(f"{steps.size} Vgs steps for {ids.shape[0]} curves")
    return vds, steps, ids


def _mask(compliance: ArrayLike | None, shape: tuple[int, ...]) -> np.ndarray:
    if compliance is None:
        return np.zeros(shape, bool)
    return np.asarray(compliance, bool).reshape(shape)


def _vgs_colors(n: int) -> list[tuple[float, float, float, float]]:
    cmap = colormaps["viridis"]
    return [cmap(0.9 * k / max(n - 1, 1)) for k in range(n)]


def _title(fig: Figure, title: str, subtitle: str) -> None:
    fig.suptitle(f"{title}\n{subtitle}" if subtitle else title, fontsize=11,
                 fontweight="bold")


def _mark_compliance(ax: Axes, x: np.ndarray, y: np.ndarray, flags: np.ndarray,
                     labelled: bool) -> bool:
    """Red crosses at compliance points; returns whether the legend entry now exists."""
    if flags.any():
        ax.plot(x[flags], y[flags], label=None if labelled else "in compliance (excluded)",
                **COMPLIANCE_STYLE)
        return True
    return labelled


def output_family_figure(vds_v: ArrayLike, vgs_steps_v: ArrayLike, id_a: ArrayLike, *,
                         gate_width_mm: float | None = None,
                         compliance: ArrayLike | None = None,
                         title: str = "Output characteristics Id-Vds",
                         subtitle: str = "") -> Figure:
    """Id-Vds, one curve per Vgs step; `id_a` and `compliance` are n_vgs × n_vds, `vds_v`
    shared (n_vds) or per curve."""
    vds, steps, ids = _family(vds_v, vgs_steps_v, id_a)
    flags = _mask(compliance, ids.shape)
    k, unit = _scale(gate_width_mm)
    fig, (ax,) = new_figure()
    labelled = False
    handles: list[object] = []
    for row, color in zip(range(steps.size), _vgs_colors(steps.size), strict=True):
        ok = ~flags[row]
        handles += ax.plot(vds[row][ok], ids[row][ok] * k, color=color, marker=".",
                           markersize=3, linewidth=1.4, label=f"Vgs = {steps[row]:+g} V")
        labelled = _mark_compliance(ax, vds[row], ids[row] * k, flags[row], labelled)
    handles.reverse()  # legend top-down like the curves: most open channel first
    handles += [h for h in ax.get_lines() if str(h.get_label()).startswith("in compl")]
    ax.set_xlabel("Vds (V)")
    ax.set_ylabel(f"Id ({unit})")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    _title(fig, title, subtitle)
    width = f"Wg = {gate_width_mm:g} mm" if gate_width_mm else ""
    legend_outside(fig, handles, [str(h.get_label()) for h in handles], ax=ax, caption=width)
    return fig


def transfer_figure(vgs_v: ArrayLike, id_a: ArrayLike, gm_s: ArrayLike | None = None, *,
                    vth_cc_v: float = math.nan, vth_gm_v: float = math.nan,
                    vgs_at_gm_max_v: float = math.nan, id_at_gm_max_a: float = math.nan,
                    gm_max_s: float = math.nan, criterion_a_per_mm: float = 1e-3,
                    gate_width_mm: float | None = None, compliance: ArrayLike | None = None,
                    ig_a: ArrayLike | None = None, vds_v: float | None = None,
                    title: str = "Transfer characteristics Id-Vgs and gm",
                    subtitle: str = "") -> Figure:
    """Left: Id and gm (right axis) on linear scales, the max-gm tangent extrapolated to its
    Vth; right: log |Id| (and |Ig|) with the constant-current criterion and its Vth."""
    vgs = np.asarray(vgs_v, float)
    i_d = np.asarray(id_a, float)
    flags = _mask(compliance, i_d.shape)
    ok = ~flags
    k, unit = _scale(gate_width_mm)
    gm_unit = "mS/mm" if gate_width_mm else "mS"
    fig, (ax_lin, ax_log) = new_figure(11.0, 5.0, ncols=2)
    at_vds = f" at Vds = {vds_v:g} V" if vds_v is not None else ""
    ax_lin.plot(vgs[ok], i_d[ok] * k, color="#0072B2", marker=".", markersize=3,
                label=f"Id{at_vds}")
    labelled = _mark_compliance(ax_lin, vgs, i_d * k, flags, False)
    ax_lin.set_xlabel("Vgs (V)")
    ax_lin.set_ylabel(f"Id ({unit})", color="#0072B2")
    ax_gm = ax_lin.twinx()
    handles, labels = ax_lin.get_legend_handles_labels()
    if gm_s is not None:
        gm = np.asarray(gm_s, float)
        (line,) = ax_gm.plot(vgs[ok], gm[ok] * k, color="#D55E00", linewidth=1.4,
                             label="gm (Savitzky-Golay)")
        handles.append(line)
        labels.append(line.get_label())
        ax_gm.set_ylabel(f"gm ({gm_unit})", color="#D55E00")
        ax_gm.set_ylim(bottom=0.0)
    if all(math.isfinite(v) for v in (vth_gm_v, vgs_at_gm_max_v, id_at_gm_max_a)):
        xs = np.array([vth_gm_v, vgs_at_gm_max_v + 0.3 * (vgs_at_gm_max_v - vth_gm_v)])
        (tangent,) = ax_lin.plot(xs, (xs - vth_gm_v) * (id_at_gm_max_a * k)
                                 / (vgs_at_gm_max_v - vth_gm_v), color="0.3", linestyle="--",
                                 linewidth=1.1, label=f"max-gm tangent: Vth = {vth_gm_v:.3f} V")
        (dot,) = ax_lin.plot([vgs_at_gm_max_v], [id_at_gm_max_a * k], "o", color="0.3",
                             markersize=5, label=f"gm,max = {gm_max_s * k:.0f} {gm_unit}"
                             if math.isfinite(gm_max_s) else "gm,max point")
        ax_lin.axvline(vth_gm_v, **MARKER_STYLE)
        handles += [tangent, dot]
        labels += [tangent.get_label(), dot.get_label()]
    ax_lin.axhline(0.0, color="0.5", linewidth=0.8)
    ax_lin.set_title("linear: Id, gm and max-gm extrapolation", fontsize=9)

    mag = np.abs(i_d)
    pos = ok & (mag > 0)
    ax_log.semilogy(vgs[pos], mag[pos] * k, color="#0072B2", marker=".", markersize=3,
                    label=f"|Id|{at_vds}")
    _mark_compliance(ax_log, vgs, mag * k, flags & (mag > 0), labelled)
    if ig_a is not None:
        ig = np.abs(np.asarray(ig_a, float))
        sel = ig > 0
        ax_log.semilogy(vgs[sel], ig[sel] * k, color="#009E73", linestyle="-.", linewidth=1.2,
                        label="|Ig|")
    crit = criterion_a_per_mm * 1e3  # mA/mm, or mA per device when no width is given
    crit_unit = unit if gate_width_mm else "mA"
    ax_log.axhline(crit, color="tab:purple", linestyle="--", linewidth=1.1,
                   label=f"criterion {criterion_a_per_mm * 1e3:g} mA/mm"
                   + ("" if gate_width_mm else " (Wg unknown: per device)"))
    if math.isfinite(vth_cc_v):
        ax_log.axvline(vth_cc_v, **MARKER_STYLE)
        ax_log.plot([vth_cc_v], [crit], "D", color="tab:purple", markersize=5,
                    label=f"Vth (constant current) = {vth_cc_v:.3f} V")
    ax_log.set_xlabel("Vgs (V)")
    ax_log.set_ylabel(f"|I| ({crit_unit})")
    ax_log.set_title("log: subthreshold, leakage and constant-current Vth", fontsize=9)
    _title(fig, title, subtitle)
    h2, l2 = ax_log.get_legend_handles_labels()
    width = f"Wg = {gate_width_mm:g} mm" if gate_width_mm else ""
    legend_outside(fig, handles + h2, labels + l2, ax=ax_log, caption=width)
    return fig


def pulsed_iv_figure(vds_v: ArrayLike, vgs_steps_v: ArrayLike,
                     families: Mapping[str, ArrayLike], *,
                     compliance: Mapping[str, ArrayLike] | None = None,
                     gate_width_mm: float | None = None, knee_vds_v: float | None = None,
                     collapse_pct: float | None = None,
                     dynamic_ron_ratio: float | None = None,
                     title: str = "Pulsed I-V from quiescent points",
                     subtitle: str = "") -> Figure:
    """Pulsed Id-Vds families keyed by their quiescent point label (e.g. "Q (0 V, 0 V)"; the
    first is the reference), one colour per Vgs step, one line style per Q point."""
    if not families:
        raise ValueError("no pulsed family to plot")
    k, unit = _scale(gate_width_mm)
    fig, (ax,) = new_figure()
    labelled = False
    handles: list[object] = []
    labels: list[str] = []
    steps = np.atleast_1d(np.asarray(vgs_steps_v, float))
    colors = _vgs_colors(steps.size)
    for q_index, (q_label, id_a) in enumerate(families.items()):
        vds, _, ids = _family(vds_v, steps, id_a)
        flags = _mask(None if compliance is None else compliance.get(q_label), ids.shape)
        style = Q_LINESTYLES[q_index % len(Q_LINESTYLES)]
        for row in range(steps.size):
            ok = ~flags[row]
            ax.plot(vds[row][ok], ids[row][ok] * k, color=colors[row], linestyle=style,
                    linewidth=1.4)
            labelled = _mark_compliance(ax, vds[row], ids[row] * k, flags[row], labelled)
        (proxy,) = ax.plot([], [], color="0.2", linestyle=style, linewidth=1.4)
        handles.append(proxy)
        labels.append(q_label + (" (reference)" if q_index == 0 else ""))
    for row in reversed(range(steps.size)):  # most open channel first, as the curves stack
        (proxy,) = ax.plot([], [], color=colors[row], linewidth=3)
        handles.append(proxy)
        labels.append(f"Vgs = {steps[row]:+g} V")
    if knee_vds_v is not None:
        text = "knee"
        if collapse_pct is not None and math.isfinite(collapse_pct):
            text += f": collapse {collapse_pct:.1f} %"
        if dynamic_ron_ratio is not None and math.isfinite(dynamic_ron_ratio):
            text += f", Ron,dyn/Ron = {dynamic_ron_ratio:.2f}"
        handles.append(ax.axvline(knee_vds_v, **KNEE_STYLE))
        labels.append(f"{text} (Vds = {knee_vds_v:g} V)")
    h_c, l_c = ax.get_legend_handles_labels()
    handles += [h for h, label in zip(h_c, l_c, strict=True) if label.startswith("in compl")]
    labels += [label for label in l_c if label.startswith("in compl")]
    ax.set_xlabel("Vds (V, pulsed)")
    ax.set_ylabel(f"Id ({unit}, sampled in the pulse)")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    _title(fig, title, subtitle)
    width = f"Wg = {gate_width_mm:g} mm" if gate_width_mm else ""
    legend_outside(fig, handles, labels, ax=ax, caption=width)
    return fig

