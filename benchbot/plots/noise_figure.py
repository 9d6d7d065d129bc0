"""Noise-figure step figure: NF (second-stage corrected, and of DUT + receiver) and the DUT
gain from the Y-factor powers against frequency, with the plan's limit lines (reference §1.7)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from benchbot.plots.data import RecordData, StepData
from benchbot.plots.style import draw_limit, legend_outside, limit_label, new_figure, title

KIND = "noise_figure"


def figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """One figure: NF and gain vs frequency (none if nothing was measured)."""
    nf = step.data.get("noise_figure_db")
    if nf is None or not np.any(np.isfinite(nf)):
        return []
    return [("noise_figure", noise_figure_figure(record, step))]


def noise_figure_figure(record: RecordData, step: StepData) -> Figure:
    f_ghz = step.axes["frequency_hz"] / 1e9
    fig, (ax_nf, ax_gain) = new_figure(14.0, 5.0, ncols=2)
    ax_nf.plot(f_ghz, step.data["noise_figure_db"], "o-", color="#0072B2",
               label="DUT NF (second-stage corrected)")
    uncorrected = step.data.get("noise_figure_uncorrected_db")
    if uncorrected is not None and np.any(np.isfinite(uncorrected)):
        ax_nf.plot(f_ghz, uncorrected, "s--", color="0.5", label="DUT + receiver (uncorrected)")
    _limits(ax_nf, step, "noise_figure_db", "NF", "dB")
    ax_nf.set_xlabel("Frequency (GHz)")
    ax_nf.set_ylabel("Noise figure (dB)")
    ax_nf.set_ylim(bottom=0.0)
    gain = step.data.get("gain_db")
    if gain is not None and np.any(np.isfinite(gain)):
        ax_gain.plot(f_ghz, gain, "o-", color="#009E73", label="DUT gain (N2h−N2c)/(N1h−N1c)")
        _limits(ax_gain, step, "gain_db", "gain", "dB")
    ax_gain.set_xlabel("Frequency (GHz)")
    ax_gain.set_ylabel("Gain (dB)")
    receiver = step.data.get("receiver_noise_figure_db")
    caption = ""
    if receiver is not None and np.any(np.isfinite(receiver)):  # the second stage, off scale
        caption = (f"receiver (cable + analyzer) NF "
                   f"{np.nanmin(receiver):.1f}–{np.nanmax(receiver):.1f} dB")
    legend_outside(fig, ax=ax_nf, caption=caption, gap=0.02)
    legend_outside(fig, ax=ax_gain)
    state = step.settings.get("state")
    where = f"Y-factor, {step.settings.get('measurement_bandwidth_hz', 0) / 1e6:g} MHz, " \
            f"{step.settings.get('average_count', '')} averages" + (f", state '{state}'"
                                                                     if state else "")
    title(fig, record, step, "Noise figure", where)
    return fig


def _limits(ax: object, step: StepData, metric: str, what: str, unit: str) -> None:
    lo, hi, source = step.limit(metric)
    if hi is not None:
        draw_limit(ax, hi, limit_label(f"{what} ≤", hi, unit, source))  # type: ignore[arg-type]
    if lo is not None:
        draw_limit(ax, lo, limit_label(f"{what} ≥", lo, unit, source))  # type: ignore[arg-type]
