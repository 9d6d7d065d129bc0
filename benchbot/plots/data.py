"""What the figures need from a run record, as numpy arrays (docs/record-format.md).

`load_record` reads the summary with `benchbot.results.reader.open_record` and the arrays of
every step (axes, data datasets, traces) with plain h5py. Nothing is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchbot.results.format import METRICS, STEPS, TRACES, decode_attr, read_attrs
from benchbot.results.reader import RecordSummary, StepSummary, open_record


@dataclass(frozen=True, eq=False)
class Trace:
    """A stored trace (`traces/<name>`): x and y arrays with units and acquisition attributes."""

    name: str
    x: np.ndarray
    y: np.ndarray
    x_units: str
    y_units: str
    attrs: dict[str, Any]


@dataclass(frozen=True, eq=False)
class StepData:
    """One step group: axes, data datasets (with units), metric rows, traces."""

    summary: StepSummary
    axes: dict[str, np.ndarray]
    data: dict[str, np.ndarray]
    units: dict[str, str]
    traces: list[Trace] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """Measurement kind, e.g. ``power_sweep``."""
        return self.summary.kind

    @property
    def name(self) -> str:
        """Step name from the plan."""
        return self.summary.name

    @property
    def settings(self) -> dict[str, Any]:
        """The step's settings (plan step as stored)."""
        return self.summary.settings

    def limit(self, metric: str) -> tuple[float | None, float | None, str]:
        """(min, max, source) of ``metric``'s limit in this step (the first row that has one)."""
        for row in self.metrics(metric):
            if row.metric == metric and (row.minimum is not None or row.maximum is not None):
                return row.minimum, row.maximum, row.limit_source
        return None, None, ""

    def metrics(self, prefix: str = "") -> Iterator[MetricRow]:
        """Metric rows whose name starts with ``prefix``."""
        for row in self.summary.metrics:
            if str(row.get("metric", "")).startswith(prefix):
                yield MetricRow.from_row(row)


@dataclass(frozen=True)
class MetricRow:
    """A metrics-table row with its condition and extra decoded (None = no value/limit)."""

    metric: str
    unit: str
    value: float | None
    minimum: float | None
    maximum: float | None
    condition: dict[str, Any]
    extra: dict[str, Any]
    limit_source: str = ""  # where the limit comes from (standard clause, datasheet)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MetricRow:
        """From a reader row (NaN numbers already None)."""
        num = number_or_none
        return cls(str(row.get("metric", "")), str(row.get("unit", "")), num(row.get("value")),
                   num(row.get("min")), num(row.get("max")), json_dict(row.get("condition")),
                   json_dict(row.get("extra")), str(row.get("limit_source") or ""))

    @property
    def frequency_hz(self) -> float | None:
        """The ``frequency_hz`` condition, if any."""
        return number_or_none(self.condition.get("frequency_hz"))


@dataclass(frozen=True, eq=False)
class RecordData:
    """A run record for plotting: the reader's summary plus every step's arrays."""

    summary: RecordSummary
    steps: list[StepData]

    @property
    def path(self) -> Path:
        """The record file."""
        return self.summary.path

    @property
    def dut_label(self) -> str:
        """e.g. ``BB-PA-N78-01 s/n SIM-0001``."""
        dut = self.summary.dut
        return f"{dut.get('part_number', '?')} s/n {dut.get('serial', '?')}"

    def path_loss_table(self, role: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(frequency_hz, loss_db) of a role's path-loss table as applied in the run, or None."""
        table = self.summary.path_loss.get(role)
        if not table or "frequency_hz" not in table:
            return None
        return np.asarray(table["frequency_hz"], float), np.asarray(table["loss_db"], float)


def load_record(path: str | Path) -> RecordData:
    """Read a record (complete or `.partial`) for plotting."""
    summary = open_record(path)
    with h5py.File(summary.path, "r") as f:
        groups = f.get(STEPS, {})
        steps = [_step(groups[s.group], s) for s in summary.steps if s.group in groups]
    return RecordData(summary, steps)


def _step(group: h5py.Group, summary: StepSummary) -> StepData:
    axes: dict[str, np.ndarray] = {}
    data: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for name, obj in group.items():
        if not isinstance(obj, h5py.Dataset) or name == METRICS:
            continue
        units[name] = str(decode_attr(obj.attrs.get("units", "")))
        (axes if obj.is_scale else data)[name] = _array(obj)
    return StepData(summary, axes, data, units, _traces(group))


def _array(ds: h5py.Dataset) -> np.ndarray:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return ds.asstr()[()]
    return ds[()]


def _traces(group: h5py.Group) -> list[Trace]:
    if TRACES not in group:
        return []
    out = []
    for name, tg in group[TRACES].items():
        attrs = read_attrs(tg.attrs)
        x, y = str(attrs.get("x", "x")), str(attrs.get("y", "y"))
        if x not in tg or y not in tg:
            continue
        out.append(Trace(str(attrs.get("name", name)), tg[x][()], tg[y][()],
                         str(decode_attr(tg[x].attrs.get("units", ""))),
                         str(decode_attr(tg[y].attrs.get("units", ""))), attrs))
    return out


def number_or_none(value: Any) -> float | None:
    """The value as a float; None when missing, NaN or not a number (HDF5 attributes)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def json_dict(text: Any) -> dict[str, Any]:
    """A JSON object stored as text (or already a dict); {} for anything else."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
