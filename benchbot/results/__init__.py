"""HDF5 run records: the writer (`RunRecord`), the reader (`open_record`, `summarise`).

Format: docs/record-format.md. Storage only: nothing here knows instruments or simulators.
"""

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

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DatasetInfo",
    "RecordBusyError",
    "RecordFormatError",
    "RecordSummary",
    "RunMeta",
    "RunRecord",
    "StepSummary",
    "StepWriter",
    "TraceInfo",
    "open_record",
    "summarise",
]
