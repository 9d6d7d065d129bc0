"""Exports of a run record for people without benchbot: tidy CSV files and one netCDF-4 file.

CSV (`export_csv`): per step one tidy (long) table, one column per axis and one per data
variable, units in the header (`output_power_dbm [dBm]`), NaN as an empty cell; a step whose
variables lie over axis sets that do not nest (e.g. `s_re` over state x frequency and `path_db`
over path x frequency) gets one table per maximal axis set, a variable over a subset of a
table's axes being repeated along the others. Every file starts with a `#` comment block with
the record's provenance (`pandas.read_csv(path, comment="#")` skips it; text cells holding `#`
are quoted so that pandas' comment handling leaves them alone). Also `metrics.csv` (every
step's metrics), `events.csv` and one file per raw trace. Complex values are written as
`<name>_re` / `<name>_im` columns (S-parameters already are two real datasets, s_re / s_im).

netCDF (`export_netcdf`): one netCDF-4/HDF5 file laid out like the record: `/steps/<group>`
(the step Dataset), `/steps/<group>/metrics`, `/steps/<group>/traces/<name>`, `/events`,
`/instruments/<role>` (attributes only), `/calibration/path_loss/<role>`; root attributes the
record's provenance (every root attribute of the record, plan and bench YAML included, plus
the record file's name and SHA-256). Every variable has `long_name` and, where the record
gives one, CF/UDUNITS `units` (metrics' value/min/max/marginal/margin have per-row units in
the `unit` variable, so no `units` attribute). The SCPI traffic logs are not exported.

Storage only: reads a record through `benchbot.results.labelled`, knows no instrument.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from benchbot.results.format import (
    EVENTS,
    INSTRUMENTS,
    METRICS,
    PARTIAL_SUFFIX,
    PATH_LOSS,
    STEPS,
    TRACES,
    safe_name,
)
from benchbot.results.labelled import Record, open_labelled

#: the first columns of metrics.csv, in this order (then the other metric fields)
METRICS_CSV_COLUMNS = ("step", "metric", "condition", "value", "unit", "min", "max", "margin",
                       "verdict", "method", "marginal", "limit_source", "note", "group")
#: text cells holding one of these are quoted ('#' so that read_csv(comment="#") keeps them)
_QUOTE_IF = frozenset(',"#\r\n')
#: long_name of the compound-table columns, which carry no HDF5 attributes
_TABLE_LONG_NAMES = {
    "metric": "metric name", "unit": "unit of value, min, max, marginal and margin",
    "value": "measured or derived value (units: see variable unit)",
    "condition": "conditions of the metric (JSON)", "min": "lower limit (NaN = none)",
    "max": "upper limit (NaN = none)", "marginal": "width of the marginal band inside the limits",
    "limit_source": "where the limit comes from", "verdict": "verdict",
    "margin": "distance to the nearest limit, positive inside", "method": "extraction method",
    "note": "note", "extra": "other fields (JSON)",
    "time_utc": "event time (ISO 8601 UTC)", "time": "event time, seconds since "
    "1970-01-01T00:00:00Z", "level": "event level", "step": "step group name ('' = run)",
    "message": "event message",
}


# --- shared -----------------------------------------------------------------------------------


def _as_record(record: Record | str | Path) -> Record:
    return record if isinstance(record, Record) else open_labelled(record)


def record_stem(record_path: str | Path) -> str:
    """The record's file name without `.h5` / `.h5.partial`."""
    return Path(record_path).name.removesuffix(PARTIAL_SUFFIX).removesuffix(".h5")


def default_csv_dir(record_path: str | Path) -> Path:
    """`<record stem>_csv/` next to the record."""
    return Path(record_path).with_name(f"{record_stem(record_path)}_csv")


