"""A run record as labelled arrays: `open_labelled(path)` -> `Record` of xarray objects.

Every data dataset of a step becomes a `DataArray` over its named axes (the HDF5 dimension
scales) with `units` / `long_name` attributes; the step's attributes become the Dataset's.
Step groups, traces and path-loss tables are read with xarray's h5netcdf engine (the record's
dimension scales are netCDF-4 dimensions); a group h5netcdf refuses (e.g. a multi-dimensional
trace whose further dimensions have no scale) is built from h5py instead. Compound tables
(metrics, events, traffic) are built from h5py as Datasets over a row dimension.

Everything is read eagerly and the file is closed: a `Record` holds no file handle.
Format: docs/record-format.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xarray as xr

from benchbot.results.format import (
    CAL_FACTORS,
    EVENT_FIELDS,
    EVENTS,
    FORMAT,
    FORMAT_VERSION,
    INSTRUMENTS,
    INTERRUPTED,
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
    decode_attr,
    parse_version,
    read_attrs,
)
from benchbot.results.reader import RecordBusyError, RecordFormatError

#: HDF5 dimension-scale bookkeeping attributes: not user content, never copied to xarray attrs
_DIMSCALE_ATTRS = frozenset({"CLASS", "NAME", "DIMENSION_LIST", "REFERENCE_LIST",
                             "_Netcdf4Dimid", "_Netcdf4Coordinates", "_nc3_strict"})


@dataclass
class Record:
    """One run record as labelled arrays (see `open_labelled`)."""

    path: Path
    partial: bool  # a `.partial` file: the writer never closed it
    format_version: str
    status: str  # stored root status, or "interrupted" for a `.partial` still "running"
    stored_status: str
    meta: dict[str, Any]  # every root attribute, decoded (plan/bench YAML included)
    steps: dict[str, xr.Dataset]  # step group name ("000_compression") -> its data
    metrics: dict[str, xr.Dataset]  # step group name -> metrics table over dim "metric_row"
    traces: dict[str, dict[str, xr.DataArray]]  # step group name -> trace name -> y over x
    events: xr.Dataset  # the /events table over dim "event"
    instruments: dict[str, dict[str, Any]]  # role -> attributes
    path_loss: dict[str, xr.DataArray]  # role -> loss_db over frequency (attrs: source, sha256)
    traffic: dict[str, xr.Dataset]  # role -> SCPI traffic table over dim "message"
    #: the /interruptions table (1.1) over dim "interruption": empty for a run never resumed
    interruptions: xr.Dataset | None = None
    #: power meter role -> its sensor's cal factors (%) over frequency, as loaded (1.1)
    cal_factors: dict[str, xr.Dataset] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        """True when the run did not end through the writer's `close()`."""
        return self.partial or self.status == INTERRUPTED

    def step(self, name: str) -> xr.Dataset:
        """A step's Dataset by group name ("000_compression") or step name ("compression")."""
        if name in self.steps:
            return self.steps[name]
        found = [ds for ds in self.steps.values() if ds.attrs.get("name") == name]
        if len(found) != 1:
            raise KeyError(f"{name!r}: {'no' if not found else 'several'} steps of that name; "
                           f"groups: {sorted(self.steps)}")
        return found[0]


