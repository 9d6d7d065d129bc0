"""Figures of VNA steps: ``s_parameters`` (|S21|, |S11|/|S22|, |S12|, group delay; K/μ) and
``network_paths`` (per control state: insertion loss or gain of the through paths, isolation,
return loss).

The S-matrix comes from the step's ``s_re``/``s_im`` datasets (``benchbot.results.networks``)
and every derived curve from the same analysis the measurement judges with
(``benchbot.analysis.network``, reference §1.8). A stored plan mask (``settings.masks``) is
drawn as its limit-line segments (dashed red, sloped where the plan slopes them); points the
step stored as failing (``mask_<trace>_pass`` = 0) are marked with a red ×.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import skrf
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pydantic import ValidationError

from benchbot.analysis import network as na
from benchbot.analysis.limit_mask import LimitMaskSpec
from benchbot.plots.data import RecordData, StepData
from benchbot.plots.style import FOOTER_HEIGHT, LIMIT_STYLE, limit_label, title, wrap
from benchbot.results.networks import StepNetwork, step_networks

KIND_S_PARAMETERS = "s_parameters"
KIND_NETWORK_PATHS = "network_paths"
TRACE_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
FAIL_MARKER = {"marker": "x", "color": "tab:red", "markersize": 6, "linestyle": "none",
               "zorder": 6}
GHZ = 1e9


# ----------------------------------------------------------------------------- entry points
def s_parameter_figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """``s_parameters`` (2×2 panel) and, for an active 2-port, ``stability`` (K, μ, μ')."""
    nets = _networks(step)
    if not nets:
        return []
    item = nets[0]
    out = [("s_parameters", s_parameters_figure(record, step, item))]
    if item.network.nports >= 2 and _wants_stability(step):
        out.append(("stability", stability_figure(record, step, item)))
    return out


def network_paths_figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """One ``state_<name>`` figure per measured control state."""
    return [(f"state_{item.state}", paths_figure(record, step, item, item.state_index or 0))
            for item in _networks(step)]


# ----------------------------------------------------------------------------- figures
def s_parameters_figure(record: RecordData, step: StepData, item: StepNetwork) -> Figure:
    """|S21| (gain), |S11| and |S22|, |S12| and group delay of S21 vs frequency (GHz); 1 and 2
    are the DUT input and output (the step's ``input_port``/``output_port``), as in the plan's
    trace names ``s21_db``...."""
    ntwk = item.network
    f_ghz = ntwk.frequency.f / GHZ
    out_port, in_port = _io_ports(step, item)
    masks = _masks(step)
    if ntwk.nports == 1:
        fig, axes = grid_figure(1, 1, 9.0, 5.0)
        _curve(axes[0], f_ghz, na.gain_db(ntwk, 1, 1), "|S11|", 0)
        _draw_mask(axes[0], masks.get("s11_db"), "s11_db")
        _finish(axes[0], "|S11| (dB)")
        axes[0].set_xlabel("Frequency (GHz)")
        title(fig, record, step, "Reflection |S11|", _sweep_text(step, ntwk))
        return fig
    fig, axes = grid_figure(2, 2, 13.0, 8.2)
    ax_gain, ax_rl, ax_rev, ax_gd = axes
    s_out_in, s_in_in, s_out_out, s_in_out = "S21", "S11", "S22", "S12"
    gain = na.gain_db(ntwk, out_port, in_port)
    _curve(ax_gain, f_ghz, gain, f"|{s_out_in}| (forward gain)", 0)
    _draw_mask(ax_gain, masks.get("s21_db"), "s21_db")
    _mark_fails(ax_gain, step, item, "s21_db", gain)
    _band(ax_gain, step)
    _finish(ax_gain, f"|{s_out_in}| (dB)")
    for k, (port, name, trace) in enumerate(((in_port, s_in_in, "s11_db"),
                                             (out_port, s_out_out, "s22_db"))):
        values = na.gain_db(ntwk, port, port)
        _curve(ax_rl, f_ghz, values, f"|{name}| ({'input' if k == 0 else 'output'} match)", k)
        _draw_mask(ax_rl, masks.get(trace), trace, color_index=k)
        _mark_fails(ax_rl, step, item, trace, values)
    _finish(ax_rl, "|S11|, |S22| (dB)")
    reverse = na.gain_db(ntwk, in_port, out_port)
    _curve(ax_rev, f_ghz, reverse, f"|{s_in_out}| (reverse isolation)", 2)
    _draw_mask(ax_rev, masks.get("s12_db"), "s12_db")
    _mark_fails(ax_rev, step, item, "s12_db", reverse)
    _finish(ax_rev, f"|{s_in_out}| (dB)")
    delay_ns = na.group_delay_s(ntwk, out_port, in_port) * 1e9
    shown = _where_transmitting(delay_ns, na.gain_db(ntwk, out_port, in_port))
    _curve(ax_gd, f_ghz, shown, f"group delay of {s_out_in}, −dφ/dω (where |{s_out_in}| is "
           f"within {GROUP_DELAY_VIEW_DB:g} dB of its peak)", 3)
    _draw_mask(ax_gd, masks.get("group_delay_ns"), "group_delay_ns", unit="ns")
    _mark_fails(ax_gd, step, item, "group_delay_ns", delay_ns)
    _finish(ax_gd, "Group delay (ns)")
    for ax in (ax_rev, ax_gd):
        ax.set_xlabel("Frequency (GHz)")
    title(fig, record, step, "S-parameters", _sweep_text(step, ntwk))
    return fig


def stability_figure(record: RecordData, step: StepData, item: StepNetwork) -> Figure:
    """Rollett K, Edwards–Sinsky μ and μ', |Δ| of the input→output 2-port vs frequency (log
    scale), boundary at 1."""
    ntwk = item.network
    f_ghz = ntwk.frequency.f / GHZ
    out_port, in_port = _io_ports(step, item)
    st = na.stability(ntwk.subnetwork([in_port - 1, out_port - 1]))
    fig, (ax,) = grid_figure(1, 1, 10.0, 5.4)
    for k, (values, label) in enumerate(((st.k, "Rollett K (stable: K > 1 and |Δ| < 1)"),
                                         (st.mu, "Edwards–Sinsky μ (load side; stable: μ > 1)"),
                                         (st.mu_prime, "μ' (source side)"),
                                         (st.delta_abs, "|Δ| = |S11·S22 − S12·S21|"))):
        ax.plot(f_ghz, np.clip(values, 1e-3, 1e6), color=TRACE_COLORS[k], linewidth=1.6,
                linestyle="-" if k < 3 else ":", label=label)
    ax.axhline(1.0, color="0.2", linewidth=1.0, linestyle="--", label="boundary: 1")
    for metric, what in (("k_factor_min", "K ≥"), ("mu_min", "μ ≥")):
        for row in step.metrics(metric):
            if row.minimum is not None and row.minimum != 1.0:
                ax.axhline(row.minimum, label=limit_label(what, row.minimum, "",
                                                          row.limit_source), **LIMIT_STYLE)
                break
    ax.set_yscale("log")
    ax.set_xlabel("Frequency (GHz)")
    ax.set_ylabel("Stability factor (unitless)")
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    verdict = "unconditionally stable over the sweep" if bool(np.all(st.mu > 1.0)) else (
        f"μ ≤ 1 at {np.count_nonzero(st.mu <= 1.0)} points: potentially unstable")
    title(fig, record, step, f"Stability — {verdict}", _sweep_text(step, ntwk))
    return fig


def paths_figure(record: RecordData, step: StepData, item: StepNetwork, index: int) -> Figure:
    """One control state: through paths (insertion loss, or gain for an active path),
    isolation paths and every port's return loss, in dB vs frequency (GHz)."""
    ntwk = item.network
    f_ghz = ntwk.frequency.f / GHZ
    spec = _state_spec(step, index)
    names = list(ntwk.port_names or [f"P{p}" for p in item.vna_ports])
    active = bool(spec.get("active", False))
    masks = _masks(step)
    fig, (ax_thru, ax_iso, ax_rl) = grid_figure(1, 3, 15.0, 5.4, sharex=True, sharey=False)
    through = _paths(spec.get("through"), names)
    isolation = _paths(spec.get("isolation"), names)
    if not through and not isolation:  # no path list stored: every transmission is shown
        isolation = [(a, b) for a in range(len(names)) for b in range(len(names)) if a != b]
    thru_trace = "gain_db" if active else "insertion_loss_db"
    fails = _path_fails(step, item)
    panels = (
        (ax_thru, thru_trace, through, na.gain_db if active else na.insertion_loss_db),
        (ax_iso, "isolation_db", isolation, na.isolation_db),
        (ax_rl, "return_loss_db", [(k, k) for k in range(ntwk.nports)],
         lambda n, a, _b: na.return_loss_db(n, a)),
    )
    for ax, trace, pairs, quantity in panels:
        for k, (src, dst) in enumerate(pairs):
            values = quantity(ntwk, dst + 1, src + 1)
            label = names[src] if src == dst else f"{names[src]} → {names[dst]}"
            _curve(ax, f_ghz, values, label, k)
            _plot_fails(ax, f_ghz, values, fails.get((trace, names[src], names[dst])))
        _draw_mask(ax, masks.get(trace), trace)
    _finish(ax_thru, "Gain |S_out,in| (dB)" if active else "Insertion loss −20·log|S| (dB)")
    _finish(ax_iso, "Isolation −20·log|S| (dB)")
    _finish(ax_rl, "Return loss −20·log|S_ii| (dB)")
    for ax, what in ((ax_thru, "through paths (gain)" if active else "through paths"),
                     (ax_iso, "isolation paths"), (ax_rl, "return loss")):
        ax.set_xlabel("Frequency (GHz)")
        ax.set_title(what, fontsize=9)
    title(fig, record, step, f"Control state '{item.state}'", _sweep_text(step, ntwk))
    return fig


# ----------------------------------------------------------------------------- helpers
def grid_figure(nrows: int, ncols: int, width_in: float, height_in: float, sharex: bool = True,
                sharey: bool = False) -> tuple[Figure, list[Axes]]:
    """A constrained-layout Agg figure with a grid of gridded axes (the benchbot look of
    :func:`benchbot.plots.style.new_figure`, in rows and columns)."""
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    fig.get_layout_engine().set(rect=(0.0, FOOTER_HEIGHT, 1.0, 1.0 - FOOTER_HEIGHT))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False).ravel()
    for ax in axes:
        ax.grid(True, which="major", alpha=0.45)
        ax.grid(True, which="minor", alpha=0.15)
        ax.minorticks_on()
    return fig, list(axes)


