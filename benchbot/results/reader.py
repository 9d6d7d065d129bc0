"""Read model of a run record (plain h5py): `open_record` -> `RecordSummary`, `summarise`.

Works on complete `.h5` records and on `.partial` files left by an interrupted writer.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchbot.results.format import (
    EVENTS,
    FORMAT,
    FORMAT_VERSION,
    INSTRUMENTS,
    INTERRUPTED,
    INTERRUPTIONS,
    METRICS,
    PARTIAL_SUFFIX,
    PATH_LOSS,
    RUNNING,
    STEPS,
    TRACES,
    TRAFFIC,
    decode_attr,
    parse_version,
    prefixed,
    read_attrs,
    table_rows,
)


class RecordFormatError(ValueError):
    """Not a benchbot record, or a major format version this reader does not know."""


class RecordBusyError(OSError):
    """The record is open for writing by a live process (HDF5 file lock held)."""


@dataclass(frozen=True)
class DatasetInfo:
    """A data dataset of a step: shape, dimension names, units and how much is filled."""

    name: str
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    units: str
    long_name: str
    points_written: int  # non-NaN values
    size: int


@dataclass(frozen=True)
class TraceInfo:
    """A raw trace of a step (`traces/<name>`)."""

    name: str
    x_name: str
    y_name: str
    length: int
    x_units: str
    y_units: str
    attrs: dict[str, Any]


@dataclass(frozen=True)
class StepSummary:
    """One `/steps/<NNN>_<name>` group."""

    group: str
    index: int
    name: str
    kind: str
    status: str  # "interrupted" when the record is a .partial and the step was still running
    verdict: str | None
    started_utc: str | None
    ended_utc: str | None
    settings: dict[str, Any]
    axes: dict[str, tuple[int, str]]  # name -> (length, units)
    datasets: list[DatasetInfo]
    metrics: list[dict[str, Any]]  # table rows; NaN numbers (no value / no limit) -> None
    traces: list[TraceInfo]
    attrs: dict[str, Any]


@dataclass(frozen=True)
class RecordSummary:
    """What `benchbot show` needs from a record."""

    path: Path
    partial: bool  # a `.partial` file: the writer never closed it (interrupted run)
    format_version: str
    run_id: str
    status: str  # stored status, or "interrupted" for a .partial still marked "running"
    stored_status: str
    verdict: str | None
    plan: dict[str, Any]  # name, version, sha256
    bench: dict[str, Any]  # name, sha256
    dut: dict[str, Any]
    operator: str
    simulated: bool
    simulator_seed: int | None
    host: str
    started_utc: str | None
    ended_utc: str | None
    duration_s: float | None
    software: dict[str, Any]
    instruments: dict[str, dict[str, Any]]
    path_loss: dict[str, dict[str, Any]]
    steps: list[StepSummary]
    events: list[dict[str, Any]]
    traffic: dict[str, int]  # role -> number of logged messages
    interruptions: list[dict[str, Any]]  # /interruptions rows (1.1): one per resume
    meta: dict[str, Any]  # every root attribute except the plan/bench YAML texts
    plan_text: str = field(repr=False, default="")  # root attribute plan_yaml
    bench_text: str = field(repr=False, default="")  # root attribute bench_yaml
    warnings: list[str] = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        """True when the run did not end through `close()`."""
        return self.partial or self.status == INTERRUPTED

    def headline(self) -> dict[str, str]:
        """Label -> text rows describing the run (for a two-column table)."""
        sim = f"yes (seed {self.simulator_seed})" if self.simulated else "no (hardware)"
        rows = {
            "record": self.path.name + ("  [PARTIAL: interrupted]" if self.partial else ""),
            "run id": self.run_id,
            "status": self.status,
            "verdict": self.verdict or "-",
            "plan": f"{self.plan.get('name')} {self.plan.get('version')}",
            "bench": str(self.bench.get("name")),
            "DUT": f"{self.dut.get('part_number', '-')} serial {self.dut.get('serial', '-')}",
            "operator": self.operator,
            "simulated": sim,
            "started": self.started_utc or "-",
            "ended": self.ended_utc or "-",
            "duration": "-" if self.duration_s is None else f"{self.duration_s:.1f} s",
            "format": self.format_version,
        }
        for n, row in enumerate(self.interruptions, start=1):
            step = str(row.get("step") or "-")
            rows[f"interruption {n}"] = (
                f"{row.get('interrupted_status')} at {row.get('last_activity_utc')} in step "
                f"{step} ({row.get('rows_kept')} committed row(s) kept), resumed "
                f"{row.get('resumed_utc')}")
        if self.warnings:
            rows["warnings"] = "; ".join(self.warnings)
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-able plain data (paths as strings)."""
        out = dataclasses.asdict(self)
        out["path"] = str(self.path)
        out["interrupted"] = self.interrupted
        return out