def open_labelled(path: str | Path, *, ignore_lock: bool = False) -> Record:
    """Read a record (`.h5`, or the `.h5.partial` of an interrupted run) as xarray objects.

    Raises `RecordFormatError` for a non-benchbot file or an unknown major format version,
    `RecordBusyError` while a live writer holds the file lock (`ignore_lock=True` reads a
    best-effort snapshot of what was flushed).
    """
    p = Path(path)
    try:
        file = h5py.File(p, "r", locking=False) if ignore_lock else h5py.File(p, "r")
    except BlockingIOError as exc:
        raise RecordBusyError(f"{p} is open for writing by a running process") from exc
    with file:
        meta = read_attrs(file.attrs)
        version, warnings = _check_version(meta, p)
        partial = p.name.endswith(PARTIAL_SUFFIX)
        stored = str(meta.get("status", RUNNING))
        interrupted = partial and stored == RUNNING
        if interrupted:
            warnings.append("interrupted: the writer never closed this record; it holds what "
                            "was flushed before the interruption")
        groups = [g for g in file[STEPS].values() if isinstance(g, h5py.Group)] \
            if STEPS in file else []
        groups.sort(key=lambda g: (int(decode_attr(g.attrs.get("index", -1))), g.name))
        steps: dict[str, xr.Dataset] = {}
        metrics: dict[str, xr.Dataset] = {}
        traces: dict[str, dict[str, xr.DataArray]] = {}
        for g in groups:
            key = g.name.rsplit("/", 1)[-1]
            steps[key] = _step_dataset(g, partial)
            metrics[key] = _table(g[METRICS], "metric_row", METRIC_FIELDS) if METRICS in g \
                else _table(None, "metric_row", METRIC_FIELDS)
            traces[key] = _traces(g)
        events = _table(file.get(EVENTS), "event", EVENT_FIELDS)
        interruptions = _table(file.get(INTERRUPTIONS), "interruption", INTERRUPTION_FIELDS)
        instruments = ({name: read_attrs(g.attrs) for name, g in file[INSTRUMENTS].items()}
                       if INSTRUMENTS in file else {})
        path_loss = ({role: _path_loss(g) for role, g in file[PATH_LOSS].items()
                      if isinstance(g, h5py.Group) and "loss_db" in g}
                     if PATH_LOSS in file else {})
        cal_factors = ({role: _cal_factors(g) for role, g in file[CAL_FACTORS].items()
                        if isinstance(g, h5py.Group) and "cal_factor_pct" in g}
                       if CAL_FACTORS in file else {})
        traffic = ({role: _table(ds, "message", TRAFFIC_FIELDS)
                    for role, ds in file[TRAFFIC].items() if isinstance(ds, h5py.Dataset)}
                   if TRAFFIC in file else {})
    return Record(path=p, partial=partial, format_version=version,
                  status=INTERRUPTED if interrupted else stored, stored_status=stored,
                  meta=meta, steps=steps, metrics=metrics, traces=traces, events=events,
                  instruments=instruments, path_loss=path_loss, traffic=traffic,
                  interruptions=interruptions, cal_factors=cal_factors, warnings=warnings)


def _check_version(meta: Mapping[str, Any], path: Path) -> tuple[str, list[str]]:
    """The record's format version and warnings; refuses other formats and unknown majors."""
    if meta.get("format") != FORMAT:
        raise RecordFormatError(f"{path} is not a {FORMAT} file (format={meta.get('format')!r})")
    version = str(meta.get("format_version", ""))
    try:
        major, minor = parse_version(version)
    except ValueError:
        raise RecordFormatError(f"{path}: unreadable format_version {version!r}") from None
    known_major, known_minor = parse_version(FORMAT_VERSION)
    if major != known_major:
        raise RecordFormatError(f"{path}: format_version {version} has major version {major}; "
                                f"this reader knows {known_major}.x only")
    if minor > known_minor:
        return version, [f"format_version {version} is newer than {FORMAT_VERSION}; "
                         "unknown content ignored"]
    return version, []


def _open_group(file: h5py.File, group: str) -> xr.Dataset | None:
    """A group through xarray's h5netcdf engine, loaded into memory; None if it refuses.
    h5netcdf wraps the already open h5py file (a second open with other lock flags fails)."""
    import h5netcdf

    try:
        with h5netcdf.File(file, "r", phony_dims="access") as nc:
            store = xr.backends.H5NetCDFStore(nc, group=group)
            with xr.open_dataset(store, decode_times=False, decode_timedelta=False,
                                 mask_and_scale=False) as ds:
                return ds.load()
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """User attributes of an HDF5 object, decoded, without dimension-scale bookkeeping."""
    return {k: decode_attr(v) for k, v in obj.attrs.items() if k not in _DIMSCALE_ATTRS}


def _dim_names(ds: h5py.Dataset) -> tuple[str, ...]:
    """The names of the scales attached to each dimension (`<name>_dim<k>` where none is)."""
    names = []
    for k, dim in enumerate(ds.dims):
        names.append(str(dim[0].name).rsplit("/", 1)[-1] if len(dim) else
                     f"{ds.name.rsplit('/', 1)[-1]}_dim{k}")
    return tuple(names)


def _values(ds: h5py.Dataset) -> np.ndarray:
    """A dataset's values; variable-length strings as `str`."""
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.asarray(ds.asstr()[()], dtype=object)
    return ds[()]


def _from_h5py(group: h5py.Group, skip: frozenset[str] = frozenset()) -> xr.Dataset:
    """A group's scales (as coordinates) and other datasets (as variables) built with h5py."""
    coords: dict[str, xr.Variable] = {}
    data: dict[str, xr.Variable] = {}
    for name, obj in group.items():
        if not isinstance(obj, h5py.Dataset) or name in skip or obj.dtype.names and \
                obj.dtype.names != ("r", "i"):
            continue
        if obj.is_scale and obj.ndim == 1:
            coords[name] = xr.Variable((name,), _values(obj), _attrs(obj))
        else:
            data[name] = xr.Variable(_dim_names(obj), _values(obj), _attrs(obj))
    return xr.Dataset(data, coords=coords, attrs=_attrs(group))


