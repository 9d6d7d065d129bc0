"""`check_record(path)`: validate a run record against docs/record-format.md (format 1.x).

Each problem names the HDF5 path it was found at and the reason. Errors break the format
(a reader or report could misread the record); warnings are allowed by the format but worth
a look (content from a newer minor version, a table row whose JSON does not parse).
Read-only: the file is opened without the HDF5 lock, so a live run can be checked too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchbot.results.format import (
    ABORTED,
    CAL_FACTORS,
    COMMITTED_AXIS,
    COMMITTED_ROWS,
    COMPLETED,
    ERROR,
    EVENT_FIELDS,
    EVENTS,
    FORMAT,
    FORMAT_VERSION,
    INCOMPLETE,
    INSTRUMENTS,
    INTERRUPTION_FIELDS,
    INTERRUPTIONS,
    METRIC_FIELDS,
    METRICS,
    PARTIAL_SUFFIX,
    PATH_LOSS,
    RUNNING,
    STEPS,
    TRACES,
    TRAFFIC,
    TRAFFIC_FIELDS,
    parse_version,
)

RUN_STATUSES = frozenset({RUNNING, COMPLETED, ABORTED, ERROR})
STEP_STATUSES = frozenset({RUNNING, COMPLETED, ABORTED, ERROR, INCOMPLETE})
#: values of benchbot.limits.Verdict (storage does not import the limits layer)
VERDICTS = frozenset({"pass", "marginal", "fail", "error", "aborted"})
EVENT_LEVELS = frozenset({"debug", "info", "warning", "error"})
_STEP_GROUP = re.compile(r"^(\d{3,})_(.+)$")
_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

# attribute kinds: "str", "int" (any integer), "int8", "float" (float64), "text_json"
ROOT_REQUIRED: tuple[tuple[str, str], ...] = (
    ("format", "str"), ("format_version", "str"), ("run_id", "str"), ("plan_name", "str"),
    ("plan_version", "str"), ("plan_sha256", "str"), ("plan_yaml", "str"), ("bench_name", "str"),
    ("bench_sha256", "str"), ("bench_yaml", "str"), ("dut_json", "json"), ("operator", "str"),
    ("tenant", "str"), ("description", "str"), ("host", "str"), ("simulated", "int8"),
    ("software_json", "json"), ("started_utc", "utc"), ("started_epoch", "float"),
    ("status", "str"),
)
ROOT_ON_CLOSE: tuple[tuple[str, str], ...] = (
    ("ended_utc", "utc"), ("ended_epoch", "float"), ("duration_s", "float"))
STEP_REQUIRED: tuple[tuple[str, str], ...] = (
    ("index", "int"), ("name", "str"), ("kind", "str"), ("settings_json", "json"),
    ("started_utc", "utc"), ("started_epoch", "float"), ("status", "str"))
STEP_ON_END: tuple[tuple[str, str], ...] = (
    ("ended_utc", "utc"), ("ended_epoch", "float"), ("verdict", "str"))
INSTRUMENT_REQUIRED: tuple[tuple[str, str], ...] = (
    ("role", "str"), ("resource", "str"), ("driver", "str"), ("options_json", "json"))


@dataclass(frozen=True)
class Problem:
    """One finding: where (HDF5 path), why, and whether it breaks the format."""

    path: str
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else "warning: "
        return f"{self.path}: {tag}{self.message}"


@dataclass
class CheckReport:
    """The result of checking one record file."""

    record: Path
    format_version: str | None = None
    steps: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Problems that break the format."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def valid(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (`benchbot results check --json`)."""
        return {"record": str(self.record), "valid": self.valid,
                "format_version": self.format_version, "steps": self.steps,
                "problems": [asdict(p) for p in self.problems]}


def check_record(path: str | Path) -> CheckReport:
    """Validate one record file (`.h5` or `.h5.partial`) against the format specification."""
    report = CheckReport(Path(path))
    try:
        file = h5py.File(report.record, "r", locking=False)
    except OSError as exc:
        report.problems.append(Problem("/", f"cannot open as HDF5: {exc}"))
        return report
    with file:
        _Checker(file, report).run()
    return report