def _networks(step: StepData) -> list[StepNetwork]:
    return step_networks(step.summary.group, step.name, step.axes, step.data,
                         step.summary.attrs, step.settings)


def _state_spec(step: StepData, index: int) -> Mapping[str, Any]:
    states = step.settings.get("states")
    if isinstance(states, list) and 0 <= index < len(states) and isinstance(states[index],
                                                                             Mapping):
        return states[index]
    return {}


def _paths(entries: Any, names: Sequence[str]) -> list[tuple[int, int]]:
    """``[{from, to}]`` (DUT port names) as 0-based matrix (source, destination) pairs."""
    out = []
    for entry in entries or ():
        if isinstance(entry, Mapping) and entry.get("from") in names and entry.get("to") in names:
            out.append((list(names).index(entry["from"]), list(names).index(entry["to"])))
    return out


def _io_ports(step: StepData, item: StepNetwork) -> tuple[int, int]:
    """(output, input) as 1-based matrix ports, from the step's VNA ``output_port``/
    ``input_port`` (default: the first measured port in, the first other port out)."""
    ports = list(item.vna_ports)
    to_index = {p: k + 1 for k, p in enumerate(ports)}
    vna_in = step.settings.get("input_port")
    in_port = to_index.get(int(vna_in), 1) if vna_in is not None else 1
    vna_out = step.settings.get("output_port")
    others = [k for k in range(1, len(ports) + 1) if k != in_port] or [in_port]
    out_port = to_index.get(int(vna_out), others[0]) if vna_out is not None else others[0]
    return out_port, in_port


