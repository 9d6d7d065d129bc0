"""Render every figure a run record supports into PNG files (what `benchbot plot` runs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure

from benchbot.plots import (
    iv_record,
    modulated,
    network,
    noise_figure,
    power_sweep,
    spectrum,
)
from benchbot.plots.data import RecordData, StepData, load_record
from benchbot.plots.style import save
from benchbot.results.format import PARTIAL_SUFFIX, safe_name

FigureMaker = Callable[[RecordData, StepData], list[tuple[str, Figure]]]

#: step kind -> figure makers, in the order the figures are written
FIGURES_BY_KIND: dict[str, tuple[FigureMaker, ...]] = {
    power_sweep.KIND: (power_sweep.figures, spectrum.figures),
    modulated.KIND: (modulated.figures, spectrum.figures),
    network.KIND_S_PARAMETERS: (network.s_parameter_figures,),
    network.KIND_NETWORK_PATHS: (network.network_paths_figures,),
    noise_figure.KIND: (noise_figure.figures,),
    iv_record.KIND_TRANSFER: (iv_record.transfer_figures,),
    iv_record.KIND_OUTPUT: (iv_record.output_family_figures,),
    iv_record.KIND_LEAKAGE: (iv_record.leakage_figures,),
    iv_record.KIND_BREAKDOWN: (iv_record.breakdown_figures,),
    iv_record.KIND_PULSED: (iv_record.pulsed_iv_figures,),
}


def default_out_dir(record_path: Path) -> Path:
    """``<record stem>_plots/`` next to the record."""
    name = record_path.name.removesuffix(PARTIAL_SUFFIX).removesuffix(".h5")
    return record_path.with_name(f"{name}_plots")


def step_figures(record: RecordData, step: StepData) -> list[tuple[str, Figure]]:
    """(name, figure) of every figure of one step (none for kinds without plots)."""
    out: list[tuple[str, Figure]] = []
    for make in FIGURES_BY_KIND.get(step.kind, ()):
        out.extend(make(record, step))
    return out


def render_record(record_path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write one 150 dpi PNG per figure; returns their paths in step order.

    File names: ``<NNN>_<step>_<figure>.png`` inside ``out_dir`` (default ``<record>_plots/``).
    """
    record = load_record(record_path)
    directory = Path(out_dir) if out_dir is not None else default_out_dir(record.path)
    written = []
    for step in record.steps:
        for name, fig in step_figures(record, step):
            path = directory / f"{step.summary.group}_{safe_name(name)}.png"
            written.append(save(fig, path))
    return written
