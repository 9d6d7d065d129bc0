"""Figures of a `modulated_power_sweep` step: ACLR vs Pout and EVM vs Pout, per frequency.

Datasets (names fixed by the measurement): axes ``frequency_hz``, ``drive_level_dbm``,
``aclr_offset_hz``; ``output_power_dbm`` and ``evm_pct`` over (frequency, drive);
``aclr_lower_dbc`` / ``aclr_upper_dbc`` over (frequency, drive, offset), negative dBc.
ACLR limits are drawn at ``-limit`` dBc (a limit stated as ACLR >= 45 dB, TS 38.104
Table 6.6.3.5.2-1, is the line at -45 dBc); each limit's source goes into the legend.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from benchbot.plots.data import MetricRow, RecordData, StepData
from benchbot.plots.style import (
    draw_limit,
    frequencies_text,
    frequency_color,
    frequency_label,
    legend_outside,
    limit_label,
    new_figure,
    shade_fail_above,
    title,
)

KIND = "modulated_power_sweep"
ORDER_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")
SIDE_STYLE = {"lower": {"linestyle": "-", "marker": "<"},
              "upper": {"linestyle": "-.", "marker": ">"}}


def aclr_prefix(step: StepData) -> str | None:
    """``aclr`` (analyzer ACP) or ``aclr_iq`` (from IQ) datasets, whichever the step has."""
    for prefix in ("aclr", "aclr_iq"):
        if {f"{prefix}_lower_dbc", f"{prefix}_upper_dbc"} <= step.data.keys():
            return prefix
    return None


def figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """(name, figure) for each figure the step's datasets support."""
    out = []
    if "output_power_dbm" in step.data and aclr_prefix(step):
        out.append(("aclr_vs_pout", aclr_figure(record, step)))
    if {"output_power_dbm", "evm_pct"} <= step.data.keys():
        out.append(("evm_vs_pout", evm_figure(record, step)))
    return out


def aclr_limit_dbc(row: MetricRow) -> float | None:
    """An ACLR limit as the dBc line: ``max`` if stated in dBc (<= 0), else ``-min`` (dB)."""
    if row.maximum is not None and row.maximum <= 0:
        return row.maximum
    if row.minimum is not None and row.minimum > 0:
        return -row.minimum
    return None


def _limits(step: StepData, prefix: str, to_line: Callable[[MetricRow], float | None]
            ) -> list[tuple[float, str, str]]:
    """Distinct (line value, source, quantity) limits of the metrics starting with ``prefix``;
    the quantity names the metrics sharing the line, e.g. ``ACLR1`` or ``ACLR1/ACLR2``."""
    seen: dict[tuple[float, str], list[str]] = {}
    for row in step.metrics(prefix):
        value = to_line(row)
        if value is not None:
            names = seen.setdefault((round(value, 6), row.limit_source), [])
            if _quantity(row.metric) not in names:
                names.append(_quantity(row.metric))
    return [(v, s, "/".join(names)) for (v, s), names in seen.items()]


def _quantity(metric: str) -> str:
    """``aclr1_db_at_rated_pout`` -> ``ACLR1``; ``evm_pct_at_rated_pout`` -> ``EVM``."""
    match = re.match(r"(aclr\d?|evm)", metric)
    return match.group(1).upper() if match else metric


def _frequencies(step: StepData) -> np.ndarray:
    n = step.data["output_power_dbm"].shape[0]
    return np.asarray(step.axes.get("frequency_hz", np.full(n, np.nan)), dtype=float)