def _wants_stability(step: StepData) -> bool:
    """As the step decides: ``stability_check`` if set, else on unless it is a filter."""
    flag = step.settings.get("stability_check")
    return bool(flag) if flag is not None else step.settings.get("filter") is None


def _masks(step: StepData) -> dict[str, LimitMaskSpec]:
    """The step's stored masks that still validate (a malformed one is not drawn)."""
    out = {}
    raw = step.settings.get("masks") or {}
    if isinstance(raw, Mapping):
        for trace, spec in raw.items():
            try:
                out[str(trace)] = LimitMaskSpec.model_validate(spec)
            except ValidationError:
                continue
    return out


#: group delay is shown where |S21| is within this of its maximum: below it the phase of a
#: stop band is receiver noise and its derivative fills the axes
GROUP_DELAY_VIEW_DB = 40.0


def _where_transmitting(delay_ns: np.ndarray, gain_db: np.ndarray) -> np.ndarray:
    """Group delay with the points that do not transmit blanked (NaN): there the phase is
    receiver noise and its derivative would fill the axes (the record keeps every point)."""
    keep = gain_db >= np.nanmax(gain_db) - GROUP_DELAY_VIEW_DB
    return np.where(keep, delay_ns, np.nan)


def _curve(ax: Axes, f_ghz: np.ndarray, values: np.ndarray, label: str, index: int) -> None:
    ax.plot(f_ghz, values, color=TRACE_COLORS[index % len(TRACE_COLORS)], linewidth=1.6,
            label=label)