def open_record(path: str | Path, *, ignore_lock: bool = False) -> RecordSummary:
    """Read the summary of a record. `ignore_lock=True` reads a record a live writer still
    holds (a best-effort snapshot; without SWMR it may be inconsistent)."""
    p = Path(path)
    try:
        file = h5py.File(p, "r", locking=False) if ignore_lock else h5py.File(p, "r")
    except BlockingIOError as exc:
        raise RecordBusyError(f"{p} is open for writing by a running process") from exc
    with file:
        return _summary(file, p)


def _summary(f: h5py.File, path: Path) -> RecordSummary:
    root = read_attrs(f.attrs)
    if root.get("format") != FORMAT:
        raise RecordFormatError(f"{path} is not a {FORMAT} file (format={root.get('format')!r})")
    version = str(root.get("format_version", "0.0"))
    warnings: list[str] = []
    major, minor = parse_version(version)
    known_major, known_minor = parse_version(FORMAT_VERSION)
    if major != known_major:
        raise RecordFormatError(f"{path}: format_version {version} (this reader: {known_major}.x)")
    if minor > known_minor:
        warnings.append(f"format_version {version} is newer than {FORMAT_VERSION}; "
                        "unknown content ignored")
    partial = path.name.endswith(PARTIAL_SUFFIX)
    stored = str(root.get("status", RUNNING))
    if partial and stored == RUNNING:
        warnings.append("interrupted: the writer never closed this record; it holds what was "
                        "flushed before the interruption")
    seed = root.get("simulator_seed")
    plan_text = str(root.pop("plan_yaml", ""))
    bench_text = str(root.pop("bench_yaml", ""))
    return RecordSummary(
        path=path, partial=partial, format_version=version, run_id=str(root.get("run_id", "")),
        status=INTERRUPTED if partial and stored == RUNNING else stored, stored_status=stored,
        verdict=root.get("verdict") or None,
        plan={"name": root.get("plan_name"), "version": root.get("plan_version"),
              "sha256": root.get("plan_sha256")},
        bench={"name": root.get("bench_name"), "sha256": root.get("bench_sha256")},
        dut=prefixed(root, "dut."), operator=str(root.get("operator", "")),
        simulated=bool(root.get("simulated", 0)),
        simulator_seed=None if seed is None else int(seed), host=str(root.get("host", "")),
        started_utc=root.get("started_utc"), ended_utc=root.get("ended_utc"),
        duration_s=root.get("duration_s"), software=prefixed(root, "software."),
        instruments=_groups_attrs(f, INSTRUMENTS), path_loss=_path_loss(f),
        steps=_steps(f, partial), events=_table(f, EVENTS),
        interruptions=_table(f, INTERRUPTIONS),
        traffic={k: int(v.shape[0]) for k, v in f[TRAFFIC].items()} if TRAFFIC in f else {},
        meta=root, plan_text=plan_text, bench_text=bench_text, warnings=warnings)


def _groups_attrs(f: h5py.File, where: str) -> dict[str, dict[str, Any]]:
    if where not in f:
        return {}
    return {name: read_attrs(g.attrs) for name, g in f[where].items()}


def _path_loss(f: h5py.File) -> dict[str, dict[str, Any]]:
    out = _groups_attrs(f, PATH_LOSS)
    for name, info in out.items():
        g = f[PATH_LOSS][name]
        if "frequency" in g and "loss_db" in g:
            info["frequency_hz"] = g["frequency"][()].tolist()
            info["loss_db"] = g["loss_db"][()].tolist()
    return out


def _table(f: h5py.Group, name: str) -> list[dict[str, Any]]:
    return table_rows(f[name][()]) if name in f else []


def _steps(f: h5py.File, partial: bool) -> list[StepSummary]:
    if STEPS not in f:
        return []
    steps = [_step(g, partial) for g in f[STEPS].values() if isinstance(g, h5py.Group)]
    return sorted(steps, key=lambda s: (s.index, s.group))


