"""HDF5 run records: the writer (`RunRecord`), the reader (`open_record`, `summarise`), the
labelled-array reader (`open` -> `Record` of xarray objects) and the format checker
(`check_record`).

Format: docs/record-format.md. Storage only: nothing here knows instruments or simulators.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchbot.results.check import CheckReport, Problem, check_record
from benchbot.results.format import FORMAT, FORMAT_VERSION
from benchbot.results.reader import (
    DatasetInfo,
    RecordBusyError,
    RecordFormatError,
    RecordSummary,
    StepSummary,
    TraceInfo,
    open_record,
    summarise,
)
from benchbot.results.record import RunMeta, RunRecord
from benchbot.results.step import StepWriter

if TYPE_CHECKING:
    from benchbot.results.labelled import Record


def open(path: str | Path, *, ignore_lock: bool = False) -> Record:  # noqa: A001
    """A record (`.h5` or an interrupted run's `.h5.partial`) as labelled xarray objects; see
    `benchbot.results.labelled.open_labelled` (xarray is imported on first use)."""
    from benchbot.results.labelled import open_labelled

    return open_labelled(path, ignore_lock=ignore_lock)


def __getattr__(name: str) -> Any:
    if name == "Record":  # lazily, so that writing a record never imports xarray
        from benchbot.results.labelled import Record

        return Record
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CheckReport",
    "DatasetInfo",
    "Problem",
    "Record",
    "RecordBusyError",
    "RecordFormatError",
    "RecordSummary",
    "RunMeta",
    "RunRecord",
    "StepSummary",
    "StepWriter",
    "TraceInfo",
    "check_record",
    "open",
    "open_record",
    "summarise",
]