def _draw_mask(ax: Axes, spec: LimitMaskSpec | None, trace: str, unit: str = "dB",
               color_index: int | None = None) -> None:
    """Every segment's lower and upper line; one legend entry per mask with its source."""
    if spec is None:
        return
    style = dict(LIMIT_STYLE)
    if color_index:  # a second mask on the same axes: same dash, darker red
        style["color"] = "darkred"
    label = wrap(f"mask {trace} ({unit})" + (f"\n({spec.source})" if spec.source else ""))
    for seg in spec.segments:
        x = [seg.start_hz / GHZ, seg.stop_hz / GHZ]
        for start, stop in ((seg.min_db, seg.min_end), (seg.max_db, seg.max_end)):
            if start is not None and stop is not None:
                ax.plot(x, [start, stop], label=label, zorder=4, **style)
                label = "_"


def _mark_fails(ax: Axes, step: StepData, item: StepNetwork, trace: str,
                values: np.ndarray) -> None:
    """Red × on the points the step stored as failing its mask (``mask_<trace>_pass``)."""
    stored = step.data.get(f"mask_{trace}_pass")
    axis = step.axes.get("frequency_hz")
    if stored is None or axis is None or np.ndim(stored) != 1 or len(stored) != len(axis):
        return
    failing = np.asarray(axis, dtype=float)[np.asarray(stored, dtype=float) == 0.0]
    f_hz = item.network.frequency.f
    _plot_fails(ax, f_hz / GHZ, values, np.isin(f_hz, failing))


def _path_fails(step: StepData, item: StepNetwork) -> dict[tuple[str, str, str], np.ndarray]:
    """(quantity, from, to) -> the network's points stored as failing that path's mask, from
    the step attribute ``paths`` (JSON list of {state, quantity, from, to}) and the
    ``mask_<quantity>_pass`` datasets over (path, frequency_hz)."""
    paths = _json_value(step.summary.attrs.get("paths"))
    axis = step.axes.get("frequency_hz")
    if not isinstance(paths, list) or axis is None:
        return {}
    f_hz = item.network.frequency.f
    out = {}
    for k, path in enumerate(paths):
        if not isinstance(path, Mapping) or path.get("state") != item.state:
            continue
        stored = step.data.get(f"mask_{path.get('quantity')}_pass")
        if stored is None or np.ndim(stored) != 2 or k >= len(stored):
            continue
        failing = np.asarray(axis, dtype=float)[np.asarray(stored[k], dtype=float) == 0.0]
        out[(str(path.get("quantity")), str(path.get("from")), str(path.get("to")))] = \
            np.isin(f_hz, failing)
    return out


def _json_value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def _plot_fails(ax: Axes, f_ghz: np.ndarray, values: np.ndarray,
                fail: np.ndarray | None) -> None:
    if fail is None or not fail.any():
        return
    seen = any(line.get_label().startswith("fails mask") for line in ax.get_lines())
    ax.plot(f_ghz[fail], values[fail], label="_" if seen else "fails mask", **FAIL_MARKER)


def _band(ax: Axes, step: StepData) -> None:
    band = step.settings.get("band")
    if isinstance(band, Mapping) and "start_hz" in band and "stop_hz" in band:
        ax.axvspan(band["start_hz"] / GHZ, band["stop_hz"] / GHZ, color="tab:green", alpha=0.06,
                   linewidth=0, label="metrics band", zorder=0)


def _finish(ax: Axes, ylabel: str) -> None:
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=7, framealpha=0.85)


def _sweep_text(step: StepData, ntwk: skrf.Network) -> str:
    """``2.5–4.5 GHz, 201 points, IFBW 1 kHz, port power −25 dBm``."""
    f = ntwk.frequency.f
    text = f"{f[0] / GHZ:.6g}–{f[-1] / GHZ:.6g} GHz, {f.size} points"
    sweep = step.settings.get("sweep")
    if isinstance(sweep, Mapping):
        if sweep.get("if_bandwidth_hz") is not None:
            text += f", IFBW {_hz_text(float(sweep['if_bandwidth_hz']))}"
        if sweep.get("power_dbm") is not None:
            text += f", port power {float(sweep['power_dbm']):g} dBm".replace("-", "−")
    return text


def _hz_text(value_hz: float) -> str:
    """``10 Hz``, ``1 kHz``, ``1.5 MHz``."""
    for scale, unit in ((1e9, "GHz"), (1e6, "MHz"), (1e3, "kHz")):
        if abs(value_hz) >= scale:
            return f"{value_hz / scale:g} {unit}"
    return f"{value_hz:g} Hz"