def _step(g: h5py.Group, partial: bool) -> StepSummary:
    attrs = read_attrs(g.attrs)
    axes: dict[str, tuple[int, str]] = {}
    datasets: list[DatasetInfo] = []
    for name, obj in g.items():
        if not isinstance(obj, h5py.Dataset) or name == METRICS:
            continue
        units = str(decode_attr(obj.attrs.get("units", "")))
        if obj.is_scale:
            axes[name] = (int(obj.shape[0]), units)
            continue
        data = obj[()]
        written = int(np.count_nonzero(~np.isnan(data))) if data.dtype.kind == "f" else data.size
        dims = tuple(_dim_name(d) for d in obj.dims)
        datasets.append(DatasetInfo(name, tuple(obj.shape), dims, units,
                                    str(decode_attr(obj.attrs.get("long_name", name))),
                                    written, int(obj.size)))
    status = str(attrs.get("status", RUNNING))
    if partial and status == RUNNING:
        status = INTERRUPTED
    settings = _json(attrs.get("settings_json"))
    return StepSummary(
        group=g.name.rsplit("/", 1)[-1], index=int(attrs.get("index", -1)),
        name=str(attrs.get("name", "")), kind=str(attrs.get("kind", "")), status=status,
        verdict=attrs.get("verdict") or None, started_utc=attrs.get("started_utc"),
        ended_utc=attrs.get("ended_utc"), settings=settings, axes=axes, datasets=datasets,
        metrics=[{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in m.items()}
                 for m in _table(g, METRICS)],
        traces=_traces(g), attrs=attrs)


def _dim_name(dim: Any) -> str:
    if len(dim):
        return str(dim[0].name).rsplit("/", 1)[-1]
    return dim.label or ""


def _traces(g: h5py.Group) -> list[TraceInfo]:
    if TRACES not in g:
        return []
    out = []
    for name, tg in g[TRACES].items():
        attrs = read_attrs(tg.attrs)
        x, y = str(attrs.get("x", "x")), str(attrs.get("y", "y"))
        if x not in tg or y not in tg:
            continue
        out.append(TraceInfo(str(attrs.get("name", name)), x, y, int(tg[x].shape[0]),
                             str(decode_attr(tg[x].attrs.get("units", ""))),
                             str(decode_attr(tg[y].attrs.get("units", ""))), attrs))
    return out


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {"value": value}


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def summarise(path: str | Path, *, ignore_lock: bool = False) -> str:
    """A plain-text summary of a record (what `benchbot show` prints without rich)."""
    r = open_record(path, ignore_lock=ignore_lock)
    sim = f"simulated (seed {r.simulator_seed})" if r.simulated else "hardware"
    lines = [
        f"{r.path.name}  [format {r.format_version}{', PARTIAL' if r.partial else ''}]",
        f"  run {r.run_id}  status {r.status}  verdict {r.verdict or '-'}  {sim}",
        f"  plan {r.plan['name']} {r.plan['version']} (sha256 {str(r.plan['sha256'])[:12]})"
        f"  bench {r.bench['name']}  operator {r.operator}  host {r.host}",
        f"  DUT {r.dut.get('part_number', '-')} serial {r.dut.get('serial', '-')}",
        f"  started {r.started_utc}  ended {r.ended_utc or '-'}"
        + (f"  ({r.duration_s:.1f} s)" if r.duration_s is not None else ""),
    ]
    lines += [f"  ! {w}" for w in r.warnings]
    if r.instruments:
        lines.append("  instruments:")
        for role, a in r.instruments.items():
            idn = " ".join(str(a.get(f"idn.{k}", "")) for k in ("manufacturer", "model", "serial"))
            lines.append(f"    {role:18s} {idn.strip()}  fw {a.get('idn.firmware', '-')}"
                         f"  {a.get('resource', '')}")
    lines.append(f"  steps ({len(r.steps)}):")
    for s in r.steps:
        filled = ", ".join(f"{d.name} {d.points_written}/{d.size}" for d in s.datasets)
        lines.append(f"    {s.index:03d} {s.name} [{s.kind}]  {s.status}  verdict "
                     f"{s.verdict or '-'}  {filled}")
        for m in s.metrics:
            limits = f"[{_fmt(m['min'])}, {_fmt(m['max'])}]"
            lines.append(f"        {m['metric']:28s} {_fmt(m['value']):>10s} {m['unit']:5s} "
                         f"{limits:18s} {m['verdict']:9s} {m['condition']}")
        for t in s.traces:
            lines.append(f"        trace {t.name}: {t.y_name}({t.x_name}) {t.length} points")
    if r.events:
        lines.append(f"  events ({len(r.events)}):")
        lines += [f"    {e['time_utc']} {e['level']:7s} {e['message']}" for e in r.events]
    if r.traffic:
        lines.append("  SCPI traffic: " + ", ".join(f"{k} {v}" for k, v in r.traffic.items()))
    return "\n".join(lines)