def aclr_figure(record: RecordData, step: StepData) -> Figure:
    """One panel per frequency: ACLR1/ACLR2 lower and upper vs Pout, limit line(s)."""
    freqs = _frequencies(step)
    offsets = np.asarray(step.axes.get("aclr_offset_hz", []), dtype=float)
    fig, axes = new_figure(width_in=3.6 * len(freqs) + 2.6, height_in=5.2, ncols=len(freqs),
                           sharey=True)
    limits = _limits(step, "aclr", aclr_limit_dbc) or _threshold(step, "aclr_threshold_db", -1.0)
    prefix = aclr_prefix(step) or "aclr"
    handles: list[Artist] = []
    for fi, (ax, f_hz) in enumerate(zip(axes, freqs, strict=True)):
        handles = list(_aclr_panel(ax, step, fi, offsets, prefix))
        for value, source, quantity in limits:
            handles.append(draw_limit(ax, value, limit_label(f"{quantity} ≥", -value, "dB",
                                                             source)))
        handles += _rated(ax, step)
        ax.set_title(frequency_label(f_hz), fontsize=10)
        ax.set_xlabel("Pout at DUT output plane (dBm)")
    if limits:  # after every panel has autoscaled the shared y range
        handles += [shade_fail_above(ax, max(v for v, _, _ in limits)) for ax in axes][:1]
    axes[0].set_ylabel("ACLR, P_adjacent / P_main (dBc)")
    title(fig, record, step, "ACLR vs output power", frequencies_text(freqs))
    legend_outside(fig, handles, [h.get_label() for h in handles])
    return fig


def _threshold(step: StepData, setting: str, sign: float) -> list[tuple[float, str, str]]:
    """A step threshold (e.g. ``aclr_threshold_db``) drawn like a limit when no limit exists."""
    value = step.settings.get(setting)
    if value is None:
        return []
    quantity = "ACLR1" if setting.startswith("aclr") else "EVM"
    return [(sign * float(value), f"threshold: step setting {setting}", quantity)]


def _rated(ax: Axes, step: StepData) -> list[Line2D]:
    """Vertical line at the rated Pout where the *_at_rated_pout metrics are read."""
    rated = step.settings.get("rated_output_power_dbm")
    if rated is None:
        return []
    return [ax.axvline(float(rated), color="0.35", linestyle=":", linewidth=1.2,
                       label=f"rated Pout {float(rated):g} dBm (limits judged here)")]


def _aclr_panel(ax: Axes, step: StepData, fi: int, offsets: np.ndarray, prefix: str
                ) -> list[Line2D]:
    pout = step.data["output_power_dbm"][fi]
    handles = []
    for side in ("lower", "upper"):
        values = step.data[f"{prefix}_{side}_dbc"][fi]
        for k in range(values.shape[-1]):
            ok = np.isfinite(pout) & np.isfinite(values[:, k])
            off = f" (∓{offsets[k] / 1e6:g} MHz)" if k < offsets.size else ""
            sign = "−" if side == "lower" else "+"
            label = f"ACLR{k + 1} {side}" + off.replace("∓", sign)
            (line,) = ax.plot(pout[ok], values[ok, k], color=ORDER_COLORS[k % len(ORDER_COLORS)],
                              markersize=4, linewidth=1.5, label=label, **SIDE_STYLE[side])
            handles.append(line)
    return handles


def evm_figure(record: RecordData, step: StepData) -> Figure:
    """EVM (%) vs Pout, one curve per frequency, limit line(s)."""
    freqs = _frequencies(step)
    fig, (ax,) = new_figure()
    handles = []
    for fi, f_hz in enumerate(freqs):
        pout, evm = step.data["output_power_dbm"][fi], step.data["evm_pct"][fi]
        ok = np.isfinite(pout) & np.isfinite(evm)
        (line,) = ax.plot(pout[ok], evm[ok], color=frequency_color(fi), marker="o", markersize=3.5,
                          linewidth=1.8, label=frequency_label(f_hz))
        handles.append(line)
    limits = (_limits(step, "evm", lambda r: r.maximum)
              or _threshold(step, "evm_threshold_pct", 1.0))
    for value, source, _ in limits:
        handles.append(draw_limit(ax, value, limit_label("EVM ≤", value, "%", source)))
    handles += _rated(ax, step)
    ax.set_ylim(bottom=0.0)
    if limits:
        handles.append(shade_fail_above(ax, min(v for v, _, _ in limits)))
    ax.set_xlabel("Pout at DUT output plane (dBm)")
    ax.set_ylabel("EVM, RMS (%)")
    title(fig, record, step, "EVM vs output power", frequencies_text(freqs))
    legend_outside(fig, handles, [h.get_label() for h in handles])
    return fig

