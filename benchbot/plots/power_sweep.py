"""Figures of a CW `power_sweep` step: gain and PAE vs Pout, Pout vs Pin with P1dB, AM-PM vs Pout.

Gain, PAE, G0, P1dB and AM-PM are recomputed from the stored datasets with the same analysis
the step used (`benchbot.analysis.power_sweep.analyse_power_sweep`, rf reference §1.1), with the
step's own small-signal threshold, so the markers are exactly the judged values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from benchbot.analysis.power_sweep import PowerSweepMetrics, analyse_power_sweep
from benchbot.plots.data import RecordData, StepData
from benchbot.plots.style import (
    draw_limit,
    frequencies_text,
    frequency_color,
    frequency_label,
    legend_outside,
    limit_label,
    new_figure,
    title,
)

KIND = "power_sweep"
DEFAULT_SMALL_SIGNAL_MAX_INPUT_DBM = -15.0
P1DB_MARKER = {"marker": "o", "markersize": 7, "markerfacecolor": "white", "markeredgewidth": 1.6,
               "linestyle": "none", "zorder": 5}


@dataclass(frozen=True)
class Sweep:
    """One carrier frequency's sweep, analysed; ``measured`` of ``planned`` points had data."""

    frequency_hz: float
    metrics: PowerSweepMetrics
    measured: int
    planned: int


def sweeps(step: StepData) -> list[Sweep]:
    """Every frequency row with at least two measured points, analysed (NaN points dropped)."""
    freqs = step.axes.get("frequency_hz")
    if freqs is None or "input_power_dbm" not in step.data or "output_power_dbm" not in step.data:
        return []
    threshold = float(step.settings.get("small_signal_max_input_dbm",
                                        DEFAULT_SMALL_SIGNAL_MAX_INPUT_DBM))
    out = []
    for i, f_hz in enumerate(freqs):
        pin, pout = step.data["input_power_dbm"][i], step.data["output_power_dbm"][i]
        ok = np.isfinite(pin) & np.isfinite(pout)
        if ok.sum() < 2:
            continue
        pdc = step.data.get("dc_power_w")
        phase = step.data.get("output_phase_deg")
        phase_row = phase[i][ok] if phase is not None and np.isfinite(phase[i][ok]).all() else None
        dc_row = pdc[i][ok] if pdc is not None and np.isfinite(pdc[i][ok]).any() else None
        metrics = analyse_power_sweep(pin[ok], pout[ok], dc_row, threshold, phase_row)
        out.append(Sweep(float(f_hz), metrics, int(ok.sum()), int(ok.size)))
    return out


def figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """(name, figure) for each figure this step supports."""
    rows = sweeps(step)
    if not rows:
        return []
    out = [("gain_pae_vs_pout", gain_pae_figure(record, step, rows)),
           ("pout_vs_pin", pout_pin_figure(record, step, rows))]
    if any(r.metrics.am_pm_deg is not None for r in rows):
        out.append(("am_pm_vs_pout", am_pm_figure(record, step, rows)))
    return out


def _style_handles(*entries: tuple[str, dict]) -> list[Line2D]:
    return [Line2D([], [], color="0.25", label=label, **kw) for label, kw in entries]


def _frequency_handles(rows: list[Sweep], with_p1db: bool = False) -> list[Line2D]:
    return [Line2D([], [], color=frequency_color(i), linewidth=2.5,
                   label=frequency_label(r.frequency_hz) + (_p1db_text(r.metrics) if with_p1db
                                                            else "") + _partial_text(r))
            for i, r in enumerate(rows)]


def _partial_text(r: Sweep) -> str:
    return "" if r.measured == r.planned else f" [{r.measured}/{r.planned} points measured]"


def _p1db_text(m: PowerSweepMetrics) -> str:
    if not math.isfinite(m.p1db_output_dbm):
        return ": no 1 dB compression in the sweep"
    return f": OP1dB {m.p1db_output_dbm:.2f} dBm @ Pin {m.p1db_input_dbm:.2f} dBm"