def default_netcdf_path(record_path: str | Path) -> Path:
    """`<record stem>.nc` next to the record."""
    return Path(record_path).with_name(f"{record_stem(record_path)}.nc")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (what `sha256sum` prints; reports quote the same hash)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance(record: Record, sha256: str | None = None) -> dict[str, Any]:
    """The run's identity for export headers: plan, software version, DUT, bench, run id,
    status, verdict and the record file's name and SHA-256 (computed unless given)."""
    meta = record.meta
    return {
        "record": record.path.name,
        "record_sha256": sha256 if sha256 is not None else file_sha256(record.path),
        "format": f"{meta.get('format', '')} {record.format_version}",
        "run_id": meta.get("run_id", ""),
        "plan": meta.get("plan_name", ""),
        "plan_version": meta.get("plan_version", ""),
        "plan_sha256": meta.get("plan_sha256", ""),
        "benchbot_version": meta.get("software.benchbot", ""),
        "dut_part_number": meta.get("dut.part_number", ""),
        "dut_serial": meta.get("dut.serial", ""),
        "dut_kind": meta.get("dut.kind", ""),
        "bench": meta.get("bench_name", ""),
        "bench_sha256": meta.get("bench_sha256", ""),
        "simulated": meta.get("simulated", ""),
        "operator": meta.get("operator", ""),
        "started_utc": meta.get("started_utc", ""),
        "ended_utc": meta.get("ended_utc", ""),
        "status": record.status,
        "verdict": meta.get("verdict", ""),
    }


def _step_provenance(ds: xr.Dataset) -> dict[str, Any]:
    attrs = ds.attrs
    return {"step": attrs.get("name", ""), "step_group": attrs.get("group", ""),
            "step_kind": attrs.get("kind", ""), "step_status": attrs.get("status", ""),
            "step_verdict": attrs.get("verdict", ""),
            "step_settings": attrs.get("settings_json", "")}


# --- CSV --------------------------------------------------------------------------------------


