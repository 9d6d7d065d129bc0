"""Device-engineer I-V figures of a GaN HEMT from plain arrays (no record needed).

- output family: Id-Vds, one curve per Vgs step (viridis from pinch-off to open channel);
- transfer: Id and gm against Vgs on linear axes with the max-gm tangent drawn to its Vth
  intercept, next to log |Id| (and |Ig|) with the constant-current criterion and its Vth;
- pulsed I-V: the families from several quiescent points overlaid, one colour per Vgs and one
  line style per Q point, with the knee where the current collapse is read;
- off-state leakage: log |Ig|, |Id| and |Is| = |Ig + Id| against Vds at the pinched-off gate,
  the judged values at the highest Vds and the limits;
- off-state breakdown: log |Id| and |Ig| against Vds with the criterion, the compliance stop,
  BV where |Id| crosses the criterion and the BV limit.

Currents are in mA, or mA/mm (gm in mS/mm) when a gate width is given; points flagged in
compliance are drawn as red crosses (the SMU read its limit there, the extraction excluded them).
Definitions: rf-measurements-and-scpi.md §2.2, §2.3.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from benchbot.analysis.iv import RON_VDS_MAX_V
from benchbot.plots.style import LIMIT_STYLE, legend_outside, new_figure

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


def _volts(v: float) -> str:
    """A gate step as a device engineer writes it: ``+1 V``, ``-2 V``, ``0 V``."""
    return "0 V" if v == 0 else f"{v:+g} V"


def _caption(*parts: str) -> str:
    """Legend title from the non-empty parts, one per line."""
    return "\n".join(p for p in parts if p)


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
                         ron_ohm: float = math.nan, ron_vgs_v: float | None = None,
                         notes: Sequence[str] = (),
                         title: str = "Output characteristics Id-Vds",
                         subtitle: str = "") -> Figure:
    """Id-Vds, one curve per Vgs step; `id_a` and `compliance` are n_vgs × n_vds, `vds_v`
    shared (n_vds) or per curve (NaN points are not drawn). A finite `ron_ohm` draws the Ron
    line Id = Vds/Ron from the origin up to the current of the `ron_vgs_v` curve; `notes` go
    under the legend title."""
    vds, steps, ids = _family(vds_v, vgs_steps_v, id_a)
    flags = _mask(compliance, ids.shape)
    k, unit = _scale(gate_width_mm)
    fig, (ax,) = new_figure()
    labelled = False
    handles: list[object] = []
    for row, color in zip(range(steps.size), _vgs_colors(steps.size), strict=True):
        ok = ~flags[row]
        handles += ax.plot(vds[row][ok], ids[row][ok] * k, color=color, marker=".",
                           markersize=3, linewidth=1.4, label=f"Vgs = {_volts(steps[row])}")
        labelled = _mark_compliance(ax, vds[row], ids[row] * k, flags[row], labelled)
    handles.reverse()  # legend top-down like the curves: most open channel first
    if math.isfinite(ron_ohm) and ron_ohm > 0:
        handles.append(_ron_line(ax, ron_ohm, ron_vgs_v, steps, ids, flags, k,
                                 gate_width_mm))
    handles += [h for h in ax.get_lines() if str(h.get_label()).startswith("in compl")]
    ax.set_xlabel("Vds (V)")
    ax.set_ylabel(f"Id ({unit})")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    _title(fig, title, subtitle)
    width = f"Wg = {gate_width_mm:g} mm" if gate_width_mm else ""
    legend_outside(fig, handles, [str(h.get_label()) for h in handles], ax=ax,
                   caption=_caption(width, *notes))
    return fig


def _ron_line(ax: Axes, ron_ohm: float, ron_vgs_v: float | None, steps: np.ndarray,
              ids: np.ndarray, flags: np.ndarray, k: float,
              gate_width_mm: float | None) -> object:
    """The Ron line Id = Vds/Ron from the origin to the top of the Ron curve (its knee)."""
    row = int(np.argmin(np.abs(steps - (0.0 if ron_vgs_v is None else ron_vgs_v))))
    usable = ids[row][~flags[row] & np.isfinite(ids[row])]
    top_a = float(usable.max()) if usable.size else float(np.nanmax(ids))
    vds_end = top_a * ron_ohm
    value = (f"{ron_ohm * gate_width_mm:.3g} Ω·mm" if gate_width_mm
             else f"{ron_ohm:.3g} Ω")
    where = f" at Vgs = {_volts(steps[row])}" if ron_vgs_v is not None else ""
    (line,) = ax.plot([0.0, vds_end], [0.0, top_a * k], color="0.25", linestyle="--",
                      linewidth=1.1, label=f"Ron = {value}{where} (fit Vds ≤ {RON_VDS_MAX_V:g} V)")
    return line


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
                    linewidth=1.4, marker=".", markersize=3)
            labelled = _mark_compliance(ax, vds[row], ids[row] * k, flags[row], labelled)
        (proxy,) = ax.plot([], [], color="0.2", linestyle=style, linewidth=1.4)
        handles.append(proxy)
        labels.append(q_label + (" (reference)" if q_index == 0 else ""))
    for row in reversed(range(steps.size)):  # most open channel first, as the curves stack
        (proxy,) = ax.plot([], [], color=colors[row], linewidth=3)
        handles.append(proxy)
        labels.append(f"Vgs = {_volts(steps[row])}")
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


def _log_curve(ax: Axes, x: np.ndarray, i_a: np.ndarray, k: float, flags: np.ndarray,
               **style: object) -> list[object]:
    """|I| on a log axis; zero, NaN and clamped points left out (the clamped ones are crossed
    separately)."""
    mag = np.abs(i_a)
    ok = np.isfinite(x) & np.isfinite(mag) & (mag > 0) & ~flags
    return ax.semilogy(x[ok], mag[ok] * k, **style)


def _finish_off_state(fig: Figure, ax: Axes, unit: str, vgs_v: float | None,
                      gate_width_mm: float | None, title: str, subtitle: str,
                      notes: Sequence[str]) -> None:
    """Axes labels, title and captioned legend of an off-state (|I| vs Vds) figure."""
    ax.set_xlabel("Vds (V)")
    ax.set_ylabel(f"|I| ({unit})")
    gate = f"Vgs = {vgs_v:g} V (pinched off)" if vgs_v is not None else ""
    _title(fig, title, subtitle or gate)
    width = f"Wg = {gate_width_mm:g} mm" if gate_width_mm else ""
    legend_outside(fig, ax=ax, caption=_caption("; ".join(t for t in (gate, width) if t),
                                                *notes))


def leakage_figure(vds_v: ArrayLike, ig_a: ArrayLike, id_a: ArrayLike, *,
                   vgs_v: float | None = None, gate_width_mm: float | None = None,
                   gate_compliance: ArrayLike | None = None,
                   drain_compliance: ArrayLike | None = None,
                   limit_lines: Sequence[tuple[float, str]] = (), notes: Sequence[str] = (),
                   title: str = "Off-state leakage", subtitle: str = "") -> Figure:
    """log |Ig|, |Id| and the source current |Is| = |Ig + Id| against Vds at a pinched-off gate;
    the values at the highest Vds (where they are judged) marked; `limit_lines` are
    (current in A per device, label) drawn as dashed red lines; `notes` go under the legend
    title."""
    vds = np.asarray(vds_v, float)
    ig, i_d = np.asarray(ig_a, float), np.asarray(id_a, float)
    g_flags, d_flags = _mask(gate_compliance, ig.shape), _mask(drain_compliance, i_d.shape)
    k, unit = _scale(gate_width_mm)
    fig, (ax,) = new_figure()
    _log_curve(ax, vds, i_d, k, d_flags, color="#0072B2", marker="o", markersize=3.5,
               linewidth=1.4, label="|Id| (drain)")
    _log_curve(ax, vds, ig, k, g_flags, color="#009E73", marker="s", markersize=3.5,
               linewidth=1.4, label="|Ig| (gate)")
    _log_curve(ax, vds, ig + i_d, k, g_flags | d_flags, color="0.45", linestyle="--",
               linewidth=1.1, label="|Is| = |Ig + Id| (source, buffer path)")
    labelled = _mark_compliance(ax, vds, np.abs(i_d) * k, d_flags, False)
    _mark_compliance(ax, vds, np.abs(ig) * k, g_flags, labelled)
    reached = np.nonzero(np.isfinite(vds) & np.isfinite(i_d))[0]
    if reached.size:
        j = int(reached[-1])
        for value, flagged, name, color in ((ig[j], g_flags[j], "Ig", "#009E73"),
                                            (i_d[j], d_flags[j], "Id", "#0072B2")):
            if not flagged and math.isfinite(value) and value != 0:
                ax.plot([vds[j]], [abs(value) * k], "D", color=color, markersize=7,
                        markerfacecolor="none", markeredgewidth=1.5,
                        label=f"|{name}| at {vds[j]:.3g} V = {abs(value) * k:.3g} {unit}")
    for value_a, label in limit_lines:
        ax.axhline(value_a * k, label=label, zorder=4, **LIMIT_STYLE)
    _finish_off_state(fig, ax, unit, vgs_v, gate_width_mm, title, subtitle, notes)
    return fig


def breakdown_figure(vds_v: ArrayLike, id_a: ArrayLike, ig_a: ArrayLike | None = None, *,
                     vgs_v: float | None = None, gate_width_mm: float | None = None,
                     criterion_a_per_mm: float = 1e-3, bv_v: float = math.nan,
                     compliance: ArrayLike | None = None,
                     current_limit_a: float | None = None, bv_min_v: float | None = None,
                     bv_bracket_v: tuple[float, float] | None = None,
                     notes: Sequence[str] = (),
                     title: str = "Off-state breakdown", subtitle: str = "") -> Figure:
    """log |Id| (and |Ig|) against Vds with the BV criterion, the drain compliance stop, BV
    where |Id| crossed the criterion (or the bracket when the compliance came first) and the
    BV limit (a minimum: the red band is where BV would fail); `notes` go under the legend
    title."""
    vds = np.asarray(vds_v, float)
    i_d = np.asarray(id_a, float)
    flags = _mask(compliance, i_d.shape)
    k, unit = _scale(gate_width_mm)
    fig, (ax,) = new_figure()
    _log_curve(ax, vds, i_d, k, flags, color="#0072B2", marker="o", markersize=3,
               linewidth=1.4, label="|Id| (drain)")
    if ig_a is not None:
        ig = np.asarray(ig_a, float)
        _log_curve(ax, vds, ig, k, np.zeros(ig.shape, bool), color="#009E73",
                   linestyle="-.", linewidth=1.2, label="|Ig| (gate)")
    _mark_compliance(ax, vds, np.abs(i_d) * k, flags, False)
    crit = criterion_a_per_mm * (gate_width_mm or 1.0) * k
    crit_text = (f"{criterion_a_per_mm * 1e3:g} mA/mm" if gate_width_mm
                 else f"{criterion_a_per_mm * 1e3:g} mA (Wg unknown: per device)")
    ax.axhline(crit, color="tab:purple", linestyle="--", linewidth=1.1,
               label=f"criterion {crit_text}")
    if current_limit_a is not None:
        ax.axhline(current_limit_a * k, color="0.35", linestyle=(0, (1, 2)), linewidth=1.4,
                   label=f"drain compliance stop {current_limit_a * 1e3:g} mA")
    if math.isfinite(bv_v):
        ax.axvline(bv_v, **MARKER_STYLE)
        ax.plot([bv_v], [crit], "D", color="tab:purple", markersize=6,
                label=f"BV = {bv_v:.1f} V")
    elif bv_bracket_v is not None:
        lo, hi = bv_bracket_v
        ax.axvspan(lo, hi, color="tab:purple", alpha=0.12,
                   label=f"BV between {lo:.1f} and {hi:.1f} V (compliance came first)")
    if bv_min_v is not None:
        ax.axvline(bv_min_v, label=f"limit BV ≥ {bv_min_v:g} V", zorder=4, **LIMIT_STYLE)
        left = float(np.nanmin(vds)) if np.isfinite(vds).any() else 0.0
        ax.axvspan(min(left, bv_min_v), bv_min_v, color="tab:red", alpha=0.05, linewidth=0,
                   zorder=0, label=f"BV below {bv_min_v:g} V fails")
    _finish_off_state(fig, ax, unit, vgs_v, gate_width_mm, title, subtitle, notes)
    return fig