def gain_pae_figure(record: RecordData, step: StepData, rows: list[Sweep]) -> Figure:
    """Gain (left axis) and PAE (right axis) vs Pout, one colour per frequency, P1dB marked."""
    fig, (ax,) = new_figure()
    has_pae = any(r.metrics.pae_pct is not None for r in rows)
    ax_pae = ax.twinx() if has_pae else None
    for i, r in enumerate(rows):
        m, color = r.metrics, frequency_color(i)
        ax.plot(m.pout_dbm, m.gain_db, color=color, linewidth=1.8)
        if math.isfinite(m.p1db_output_dbm):
            ax.plot([m.p1db_output_dbm], [m.small_signal_gain_db - 1.0], color=color,
                    markeredgecolor=color, **P1DB_MARKER)
        if ax_pae is not None and m.pae_pct is not None:
            ax_pae.plot(m.pout_dbm, m.pae_pct, color=color, linewidth=1.5, linestyle="-.")
    ax.set_xlabel("Output power at DUT output plane, Pout (dBm)")
    ax.set_ylabel("Gain, Pout − Pin (dB)")
    handles = _frequency_handles(rows) + _style_handles(
        ("gain (left axis)", {"linewidth": 1.8}),
        ("G0 − 1 dB point (OP1dB)", {k: v for k, v in P1DB_MARKER.items() if k != "zorder"}))
    if ax_pae is not None:
        ax_pae.set_ylabel("PAE, (Pout − Pin) / P_DC (%)")
        ax_pae.set_ylim(bottom=0.0)
        handles += _style_handles(("PAE (right axis)", {"linewidth": 1.5, "linestyle": "-."}))
        lo, _, source = step.limit("pae_at_p1db_pct")
        if lo is not None:
            handles.append(draw_limit(ax_pae, lo, limit_label("PAE at P1dB ≥", lo, "%", source)))
    title(fig, record, step, "Gain and PAE vs output power",
          frequencies_text([r.frequency_hz for r in rows]))
    legend_outside(fig, handles, [h.get_label() for h in handles], ax=ax_pae or ax,
                   gap=0.13 if ax_pae is not None else 0.02)
    return fig


def pout_pin_figure(record: RecordData, step: StepData, rows: list[Sweep]) -> Figure:
    """Pout vs Pin per frequency with the linear (G0) extrapolation and OP1dB marked."""
    fig, (ax,) = new_figure()
    for i, r in enumerate(rows):
        m, color = r.metrics, frequency_color(i)
        ax.plot(m.pin_dbm, m.pout_dbm, color=color, linewidth=1.8)
        if math.isfinite(m.small_signal_gain_db):
            ax.plot(m.pin_dbm, m.pin_dbm + m.small_signal_gain_db, color=color, linewidth=0.9,
                    linestyle=":", alpha=0.8)
        if math.isfinite(m.p1db_output_dbm):
            ax.plot([m.p1db_input_dbm], [m.p1db_output_dbm], color=color, markeredgecolor=color,
                    **P1DB_MARKER)
    lo, _, source = step.limit("p1db_output_dbm")
    handles = _frequency_handles(rows, with_p1db=True) + _style_handles(
        ("measured Pout", {"linewidth": 1.8}),
        ("linear: Pin + G0", {"linewidth": 0.9, "linestyle": ":"}),
        ("OP1dB (G = G0 − 1 dB)", {k: v for k, v in P1DB_MARKER.items() if k != "zorder"}))
    if lo is not None:
        handles.append(draw_limit(ax, lo, limit_label("OP1dB ≥", lo, "dBm", source)))
    top = max(float(np.nanmax(r.metrics.pout_dbm)) for r in rows)
    ax.set_ylim(top=top + 3.0)  # the linear extrapolation would otherwise dwarf the data
    ax.set_xlabel("Input power at DUT input plane, Pin (dBm)")
    ax.set_ylabel("Output power at DUT output plane, Pout (dBm)")
    title(fig, record, step, "Pout vs Pin (compression)",
          frequencies_text([r.frequency_hz for r in rows]))
    legend_outside(fig, handles, [h.get_label() for h in handles])
    return fig


def am_pm_figure(record: RecordData, step: StepData, rows: list[Sweep]) -> Figure:
    """AM-PM (phase change vs the small-signal phase) vs Pout, P1dB marked."""
    fig, (ax,) = new_figure()
    for i, r in enumerate(rows):
        m, color = r.metrics, frequency_color(i)
        if m.am_pm_deg is None:
            continue
        ax.plot(m.pout_dbm, m.am_pm_deg, color=color, linewidth=1.8)
        if math.isfinite(m.p1db_output_dbm):
            phase_at_p1 = float(np.interp(m.p1db_input_dbm, m.pin_dbm, m.am_pm_deg))
            ax.plot([m.p1db_output_dbm], [phase_at_p1], color=color, markeredgecolor=color,
                    **P1DB_MARKER)
    handles = _frequency_handles(rows) + _style_handles(
        ("AM-PM at OP1dB", {k: v for k, v in P1DB_MARKER.items() if k != "zorder"}))
    _, hi, source = step.limit("am_pm_at_p1db_deg")
    if hi is not None:
        handles.append(draw_limit(ax, hi, limit_label("|AM-PM at P1dB| ≤", hi, "°", source)))
        lowest = min(float(np.nanmin(r.metrics.am_pm_deg)) for r in rows
                     if r.metrics.am_pm_deg is not None)
        if lowest < -0.1 * hi:  # the negative side of |AM-PM| only where the data go there
            draw_limit(ax, -hi, "_")
    ax.set_xlabel("Output power at DUT output plane, Pout (dBm)")
    ax.set_ylabel("AM-PM, Δφ vs small-signal phase (°)")
    title(fig, record, step, "AM-PM vs output power",
          frequencies_text([r.frequency_hz for r in rows]))
    legend_outside(fig, handles, [h.get_label() for h in handles])
    return fig
