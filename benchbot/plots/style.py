"""One look for every benchbot figure: Agg canvas, grid, titles, dashed red limits, 150 dpi PNG.

Figures are built on `matplotlib.figure.Figure` with an Agg canvas, never through pyplot: no
global figure registry, no GUI backend, safe in a CLI or a test worker.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from benchbot.plots.data import RecordData, StepData

DPI = 150
FOOTER_HEIGHT = 0.035  # figure fraction kept free at the bottom for the provenance line
LIMIT_STYLE = {"color": "tab:red", "linestyle": (0, (6, 3)), "linewidth": 1.4}
#: one colour per carrier frequency, in sweep order (colour-blind-friendly Okabe-Ito subset)
FREQUENCY_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")


def new_figure(width_in: float = 9.0, height_in: float = 5.4, ncols: int = 1,
               sharey: bool = False) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure on an Agg canvas with ``ncols`` gridded axes."""
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    fig.get_layout_engine().set(rect=(0.0, FOOTER_HEIGHT, 1.0, 1.0 - FOOTER_HEIGHT))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, sharey=sharey, squeeze=False)[0].tolist()
    for ax in axes:
        ax.grid(True, which="major", alpha=0.45)
        ax.grid(True, which="minor", alpha=0.15)
        ax.minorticks_on()
    return fig, axes


def frequency_color(index: int) -> str:
    """Colour of the ``index``-th carrier frequency of a step."""
    return FREQUENCY_COLORS[index % len(FREQUENCY_COLORS)]


def frequency_label(frequency_hz: float) -> str:
    """``3550 MHz`` (or ``3550.5 MHz``)."""
    return f"{frequency_hz / 1e6:.6g} MHz"


def frequencies_text(frequencies_hz: Sequence[float]) -> str:
    """``3300 / 3550 / 3800 MHz``."""
    return " / ".join(f"{f / 1e6:.6g}" for f in frequencies_hz) + " MHz"


LEGEND_WIDTH_CHARS = 46


def wrap(text: str, width: int = LEGEND_WIDTH_CHARS) -> str:
    """Wrap long legend text (sources) so the legend stays narrow."""
    return "\n".join(textwrap.fill(line, width) for line in text.splitlines())


def limit_label(what: str, value: float, unit: str, source: str = "") -> str:
    """Legend text of a limit line, with its source (wrapped) when known."""
    sep = "" if unit in ("°", "") else " "
    text = f"limit {what} {value:g}{sep}{unit}"
    return wrap(f"{text}\n({source})") if source else text


def draw_limit(ax: Axes, y: float, label: str) -> Line2D:
    """A horizontal limit line (dashed red) across the axes."""
    return ax.axhline(y, label=label, zorder=4, **LIMIT_STYLE)


def shade_fail_above(ax: Axes, y: float) -> Patch:
    """Light red band from a maximum-type limit line up to the top of the (final) y range."""
    bottom, top = ax.get_ylim()
    patch = ax.axhspan(y, max(top, y), color="tab:red", alpha=0.07, linewidth=0, zorder=0,
                       label="fails the limit")
    ax.set_ylim(bottom, top)
    return patch


def title(fig: Figure, record: RecordData, step: StepData, what: str, where: str) -> None:
    """Title naming the DUT, the step and the frequencies; provenance line underneath."""
    fig.suptitle(f"{what}\n{record.dut_label} · step '{step.name}' · {where}",
                 fontsize=11, fontweight="bold")
    s = record.summary
    sim = "SIMULATED bench" if s.simulated else "hardware bench"
    status = "" if s.status == "completed" else f" — status {s.status.upper()}"
    fig.text(0.5, 0.004, f"{record.path.name} · run {s.run_id[:8]} · {s.started_utc or ''} · "
             f"{sim}{status}", ha="center", va="bottom", fontsize=7, color="0.35")


def legend_outside(fig: Figure, handles: Sequence[object] | None = None,
                   labels: Sequence[str] | None = None, ax: Axes | None = None,
                   caption: str = "", gap: float = 0.02) -> None:
    """Legend to the right of ``ax`` (default: the right-most axes) so it never covers data.

    It is an axes legend anchored outside the axes, so constrained layout makes room for it
    below the figure title; ``caption`` (reference plane, verdict...) is the legend title.
    ``gap`` (axes fraction) clears a right-hand twin axis's tick labels.
    """
    anchor = ax if ax is not None else fig.axes[-1]
    if handles is None:
        handles, labels = anchor.get_legend_handles_labels()
    if not handles:
        return
    legend = anchor.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0 + gap, 1.0),
                           borderaxespad=0.0, fontsize=8, framealpha=0.9,
                           title=wrap(caption) if caption else None, title_fontsize=8,
                           alignment="left")
    legend.get_title().set_multialignment("left")


def save(fig: Figure, path: Path) -> Path:
    """Write a 150 dpi PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def finite(values: Sequence[float]) -> list[float]:
    """The finite numbers of a sequence."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]