def _step_dataset(group: h5py.Group, partial: bool) -> xr.Dataset:
    """A step group: data variables over their axes, step attributes as Dataset attrs."""
    ds = _open_group(group.file, group.name)
    if ds is None:
        ds = _from_h5py(group, skip=frozenset({METRICS}))
        ds.encoding["benchbot_reader"] = "h5py"
    else:
        ds = ds.drop_vars([METRICS], errors="ignore")
        ds = ds.drop_dims([d for d in ds.dims if str(d).startswith("phony_dim")],
                          errors="ignore")
        ds.attrs = {k: decode_attr(v) for k, v in ds.attrs.items()}
        ds.encoding["benchbot_reader"] = "h5netcdf"
    ds.attrs["group"] = group.name.rsplit("/", 1)[-1]
    status = str(ds.attrs.get("status", RUNNING))
    if partial and status == RUNNING:  # a step the interruption left open
        ds.attrs["stored_status"] = status
        ds.attrs["status"] = INTERRUPTED
    return ds


def _traces(step: h5py.Group) -> dict[str, xr.DataArray]:
    """`<step>/traces/<name>` -> y over x (attrs: y's units/long_name + the group's attrs)."""
    if TRACES not in step:
        return {}
    out: dict[str, xr.DataArray] = {}
    for key, g in step[TRACES].items():
        attrs = _attrs(g)
        x, y = str(attrs.get("x", "x")), str(attrs.get("y", "y"))
        if x not in g or y not in g:
            continue
        ds = _open_group(g.file, g.name)
        if ds is None or y not in ds:
            ds = _from_h5py(g)
        da = ds[y]
        da.attrs = {**attrs, **{k: decode_attr(v) for k, v in da.attrs.items()}}
        da.name = str(attrs.get("name", key))
        out[da.name] = da
    return out


def _path_loss(group: h5py.Group) -> xr.DataArray:
    """`/calibration/path_loss/<role>`: loss_db (dB) over frequency (Hz), table attrs."""
    ds = _open_group(group.file, group.name)
    if ds is None or "loss_db" not in ds:
        ds = _from_h5py(group)
    da = ds["loss_db"]
    da.attrs = {**_attrs(group), **{k: decode_attr(v) for k, v in da.attrs.items()}}
    return da


def _cal_factors(group: h5py.Group) -> xr.Dataset:
    """`/calibration/cal_factors/<role>`: cal_factor_pct (and uncertainty_pct) over frequency
    (Hz), the table's attrs (source, sha256, sensor) on the Dataset."""
    ds = _open_group(group.file, group.name)
    if ds is None or "cal_factor_pct" not in ds:
        ds = _from_h5py(group)
    ds.attrs = {**ds.attrs, **_attrs(group)}
    return ds


def _table(ds: h5py.Dataset | None, dim: str, schema: tuple[tuple[str, str], ...]
           ) -> xr.Dataset:
    """A compound table as a Dataset: one variable per field over `dim` (strings as `str`);
    fields the schema does not name are kept, missing ones are absent."""
    if ds is None:
        return xr.Dataset({name: ((dim,), np.empty(0, dtype=object if kind == "s" else kind))
                           for name, kind in schema})
    rows = ds[()]
    variables: dict[str, tuple[tuple[str], np.ndarray]] = {}
    for name in rows.dtype.names or ():
        column = rows[name]
        if column.dtype.kind == "O":
            column = np.array([decode_attr(v) for v in column], dtype=object)
        variables[name] = ((dim,), column)
    out = xr.Dataset(variables, attrs=_attrs(ds))
    if "condition" in out and dim == "metric_row":  # JSON conditions stay text; parse on demand
        out["condition"].attrs["encoding"] = "JSON"
    return out


def metric_conditions(metrics: xr.Dataset) -> list[dict[str, Any]]:
    """The parsed JSON `condition` of each metrics row ({} where empty or unparseable)."""
    out: list[dict[str, Any]] = []
    for text in metrics["condition"].values if "condition" in metrics else []:
        try:
            value = json.loads(text) if text else {}
        except (TypeError, ValueError):
            value = {}
        out.append(value if isinstance(value, dict) else {"value": value})
    return out

