"""The benchbot run-record format: names, versions, table schemas and attribute codecs.

Shared by the writer (`record.py`) and the reader (`reader.py`); see docs/record-format.md.
Nothing here opens a file.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import h5py
import numpy as np

FORMAT = "benchbot.record"
FORMAT_VERSION = "1.1"  # 1.1: /interruptions, steps' committed_rows (resume)
PARTIAL_SUFFIX = ".partial"

STEPS = "steps"
INSTRUMENTS = "instruments"
PATH_LOSS = "calibration/path_loss"
#: the power sensors' cal-factor tables as loaded into the meters (1.1)
CAL_FACTORS = "calibration/cal_factors"
EVENTS = "events"
TRAFFIC = "traffic"
METRICS = "metrics"
TRACES = "traces"
INTERRUPTIONS = "interruptions"
#: step attribute: the leading indices (rows) committed so far, written with the flush that makes
#: them durable; what `benchbot run --resume` keeps of an interrupted step
COMMITTED_ROWS = "committed_rows"
#: step attribute: the axis `committed_rows` index (the step's first declared axis)
COMMITTED_AXIS = "committed_axis"

# Run and step status values. "interrupted" is never written: readers report it for a
# `.partial` file (or a step in one) whose stored status is still "running".
RUNNING = "running"
COMPLETED = "completed"
ABORTED = "aborted"
ERROR = "error"
INCOMPLETE = "incomplete"
INTERRUPTED = "interrupted"

_STR = h5py.string_dtype("utf-8")

# (field, numpy dtype) of the compound tables. "s" = variable-length UTF-8 string.
METRIC_FIELDS: tuple[tuple[str, str], ...] = (
    ("metric", "s"), ("unit", "s"), ("value", "f8"), ("condition", "s"), ("min", "f8"),
    ("max", "f8"), ("marginal", "f8"), ("limit_source", "s"), ("verdict", "s"), ("margin", "f8"),
    ("method", "s"), ("note", "s"), ("extra", "s"),
)
EVENT_FIELDS: tuple[tuple[str, str], ...] = (
    ("time_utc", "s"), ("time", "f8"), ("level", "s"), ("step", "s"), ("message", "s"),
)
INTERRUPTION_FIELDS: tuple[tuple[str, str], ...] = (
    ("interrupted_status", "s"), ("last_activity_utc", "s"), ("last_activity", "f8"),
    ("resumed_utc", "s"), ("resumed", "f8"), ("step", "s"), ("rows_kept", "i8"),
    ("note", "s"),
)
TRAFFIC_FIELDS: tuple[tuple[str, str], ...] = (("time", "f8"), ("direction", "s"), ("text", "s"))

_NAME_OK = re.compile(r"[^A-Za-z0-9_.+-]+")


def table_dtype(fields: Iterable[tuple[str, str]]) -> np.dtype:
    """Compound dtype for a table schema (strings as variable-length UTF-8)."""
    return np.dtype([(name, _STR if kind == "s" else np.dtype(kind)) for name, kind in fields])


def parse_version(text: str) -> tuple[int, int]:
    """'1.0' -> (1, 0); raises ValueError on anything else."""
    major, _, minor = str(text).partition(".")
    return int(major), int(minor or 0)


def utc_iso(epoch: float) -> str:
    """Unix epoch seconds -> ISO 8601 UTC with microseconds and a 'Z' suffix."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_compact(epoch: float) -> str:
    """Unix epoch seconds -> 'yyyymmddThhmmssZ' (file names)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%dT%H%M%SZ")


def safe_name(text: str, fallback: str = "unnamed") -> str:
    """A file/group-name-safe token: runs of other characters become '_'."""
    cleaned = _NAME_OK.sub("_", str(text)).strip("_.")
    return cleaned or fallback


def to_text(value: Any) -> str:
    """Text for a string column/attribute: enums by name, mappings/lists as JSON, None as ''."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return enum_text(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return to_json(value)
    return str(value)


def enum_text(value: enum.Enum) -> str:
    """A string-valued enum (e.g. a StrEnum verdict) by its value, any other enum by its name."""
    return value.value if isinstance(value.value, str) else value.name


def to_float(value: Any) -> float:
    """Float for a numeric column: None -> NaN."""
    return math.nan if value is None else float(value)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, enum.Enum):
        return enum_text(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, datetime):
        return obj.isoformat()
    return str(obj)


def to_json(value: Any) -> str:
    """Compact, key-sorted JSON; numpy scalars/arrays, enums and datetimes are converted."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def to_attr(value: Any) -> Any:
    """An HDF5-portable attribute value, or None when the value should not be written.

    str -> UTF-8 string; bool -> int8 0/1 (no HDF5 enum); int -> int64; float -> float64;
    enum -> its name; a flat list of numbers -> float64/int64 array; anything else -> JSON text.
    """
    if value is None:
        return None
    if isinstance(value, str | enum.Enum | bytes):
        return to_text(value)
    if isinstance(value, bool | np.bool_):
        return np.int8(bool(value))
    if isinstance(value, int | np.integer):
        return np.int64(value)
    if isinstance(value, float | np.floating):
        return np.float64(value)
    if isinstance(value, list | tuple | np.ndarray):
        arr = np.asarray(value)
        if arr.ndim == 1 and arr.size and arr.dtype.kind in "if":
            return arr.astype(np.float64 if arr.dtype.kind == "f" else np.int64)
    return to_json(value)


def set_attrs(attrs: h5py.AttributeManager, values: Mapping[str, Any], prefix: str = "") -> None:
    """Write each item as `<prefix><key>` through `to_attr` (None values are skipped)."""
    for key, value in values.items():
        converted = to_attr(value)
        if converted is not None:
            attrs[f"{prefix}{key}"] = converted


def decode_attr(value: Any) -> Any:
    """An attribute as plain Python: bytes -> str, numpy scalars -> Python, arrays -> lists."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [decode_attr(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_attrs(attrs: h5py.AttributeManager) -> dict[str, Any]:
    """All attributes of an object, decoded."""
    return {key: decode_attr(attrs[key]) for key in attrs}


def prefixed(values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The items of `values` whose key starts with `prefix`, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}


def table_rows(data: np.ndarray) -> list[dict[str, Any]]:
    """A compound-table array as a list of dicts with str/float values."""
    names = data.dtype.names or ()
    return [{name: decode_attr(row[name]) for name in names} for row in data]