def export_csv(record: Record | str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write the record as CSV files into `out_dir` (default `<record stem>_csv/` next to it).

    Files: per step `<group>.csv` (or `<group>.<axis>-<axis>.csv` per maximal axis set when the
    step's axes do not nest), per trace `<group>.trace.<name>.csv`, then `metrics.csv` and
    `events.csv`. Existing files of those names are overwritten. Returns the paths written."""
    rec = _as_record(record)
    out = Path(out_dir) if out_dir is not None else default_csv_dir(rec.path)
    out.mkdir(parents=True, exist_ok=True)
    base = provenance(rec)
    written: list[Path] = []
    for group, ds in rec.steps.items():
        step_meta = {**base, **_step_provenance(ds)}
        tables = step_tables(ds)
        for dims, names in tables:
            suffix = "" if len(tables) == 1 else "." + "-".join(dims)
            path = out / f"{safe_name(group)}{suffix}.csv"
            columns, rows = _frame_rows(ds[names], dims)
            _write_csv(path, {**step_meta, "table_axes": ", ".join(dims)}, columns, rows)
            written.append(path)
        for name, trace in rec.traces.get(group, {}).items():
            path = out / f"{safe_name(group)}.trace.{safe_name(name)}.csv"
            trace_meta = {**step_meta, "trace": name,
                          **{f"trace.{k}": v for k, v in trace.attrs.items()
                             if k not in ("units", "long_name")}}
            y = str(trace.attrs.get("y", trace.name))
            columns, rows = _frame_rows(trace.to_dataset(name=y), tuple(map(str, trace.dims)))
            _write_csv(path, trace_meta, columns, rows)
            written.append(path)
    path = out / "metrics.csv"
    columns, rows = metrics_rows(rec)
    _write_csv(path, {**base, "table": "metrics of every step"}, columns, rows)
    written.append(path)
    path = out / "events.csv"
    columns, rows = _table_rows(rec.events, {"time": "s"})
    _write_csv(path, {**base, "table": "run events"}, columns, rows)
    written.append(path)
    return written


def step_tables(ds: xr.Dataset) -> list[tuple[tuple[str, ...], list[str]]]:
    """The tidy tables of a step: (axes, data variable names) per maximal axis set.

    Variables over the same axes (in any order) share a table; a variable whose axes are a
    subset of a larger set joins that table (repeated along the other axes). Axes keep the
    order of the first variable over the full set."""
    names = [str(n) for n in ds.data_vars]
    dim_sets: list[tuple[str, ...]] = []
    for name in names:
        dims = tuple(map(str, ds[name].dims))
        if not any(set(dims) == set(d) for d in dim_sets):
            dim_sets.append(dims)
    maximal = [d for d in dim_sets if not any(set(d) < set(e) for e in dim_sets)]
    members: dict[tuple[str, ...], list[str]] = {d: [] for d in maximal}
    for name in names:
        dims = set(map(str, ds[name].dims))
        members[next(d for d in maximal if dims <= set(d))].append(name)
    return [(d, members[d]) for d in maximal]


def metrics_rows(record: Record) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of `metrics.csv`: one row per metric row of every step."""
    fields: list[str] = []
    for table in record.metrics.values():
        fields += [str(f) for f in table.data_vars if str(f) not in fields]
    columns = [c for c in METRICS_CSV_COLUMNS if c in fields or c in ("step", "group")]
    columns += [f for f in fields if f not in columns]
    rows: list[list[Any]] = []
    for group, table in record.metrics.items():
        step = record.steps[group].attrs.get("name", group)
        values = {f: table[f].values.tolist() for f in table.data_vars}
        for i in range(table.sizes.get("metric_row", 0)):
            row = {"step": step, "group": group, **{f: v[i] for f, v in values.items()}}
            rows.append([row.get(c, "") for c in columns])
    return columns, rows


def _table_rows(table: xr.Dataset, units: Mapping[str, str]) -> tuple[list[str], list[list]]:
    """Header and rows of a compound table (over one row dimension)."""
    fields = [str(f) for f in table.data_vars]
    columns = [_header(f, units.get(f, "")) for f in fields]
    values = [table[f].values.tolist() for f in fields]
    return columns, [list(row) for row in zip(*values, strict=True)] if values else []


def _header(name: str, units: Any) -> str:
    return f"{name} [{units}]" if units not in (None, "") else name


def _frame_rows(ds: xr.Dataset, dims: tuple[str, ...]) -> tuple[list[str], list[list[Any]]]:
    """Long-format header and rows of `ds` over `dims` (C order: the last axis varies fastest).
    Complex variables become two real columns, `<name>_re` and `<name>_im`."""
    shape = tuple(ds.sizes[d] for d in dims)
    index = np.indices(shape).reshape(len(dims), -1) if dims else np.zeros((0, 1), int)
    columns: list[str] = []
    data: list[list[Any]] = []
    for k, dim in enumerate(dims):
        if dim in ds.coords:
            coord = ds[dim]
            columns.append(_header(dim, coord.attrs.get("units")))
            data.append(np.asarray(coord.values)[index[k]].tolist())
        else:  # a dimension without a scale: its position
            columns.append(dim)
            data.append(index[k].tolist())
    template = xr.DataArray(np.zeros(shape), dims=dims,
                            coords={d: ds[d] for d in dims if d in ds.coords})
    for name in ds.data_vars:
        var = ds[name]
        flat = var.broadcast_like(template).transpose(*dims).values.reshape(-1)
        units = var.attrs.get("units")
        if np.iscomplexobj(flat):
            columns += [_header(f"{name}_re", units), _header(f"{name}_im", units)]
            data += [flat.real.tolist(), flat.imag.tolist()]
        else:
            columns.append(_header(str(name), units))
            data.append(flat.tolist())
    return columns, [list(row) for row in zip(*data, strict=True)]


def _cell(value: Any) -> str:
    """One CSV cell: NaN/None empty, floats exactly (repr round-trips), text quoted if needed."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "1" if value else "0"
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else repr(float(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if _QUOTE_IF.intersection(text) or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text


def _comment_lines(meta: Mapping[str, Any]) -> Iterator[str]:
    yield "# benchbot record export. Lines starting with '#' are comments: " \
          "pandas.read_csv(path, comment=\"#\")"
    for key, value in meta.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        yield f"# {key}: {' '.join(str(text).splitlines())}"


def _write_csv(path: Path, meta: Mapping[str, Any], columns: list[str],
               rows: Iterable[list[Any]]) -> None:
    """UTF-8, '\\n' line ends (Python's csv module and pandas both read them)."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in _comment_lines(meta):
            f.write(line + "\n")
        f.write(",".join(_cell(c) for c in columns) + "\n")
        for row in rows:
            f.write(",".join(_cell(v) for v in row) + "\n")


# --- netCDF -----------------------------------------------------------------------------------


def export_netcdf(record: Record | str | Path, out: str | Path | None = None) -> Path:
    """Write the record as one netCDF-4 file (default `<record stem>.nc` next to it) with one
    group per step, metrics table, trace, path-loss table and instrument, and the events.

    Written to `<out>.partial` then renamed, so `out` is either complete or untouched. Each
    group reads back with `xarray.open_dataset(out, group="steps/000_compression")` equal to
    `netcdf_groups(record)[group]`."""
    rec = _as_record(record)
    path = Path(out) if out is not None else default_netcdf_path(rec.path)
    groups = netcdf_groups(rec)
    tmp = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        for k, (group, ds) in enumerate(groups.items()):
            ds.to_netcdf(tmp, mode="w" if k == 0 else "a", engine="h5netcdf",
                         group=None if group == "/" else group)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def netcdf_groups(record: Record, sha256: str | None = None) -> dict[str, xr.Dataset]:
    """The Datasets `export_netcdf` writes, by group path ("/" first: root attributes only)."""
    prov = provenance(record, sha256)
    root_attrs = {**record.meta, "status": record.status, "stored_status": record.stored_status,
                  "source_record": prov["record"], "source_record_sha256": prov["record_sha256"],
                  "title": f"benchbot run {prov['run_id']}: plan {prov['plan']} on DUT "
                           f"{prov['dut_part_number']} {prov['dut_serial']}",
                  "source": "benchbot automated RF bench"
                            + (" (simulated)" if prov["simulated"] else ""),
                  "history": f"exported by benchbot {prov['benchbot_version']} from "
                             f"{prov['record']} (sha256 {prov['record_sha256']})"}
    groups = {"/": xr.Dataset(attrs=_nc_attrs(root_attrs))}
    for group, ds in record.steps.items():
        groups[f"{STEPS}/{group}"] = _nc_dataset(ds)
        metrics = record.metrics.get(group)
        if metrics is not None:
            groups[f"{STEPS}/{group}/{METRICS}"] = _nc_dataset(metrics,
                                                                long_names=_TABLE_LONG_NAMES)
        for name, trace in record.traces.get(group, {}).items():
            attrs = {k: v for k, v in trace.attrs.items() if k not in ("units", "long_name")}
            y = str(trace.attrs.get("y", trace.name))
            da = trace.copy()
            da.attrs = {k: trace.attrs[k] for k in ("units", "long_name") if k in trace.attrs}
            groups[f"{STEPS}/{group}/{TRACES}/{safe_name(name)}"] = _nc_dataset(
                da.to_dataset(name=y).assign_attrs(attrs))
    groups[EVENTS] = _nc_dataset(record.events, {"time": "s"}, _TABLE_LONG_NAMES)
    for role, attrs in record.instruments.items():
        groups[f"{INSTRUMENTS}/{safe_name(role)}"] = xr.Dataset(attrs=_nc_attrs(attrs))
    for role, loss in record.path_loss.items():
        attrs = {k: v for k, v in loss.attrs.items() if k not in ("units", "long_name")}
        da = loss.copy()
        da.attrs = {k: loss.attrs[k] for k in ("units", "long_name") if k in loss.attrs}
        groups[f"{PATH_LOSS}/{safe_name(role)}"] = _nc_dataset(
            da.to_dataset(name=str(loss.name or "loss_db")).assign_attrs(attrs))
    return groups


def _nc_dataset(ds: xr.Dataset, units: Mapping[str, str] | None = None,
                long_names: Mapping[str, str] | None = None) -> xr.Dataset:
    """A copy fit for netCDF: no storage encodings from the source file, netCDF-typed
    attributes, `long_name` on every variable (from `long_names`, else the variable's name) and
    `units` from `units` where the variable has none."""
    out = ds.copy(deep=False)
    out.encoding = {}
    out.attrs = _nc_attrs(ds.attrs)
    for name in out.variables:
        var = out.variables[name]
        var.encoding = {}
        attrs = _nc_attrs(var.attrs)
        if units and name in units:
            attrs.setdefault("units", units[name])
        attrs.setdefault("long_name", (long_names or {}).get(str(name), str(name)))
        var.attrs = attrs
    return out


def _nc_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes netCDF-4 can hold: None dropped, bools as 0/1, mappings and empty or mixed
    lists as JSON text."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, bool | np.bool_):
            value = int(value)
        elif isinstance(value, Mapping):
            value = json.dumps(value, sort_keys=True, default=str)
        elif isinstance(value, list | tuple):
            kinds = {type(v) for v in value}
            if not value or len(kinds) > 1 or not kinds <= {str, int, float}:
                value = json.dumps(list(value), default=str)
            else:
                value = np.asarray(value)
        out[str(key)] = value
    return out