class _Checker:
    """Walks one open record and appends problems to the report."""

    def __init__(self, file: h5py.File, report: CheckReport) -> None:
        self.f = file
        self.report = report
        self.partial = report.record.name.endswith(PARTIAL_SUFFIX)
        self.newer_minor = False

    def error(self, where: str, message: str) -> None:
        self.report.problems.append(Problem(where, message))

    def warn(self, where: str, message: str) -> None:
        self.report.problems.append(Problem(where, message, "warning"))

    # ------------------------------------------------------------------ root
    def run(self) -> None:
        if not self._version():
            return  # another format or an unknown major version: its layout is not ours
        attrs = self.f.attrs
        self._attrs("/", attrs, ROOT_REQUIRED)
        status = attrs.get("status")
        closed = isinstance(status, str) and status != RUNNING
        if isinstance(status, str) and status not in RUN_STATUSES:
            self._unknown("/", "status", status, RUN_STATUSES)
        if closed:
            self._attrs("/", attrs, ROOT_ON_CLOSE)
        elif not self.partial:
            self.error("/", "status is 'running' but the file is not a .partial: a closed "
                            "record must carry its final status")
        if "verdict" in attrs:
            self._attr_kind("/", "verdict", attrs["verdict"], "str")
            if isinstance(attrs["verdict"], str) and attrs["verdict"] not in VERDICTS:
                self._unknown("/", "verdict", attrs["verdict"], VERDICTS)
        if "simulator_seed" in attrs:
            self._attr_kind("/", "simulator_seed", attrs["simulator_seed"], "int")
        for name, text in (("plan", "plan_yaml"), ("bench", "bench_yaml")):
            digest = attrs.get(f"{name}_sha256")
            if isinstance(digest, str) and isinstance(attrs.get(text), str) and \
                    digest != hashlib.sha256(attrs[text].encode("utf-8")).hexdigest():
                self.error("/", f"{name}_sha256 does not match the SHA-256 of {text}")
        for group in (STEPS, INSTRUMENTS, PATH_LOSS, TRAFFIC):
            if not isinstance(self.f.get(group), h5py.Group):
                self.error(f"/{group}", "required group is missing")
        if EVENTS in self.f:
            self._table(f"/{EVENTS}", self.f[EVENTS], EVENT_FIELDS)
            self._event_rows()
        else:
            self.error(f"/{EVENTS}", "required events table is missing")
        if INTERRUPTIONS in self.f:
            self._table(f"/{INTERRUPTIONS}", self.f[INTERRUPTIONS], INTERRUPTION_FIELDS)
        self._instruments()
        self._path_loss()
        self._cal_factors()
        self._traffic()
        self._steps(closed)

    def _version(self) -> bool:
        attrs = self.f.attrs
        fmt = attrs.get("format")
        if fmt != FORMAT:
            self.error("/", f"attribute 'format' is {fmt!r}, expected {FORMAT!r}: not a "
                            "benchbot record")
            return False
        version = attrs.get("format_version")
        try:
            major, minor = parse_version(str(version))
        except ValueError:
            self.error("/", f"format_version {version!r} is not MAJOR.MINOR")
            return False
        self.report.format_version = str(version)
        known_major, known_minor = parse_version(FORMAT_VERSION)
        if major != known_major:
            self.error("/", f"format_version {version}: major version {major} is unknown to "
                            f"this checker (knows {known_major}.x, up to {FORMAT_VERSION}); "
                            "use a benchbot that implements it or convert the record")
            return False
        if minor > known_minor:
            self.newer_minor = True
            self.warn("/", f"format_version {version} is newer than {FORMAT_VERSION}: content "
                           "added since is not checked")
        return True

    # ------------------------------------------------------------------ attributes
    def _attrs(self, where: str, attrs: h5py.AttributeManager,
               required: tuple[tuple[str, str], ...]) -> None:
        for name, kind in required:
            if name not in attrs:
                self.error(where, f"required attribute {name!r} is missing")
            else:
                self._attr_kind(where, name, attrs[name], kind)

    def _attr_kind(self, where: str, name: str, value: Any, kind: str) -> None:
        checks: dict[str, Callable[[Any], bool]] = {
            "str": lambda v: isinstance(v, str),
            "utc": lambda v: isinstance(v, str) and bool(_UTC.match(v)),
            "json": lambda v: isinstance(v, str) and _is_json(v),
            "int": lambda v: isinstance(v, np.integer) and np.ndim(v) == 0,
            "int8": lambda v: isinstance(v, np.int8) and int(v) in (0, 1),
            "float": lambda v: isinstance(v, np.floating) and np.ndim(v) == 0,
        }
        expected = {"str": "a UTF-8 string", "utc": "an ISO 8601 UTC string "
                    "(yyyy-mm-ddThh:mm:ss.ffffffZ)", "json": "JSON text",
                    "int": "an integer", "int8": "int8 0 or 1", "float": "a float64"}
        if not checks[kind](value):
            self.error(where, f"attribute {name!r} must be {expected[kind]}, got "
                              f"{type(value).__name__} {_short(value)}")

    def _unknown(self, where: str, name: str, value: Any, known: frozenset[str]) -> None:
        report = self.warn if self.newer_minor else self.error
        report(where, f"{name} {value!r} is not one of {sorted(known)}")

    # ------------------------------------------------------------------ tables
    def _table(self, where: str, obj: Any, schema: tuple[tuple[str, str], ...]) -> bool:
        """A 1-D compound table with every field of the schema, of the right kind."""
        if not isinstance(obj, h5py.Dataset):
            self.error(where, "must be a dataset (compound table)")
            return False
        names = obj.dtype.names
        if not names:
            self.error(where, f"must be a compound table, got dtype {obj.dtype}")
            return False
        if obj.ndim != 1:
            self.error(where, f"must be 1-D, got shape {obj.shape}")
        ok = True
        for name, kind in schema:
            if name not in names:
                self.error(where, f"table field {name!r} is missing")
                ok = False
                continue
            dtype = obj.dtype[name]
            if kind == "s" and h5py.check_string_dtype(dtype) is None:
                self.error(where, f"table field {name!r} must be a UTF-8 string, got {dtype}")
                ok = False
            elif kind != "s" and dtype != np.dtype(kind):
                self.error(where, f"table field {name!r} must be {np.dtype(kind)}, got {dtype}")
                ok = False
        extra = [n for n in names if n not in {k for k, _ in schema}]
        if extra:
            self.warn(where, f"table fields {extra} are not in format {FORMAT_VERSION}")
        return ok

    def _event_rows(self) -> None:
        events = self.f[EVENTS]
        names = events.dtype.names or ()
        if "level" not in names or h5py.check_string_dtype(events.dtype["level"]) is None:
            return
        levels = {v.decode() if isinstance(v, bytes) else str(v) for v in events["level"]}
        for level in sorted(levels - EVENT_LEVELS):
            self._unknown(f"/{EVENTS}", "event level", level, EVENT_LEVELS)

    # ------------------------------------------------------------------ run-level groups
    def _instruments(self) -> None:
        group = self.f.get(INSTRUMENTS)
        if not isinstance(group, h5py.Group):
            return
        for obj in group.values():
            if not isinstance(obj, h5py.Group):
                self.error(obj.name, "an instrument must be a group of attributes")
                continue
            self._attrs(obj.name, obj.attrs, INSTRUMENT_REQUIRED)

    def _path_loss(self) -> None:
        self._calibration_tables(PATH_LOSS, "path-loss", ("loss_db",), "dB")

    def _cal_factors(self) -> None:
        self._calibration_tables(CAL_FACTORS, "cal-factor", ("cal_factor_pct",), "%",
                                 optional=("uncertainty_pct",))

    def _calibration_tables(self, where: str, what: str, columns: tuple[str, ...], units: str,
                            optional: tuple[str, ...] = ()) -> None:
        """Each `<where>/<role>` group: role/source/sha256 attributes, a `frequency` scale in
        Hz, the value columns in `units` over it, and `sha256` of frequency then the columns."""
        group = self.f.get(where)
        if not isinstance(group, h5py.Group):
            return
        for obj in group.values():
            if not isinstance(obj, h5py.Group):
                self.error(obj.name, f"a {what} table must be a group")
                continue
            self._attrs(obj.name, obj.attrs, (("role", "str"), ("source", "str"),
                                              ("sha256", "str")))
            scales = self._scales(obj)
            if "frequency" not in scales:
                self.error(f"{obj.name}/frequency", "required dimension scale is missing")
            elif scales["frequency"].attrs.get("units") != "Hz":
                self.error(f"{obj.name}/frequency", "units must be 'Hz'")
            present = [c for c in columns + optional if isinstance(obj.get(c), h5py.Dataset)]
            missing = [c for c in columns if c not in present]
            for name in missing:
                self.error(f"{obj.name}/{name}", "required dataset is missing")
            for name in present:
                self._data(obj[name], scales)
                if obj[name].attrs.get("units") != units:
                    self.error(obj[name].name, f"units must be {units!r}")
            freq, digest = obj.get("frequency"), obj.attrs.get("sha256")
            if missing or not isinstance(freq, h5py.Dataset) or not isinstance(digest, str) or \
                    any(obj[c].shape != freq.shape for c in present):
                continue
            data = b"".join(np.asarray(d[()], "<f8").tobytes()
                            for d in [freq, *(obj[c] for c in present)])
            if digest != hashlib.sha256(data).hexdigest():
                names = " and ".join(["frequency", *present])
                self.error(obj.name, f"sha256 does not match the {names} values")

    def _traffic(self) -> None:
        group = self.f.get(TRAFFIC)
        if not isinstance(group, h5py.Group):
            return
        for obj in group.values():
            if self._table(obj.name, obj, TRAFFIC_FIELDS):
                self._attrs(obj.name, obj.attrs, (("role", "str"), ("time_units", "str")))

    # ------------------------------------------------------------------ steps
    def _steps(self, closed: bool) -> None:
        group = self.f.get(STEPS)
        if not isinstance(group, h5py.Group):
            return
        for key, obj in group.items():
            where = obj.name
            if not isinstance(obj, h5py.Group):
                self.error(where, "a step must be a group")
                continue
            self.report.steps += 1
            match = _STEP_GROUP.match(key)
            if not match:
                self.error(where, "step group name must be <NNN>_<step name>")
            attrs = obj.attrs
            self._attrs(where, attrs, STEP_REQUIRED)
            index = attrs.get("index")
            if match and isinstance(index, np.integer) and int(index) != int(match[1]):
                self.error(where, f"attribute 'index' is {int(index)} but the group name says "
                                  f"{int(match[1])}")
            status = attrs.get("status")
            if isinstance(status, str) and status not in STEP_STATUSES:
                self._unknown(where, "step status", status, STEP_STATUSES)
            ended = isinstance(status, str) and status != RUNNING
            if status == RUNNING and closed:
                self.error(where, "step still 'running' in a closed record (the writer marks "
                                  "open steps 'incomplete' or with the run's status)")
            if ended:
                self._attrs(where, attrs, STEP_ON_END)
                verdict = attrs.get("verdict")
                if isinstance(verdict, str) and verdict and verdict not in VERDICTS:
                    self._unknown(where, "step verdict", verdict, VERDICTS)
            self._committed_rows(obj)
            self._step_content(obj, ended)

    def _committed_rows(self, group: h5py.Group) -> None:
        """`committed_rows` (1.1): unique non-negative int64 leading indices of the step's data."""
        rows = group.attrs.get(COMMITTED_ROWS)
        if rows is None:
            return
        arr = np.asarray(rows)
        if arr.ndim != 1 or arr.dtype != np.int64:
            self.error(group.name, f"attribute {COMMITTED_ROWS!r} must be a 1-D int64 array, got "
                                   f"{arr.dtype} {arr.shape}")
            return
        axis = group.attrs.get(COMMITTED_AXIS)
        scale = group.get(axis) if isinstance(axis, str) else None
        if not isinstance(scale, h5py.Dataset) or not scale.is_scale:
            self.error(group.name, f"attribute {COMMITTED_AXIS!r} ({axis!r}) must name an axis "
                                   "of the step")
            return
        bad = [int(r) for r in arr if r < 0 or r >= scale.shape[0]]
        if bad or len(set(arr.tolist())) != arr.size:
            self.error(group.name, f"attribute {COMMITTED_ROWS!r} holds rows {bad or 'twice'} "
                                   "outside the step's data")

    def _step_content(self, group: h5py.Group, ended: bool) -> None:
        scales = self._scales(group)
        for name, obj in group.items():
            if name in (METRICS, TRACES) or name in scales:
                continue
            if isinstance(obj, h5py.Dataset):
                self._data(obj, scales)
            else:
                self.warn(obj.name, f"group {name!r} is not part of a step in format "
                                    f"{FORMAT_VERSION}")
        if METRICS in group:
            if self._table(f"{group.name}/{METRICS}", group[METRICS], METRIC_FIELDS):
                self._metric_rows(group[METRICS])
        elif ended:
            self.error(f"{group.name}/{METRICS}", "an ended step must have its metrics table "
                                                  "(empty if nothing was evaluated)")
        if TRACES in group:
            traces = group[TRACES]
            if not isinstance(traces, h5py.Group):
                self.error(traces.name, "traces must be a group of trace groups")
            else:
                for trace in traces.values():
                    self._trace(trace)

    def _scales(self, group: h5py.Group) -> dict[str, h5py.Dataset]:
        """The group's dimension scales (checked: 1-D, float64 or string, units/long_name)."""
        scales: dict[str, h5py.Dataset] = {}
        for name, obj in group.items():
            if not isinstance(obj, h5py.Dataset) or not obj.is_scale:
                continue
            scales[name] = obj
            if obj.ndim != 1:
                self.error(obj.name, f"a dimension scale must be 1-D, got shape {obj.shape}")
            if obj.dtype != np.float64 and h5py.check_string_dtype(obj.dtype) is None:
                self.error(obj.name, f"an axis must be float64 or UTF-8 strings, got "
                                     f"{obj.dtype}")
            if not isinstance(obj.attrs.get("units"), str):
                self.error(obj.name, "axis has no 'units' attribute")
        return scales

    def _data(self, ds: h5py.Dataset, scales: Mapping[str, h5py.Dataset]) -> None:
        """A data dataset: float64, units and long_name, every dimension attached to a scale
        of its own group with the dimension's length."""
        if ds.dtype != np.float64:
            self.error(ds.name, f"a data dataset must be float64, got {ds.dtype}")
        if not isinstance(ds.attrs.get("units"), str):
            self.error(ds.name, "data dataset has no 'units' attribute")
        if not isinstance(ds.attrs.get("long_name"), str):
            self.error(ds.name, "data dataset has no 'long_name' attribute")
        for k, dim in enumerate(ds.dims):
            self._dim(ds, k, dim, scales)

    def _dim(self, ds: h5py.Dataset, k: int, dim: Any, scales: Mapping[str, h5py.Dataset]
             ) -> None:
        if len(dim) == 0:
            self.error(ds.name, f"dimension {k} is not attached to a dimension scale")
            return
        if len(dim) > 1:
            self.error(ds.name, f"dimension {k} is attached to {len(dim)} scales (one expected)")
        scale = dim[0]
        name = str(scale.name).rsplit("/", 1)[-1]
        if scales.get(name) is None or scales[name].id != scale.id:
            self.error(ds.name, f"dimension {k} is attached to {scale.name}, which is not an "
                                f"axis of {ds.parent.name}")
        if scale.ndim != 1 or scale.shape[0] != ds.shape[k]:
            self.error(ds.name, f"dimension {k} has length {ds.shape[k]} but its scale "
                                f"{name!r} has shape {scale.shape}")

    def _metric_rows(self, table: h5py.Dataset) -> None:
        rows = table[()]
        for i, row in enumerate(rows):
            verdict = _text(row["verdict"])
            if verdict and verdict not in VERDICTS:
                self._unknown(f"{table.name}[{i}]", "verdict", verdict, VERDICTS)
            for name in ("condition", "extra"):
                text = _text(row[name])
                if text and not _is_json(text):
                    self.warn(f"{table.name}[{i}]", f"field {name!r} is not JSON: "
                                                    f"{_short(text)}")

    def _trace(self, group: Any) -> None:
        where = group.name
        if not isinstance(group, h5py.Group):
            self.error(where, "a trace must be a group")
            return
        self._attrs(where, group.attrs, (("name", "str"), ("x", "str"), ("y", "str")))
        x_name, y_name = group.attrs.get("x"), group.attrs.get("y")
        if not isinstance(x_name, str) or not isinstance(y_name, str):
            return
        x, y = group.get(x_name), group.get(y_name)
        if not isinstance(x, h5py.Dataset):
            self.error(f"{where}/{x_name}", "trace x dataset (attribute 'x') is missing")
            return
        if not isinstance(y, h5py.Dataset):
            self.error(f"{where}/{y_name}", "trace y dataset (attribute 'y') is missing")
            return
        if not x.is_scale or x.ndim != 1:
            self.error(x.name, "trace x must be a 1-D dimension scale")
            return
        if not isinstance(x.attrs.get("units"), str):
            self.error(x.name, "trace x has no 'units' attribute")
        if not isinstance(y.attrs.get("units"), str):
            self.error(y.name, "trace y has no 'units' attribute")
        if y.ndim < 1:
            self.error(y.name, "trace y must have at least one dimension")
            return
        names = y.dtype.names
        if y.dtype.kind != "f" and names != ("r", "i"):
            self.error(y.name, f"trace y must be float32/float64 or compound {{r, i}}, got "
                               f"{y.dtype}")
        self._dim(y, 0, y.dims[0], {x_name: x})


def check_records(paths: list[str | Path]) -> list[CheckReport]:
    """`check_record` for each path, in order."""
    return [check_record(p) for p in paths]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _short(value: Any, n: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."
