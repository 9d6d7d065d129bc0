"""What a lab engineer sees in the terminal: live progress, the verdict table, summaries."""

from __future__ import annotations

import math

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from benchbot.limits import MetricResult, Verdict

VERDICT_STYLE = {
    Verdict.PASS: "bold green",
    Verdict.MARGINAL: "bold yellow",
    Verdict.FAIL: "bold red",
    Verdict.ERROR: "bold magenta",
    Verdict.ABORTED: "bold magenta",
}


class RichProgress:
    """Engine progress listener: one bar for the steps, one for the points of the step."""

    def __init__(self, console: Console, total_steps: int) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=False,
        )
        self._steps = self.progress.add_task("steps", total=total_steps)
        self._points: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def step_started(self, index: int, name: str, total_points: int) -> None:
        self._points = self.progress.add_task(f"  {name} points", total=total_points)

    def point_done(self, index: int) -> None:
        if self._points is not None:
            self.progress.advance(self._points)

    def step_finished(self, index: int, name: str, verdict: Verdict) -> None:
        self.progress.advance(self._steps)

    def message(self, text: str) -> None:
        self.progress.console.print(text)


def verdict_text(verdict: Verdict) -> str:
    return f"[{VERDICT_STYLE[verdict]}]{verdict.value.upper()}[/]"


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value != 0 and abs(value) < 10.0 ** -digits:  # leakage currents: never "0.00"
        return f"{value:.3g}"
    return f"{value:.{digits}f}"


def _condition(result: MetricResult) -> str:
    parts = []
    for key, value in result.condition.items():
        if key == "frequency_hz":
            parts.append(f"{value / 1e9:.3f} GHz")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts) or "whole step"


#: units shown scaled in the console (the record keeps SI units): unit → (shown as, factor)
DISPLAY_UNITS = {"Hz": ("MHz", 1e-6)}


def _shown(unit: str) -> tuple[str, float]:
    return DISPLAY_UNITS.get(unit, (unit, 1.0))


def _limit_text(result: MetricResult) -> str:
    limit = result.limit
    if limit is None or (limit.min is None and limit.max is None):
        return "—"
    k = _shown(result.unit)[1]
    if limit.min is not None and limit.max is not None:
        return f"{limit.min * k:g} … {limit.max * k:g}"
    return f"≥ {limit.min * k:g}" if limit.min is not None else f"≤ {limit.max * k:g}"


#: more conditions than this (e.g. switch states x paths) are listed as rows, not columns
MAX_CONDITION_COLUMNS = 6


def metrics_tables(results: list[MetricResult]) -> list[Table]:
    """One table per step: a row per metric, a column per condition (e.g. frequency); with
    more than :data:`MAX_CONDITION_COLUMNS` conditions, a row per condition and metric."""
    tables = []
    for step in dict.fromkeys(r.step for r in results):
        rows = [r for r in results if r.step == step]
        conditions = list(dict.fromkeys(_condition(r) for r in rows))
        worst = max(r.verdict for r in rows if r.limit is not None) if any(
            r.limit is not None for r in rows) else None
        title = f"step {step}" + (f" — {verdict_text(worst)}" if worst else "")
        table = Table(title=title, header_style="bold", title_justify="left")
        if len(conditions) > MAX_CONDITION_COLUMNS:
            _long_rows(table, rows)
        else:
            _wide_rows(table, rows, conditions)
        sources = {r.metric: r.limit.source for r in rows if r.limit is not None and r.limit.source}
        if sources:
            table.caption = "limit sources: " + "; ".join(f"{m}: {s}" for m, s in sources.items())
            table.caption_justify = "left"
        tables.append(table)
    return tables


def _wide_rows(table: Table, rows: list[MetricResult], conditions: list[str]) -> None:
    table.add_column("metric", no_wrap=True)
    table.add_column("unit")
    table.add_column("limit", justify="right", no_wrap=True)
    for condition in conditions:
        table.add_column(condition, justify="right")
    for metric in dict.fromkeys(r.metric for r in rows):
        cells = {_condition(r): r for r in rows if r.metric == metric}
        first = next(iter(cells.values()))
        table.add_row(metric, _shown(first.unit)[0], _limit_text(first),
                      *(_cell(cells.get(c)) for c in conditions))


def _long_rows(table: Table, rows: list[MetricResult]) -> None:
    table.add_column("condition", no_wrap=True)
    table.add_column("metric", no_wrap=True)
    table.add_column("unit")
    table.add_column("limit", justify="right", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("note")
    for r in sorted(rows, key=lambda r: _condition(r) == "whole step"):  # stable: plan order
        table.add_row(_condition(r), r.metric, _shown(r.unit)[0], _limit_text(r), _cell(r),
                      r.note)


def _cell(result: MetricResult | None) -> str:
    if result is None:
        return ""
    text = _fmt(result.value * _shown(result.unit)[1])
    if result.limit is None:
        return text
    return f"[{VERDICT_STYLE[result.verdict]}]{text}[/]" + (
        "" if result.verdict is Verdict.PASS else f" {result.verdict.value}")
