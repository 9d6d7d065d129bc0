"""`RunRecord`: the HDF5 writer of one run (format in docs/record-format.md).

The file is written as `<name>.h5.partial`, flushed at every committed row, step, trace and
event, and renamed to `<name>.h5` only by `close()`. A writer killed at any point leaves a
`.partial` that opens with plain h5py and holds everything flushed before the kill.
Storage knows records only: plain dicts, strings and numpy arrays in.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import h5py
import numpy as np
from numpy.typing import ArrayLike

from benchbot.results.format import (
    ABORTED,
    CAL_FACTORS,
    COMPLETED,
    ERROR,
    EVENT_FIELDS,
    EVENTS,
    FORMAT_VERSION,
    INCOMPLETE,
    INSTRUMENTS,
    INTERRUPTION_FIELDS,
    INTERRUPTIONS,
    PARTIAL_SUFFIX,
    PATH_LOSS,
    RUNNING,
    STEPS,
    TRAFFIC,
    TRAFFIC_FIELDS,
    safe_name,
    set_attrs,
    table_dtype,
    to_json,
    to_text,
    utc_iso,
)
from benchbot.results.meta import RunMeta, record_file_name, write_root
from benchbot.results.step import Clock, StepWriter, create_axis, timed, write_metrics, write_trace

LIBVER = ("earliest", "v110")
"""Never newer object formats than HDF5 1.10 (superblock v0): readable by HDF5 1.8/1.10 tools.
`libver="latest"` would write superblock v3, which HDF5 1.10 tools cannot read."""

AxisSpec = tuple[ArrayLike, str] | tuple[ArrayLike, str, str]
"""(values, units) or (values, units, long_name)."""
DatasetSpec = tuple[Sequence[str], str, str]
"""(dims, units, long_name)."""


class RunRecord:
    """Writer of one run record. Create with `RunRecord.create`; finish with `close`.

    Usable as a context manager: leaving the block without `close()` closes with status
    "completed", or "aborted" (KeyboardInterrupt/SystemExit) / "error" (other exceptions)
    with an event describing the exception. `close()` is idempotent, so an engine may call it
    in its own `finally` as well.
    """

    def __init__(self, file: h5py.File, partial_path: Path, run_id: str,
                 flush_every_rows: int, clock: Clock) -> None:
        self._file = file
        self._partial = partial_path
        self._final = partial_path.with_name(partial_path.name[: -len(PARTIAL_SUFFIX)])
        self._clock = clock
        self._flush_every_rows = flush_every_rows
        self._steps: dict[str, StepWriter] = {}
        self.run_id = run_id
        self.flush_count = 0
        self.fsync_count = 0
        self.closed = False
        self.status = RUNNING

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create(cls, results_dir: str | os.PathLike[str], run_id: str | uuid.UUID | None,
               meta: RunMeta, *, flush_every_rows: int = 1,
               started_epoch: float | None = None) -> RunRecord:
        """Create `<results_dir>/<name>.h5.partial` (never overwrites), write the root
        attributes with status "running", and flush. `run_id` None -> a new uuid4."""
        clock = Clock()
        start = time.perf_counter()
        rid = str(run_id) if run_id is not None else str(uuid.uuid4())
        started = time.time() if started_epoch is None else started_epoch
        directory = Path(results_dir)
        directory.mkdir(parents=True, exist_ok=True)
        name = record_file_name(started, meta.plan_name, str(meta.dut.get("serial", "")), rid)
        partial = directory / (name + PARTIAL_SUFFIX)
        if (directory / name).exists():
            raise FileExistsError(directory / name)
        file = h5py.File(partial, "x", libver=LIBVER)
        try:
            write_root(file, rid, meta, started)
            for group in (STEPS, INSTRUMENTS, PATH_LOSS, TRAFFIC):
                file.require_group(group)
            events = file.create_dataset(EVENTS, shape=(0,), maxshape=(None,), chunks=(64,),
                                         dtype=table_dtype(EVENT_FIELDS))
            events.attrs["description"] = "run events: interruptions, aborts, safe-state actions"
            file.flush()
        except BaseException:
            file.close()
            partial.unlink(missing_ok=True)
            raise
        record = cls(file, partial, rid, flush_every_rows, clock)
        record.flush_count = 1
        clock.spent_s += time.perf_counter() - start
        return record

    @classmethod
    def reopen(cls, partial_path: str | os.PathLike[str], *, flush_every_rows: int = 1
               ) -> RunRecord:
        """Continue writing the `.partial` record of an interrupted run (prepared by
        `benchbot.results.resume.prepare`): status back to "running", format version raised
        to this writer's, the steps as they are (open a step with `resume_step`)."""
        partial = Path(partial_path)
        if not partial.name.endswith(PARTIAL_SUFFIX):
            raise ValueError(f"{partial} is not a {PARTIAL_SUFFIX} record")
        clock = Clock()
        file = h5py.File(partial, "r+", libver=LIBVER)
        try:
            file.attrs["status"] = RUNNING
            for key in ("ended_utc", "ended_epoch", "duration_s", "verdict"):
                if key in file.attrs:
                    del file.attrs[key]
            file.attrs["format_version"] = FORMAT_VERSION
            file.flush()
        except BaseException:
            file.close()
            raise
        record = cls(file, partial, to_text(file.attrs["run_id"]), flush_every_rows, clock)
        record.flush_count = 1
        return record

    @timed
    def close(self, status: str = COMPLETED, verdict: str | None = None) -> Path:
        """Write end time and final status/verdict, close, fsync and rename `.partial` -> `.h5`.

        Steps still open are closed with this status ("incomplete" if it is "completed").
        Idempotent: later calls return the final path and change nothing.
        """
        if self.closed:
            return self._final
        try:
            ended = time.time()
            for step in list(self._steps.values()):
                if not step.ended:
                    step_status = INCOMPLETE if to_text(status) == COMPLETED else to_text(status)
                    self._finish_step(step, [], "", step_status, None, ended, None)
            attrs = self._file.attrs
            attrs["ended_utc"] = utc_iso(ended)
            attrs["ended_epoch"] = ended
            attrs["duration_s"] = ended - float(attrs["started_epoch"])
            attrs["status"] = to_text(status)
            if verdict is not None:
                attrs["verdict"] = to_text(verdict)
            self._file.close()
        except BaseException:
            # e.g. disk full: release the file and leave it as `.partial` (= interrupted)
            self._file.close()
            self.closed = True
            self._final = self._partial
            raise
        self.closed = True
        _fsync(self._partial)
        os.replace(self._partial, self._final)
        _fsync_dir(self._final.parent)
        self.status = to_text(status)
        return self._final

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.closed:
            return
        if exc_type is None:
            self.close(COMPLETED)
            return
        status = ERROR if issubclass(exc_type, Exception) else ABORTED
        try:
            self.add_event("error" if status == ERROR else "warning",
                           f"run {status}: {exc_type.__name__}: {exc}")
        finally:
            self.close(status)

    # ----------------------------------------------------------------- properties
    @property
    def path(self) -> Path:
        """The `.partial` path while open, the final `.h5` path once closed."""
        return self._final if self.closed else self._partial

    @property
    def final_path(self) -> Path:
        """Where `close()` will put (or has put) the record."""
        return self._final

    @property
    def time_spent_s(self) -> float:
        """Cumulative wall time spent in this writer's public methods (incl. StepWriters)."""
        return self._clock.spent_s

    @property
    def steps(self) -> dict[str, StepWriter]:
        """Step group name -> writer, in creation order."""
        return dict(self._steps)

    # ----------------------------------------------------------------- run-level content
    @timed
    def add_instrument(self, role: str, idn: Mapping[str, Any], resource: str, driver: str,
                       options: Mapping[str, Any] | Sequence[Any] | None = None, *,
                       calibration: Mapping[str, Any] | None = None) -> None:
        """`/instruments/<role>`: `idn.*` (manufacturer, model, serial, firmware, ...),
        resource, driver, `options_json`, `calibration.*` (cert id, cal date, due date)."""
        group = self._open_file().require_group(INSTRUMENTS).create_group(safe_name(role))
        group.attrs["role"] = role
        group.attrs["resource"] = to_text(resource)
        group.attrs["driver"] = to_text(driver)
        group.attrs["options_json"] = to_json(options if options is not None else {})
        set_attrs(group.attrs, idn, "idn.")
        set_attrs(group.attrs, calibration or {}, "calibration.")

    @timed
    def set_run_attrs(self, values: Mapping[str, Any]) -> None:
        """Root attributes known only once the run has started (e.g. `corrections_json`,
        `calibration_policy`), written through `set_attrs`; None values are skipped."""
        set_attrs(self._open_file().attrs, values)

    @timed
    def add_path_loss(self, role: str, frequency_hz: ArrayLike, loss_db: ArrayLike, source: str,
                      *, attrs: Mapping[str, Any] | None = None) -> None:
        """`/calibration/path_loss/<role>`: `frequency` (Hz, scale) and `loss_db` (dB, positive
        = loss) as applied, with `source`, a `sha256` of both arrays and any extra attrs."""
        freq = np.asarray(frequency_hz, dtype=np.float64)
        loss = np.asarray(loss_db, dtype=np.float64)
        if freq.ndim != 1 or freq.shape != loss.shape:
            raise ValueError(f"path loss {role!r}: shapes {freq.shape} and {loss.shape} differ")
        group = self._open_file().require_group(PATH_LOSS).create_group(safe_name(role))
        group.attrs["role"] = role
        group.attrs["source"] = to_text(source)
        group.attrs["sha256"] = hashlib.sha256(freq.tobytes() + loss.tobytes()).hexdigest()
        set_attrs(group.attrs, attrs or {})
        scale = create_axis(group, "frequency", freq, "Hz", "frequency")
        ds = group.create_dataset("loss_db", data=loss)
        ds.attrs["units"] = "dB"
        ds.attrs["long_name"] = "path loss"
        ds.dims[0].attach_scale(scale)

    def add_cal_factors(self, role: str, frequency_hz: ArrayLike, cal_factor_pct: ArrayLike,
                        source: str, *, uncertainty_pct: ArrayLike | None = None,
                        attrs: Mapping[str, Any] | None = None) -> None:
        """`/calibration/cal_factors/<role>`: the cal factors (%) of the sensor on the power
        meter `role` against `frequency` (Hz, scale), as loaded into the meter, and their
        `uncertainty_pct` (%) when the certificate gives it; `source`, a `sha256` of the
        arrays (frequency, cal_factor_pct, then uncertainty_pct) and any extra attrs."""
        freq = np.asarray(frequency_hz, dtype=np.float64)
        columns = {"cal_factor_pct": ("cal factor", cal_factor_pct)}
        if uncertainty_pct is not None:
            columns["uncertainty_pct"] = ("cal factor uncertainty", uncertainty_pct)
        arrays = {name: np.asarray(values, dtype=np.float64)
                  for name, (_, values) in columns.items()}
        if freq.ndim != 1 or any(a.shape != freq.shape for a in arrays.values()):
            raise ValueError(f"cal factors {role!r}: shapes {freq.shape} and "
                             f"{[a.shape for a in arrays.values()]} differ")
        group = self._open_file().require_group(CAL_FACTORS).create_group(safe_name(role))
        group.attrs["role"] = role
        group.attrs["source"] = to_text(source)
        group.attrs["sha256"] = hashlib.sha256(
            freq.tobytes() + b"".join(a.tobytes() for a in arrays.values())).hexdigest()
        set_attrs(group.attrs, attrs or {})
        scale = create_axis(group, "frequency", freq, "Hz", "frequency")
        for name, (long_name, _) in columns.items():
            ds = group.create_dataset(name, data=arrays[name])
            ds.attrs["units"] = "%"
            ds.attrs["long_name"] = long_name
            ds.dims[0].attach_scale(scale)

    @timed
    def add_event(self, level: str, message: str, *, step: StepWriter | str | None = None,
                  time_epoch: float | None = None) -> None:
        """Append (time, level, step, message) to `/events` and flush."""
        events = self._open_file()[EVENTS]
        now = time.time() if time_epoch is None else time_epoch
        step_name = step.path.rsplit("/", 1)[-1] if isinstance(step, StepWriter) else step
        row = np.array([(utc_iso(now), now, to_text(level), to_text(step_name),
                         to_text(message))], dtype=events.dtype)
        n = events.shape[0]
        events.resize((n + 1,))
        events[n:] = row
        self._flush()

    @timed
    def set_traffic_log(self, role: str, entries: Iterable[Any], *,
                        monotonic: bool | None = None) -> None:
        """Replace `/traffic/<role>` with (time, direction, text) rows, durable at the next
        flush or at close. An entry is a 3-sequence, a mapping or an object with `time`,
        `direction` and `text`.

        Times are stored as Unix seconds. `time.monotonic()` stamps (`monotonic=True`, or
        None and every time < 1e9 s, i.e. before 2001) are shifted by the current
        `time.time() - time.monotonic()` offset; attribute `time_source` says which.
        """
        entries = list(entries)
        dtype = table_dtype(TRAFFIC_FIELDS)
        if all(type(e) is tuple and len(e) == 3 for e in entries):  # the session's own log
            rows = np.empty(len(entries), dtype=dtype)
            if entries:
                times, directions, texts = zip(*entries, strict=True)
                rows["time"], rows["direction"], rows["text"] = times, directions, texts
        else:
            rows = np.array([_traffic_row(e) for e in entries], dtype=dtype)
        if monotonic is None:
            monotonic = bool(rows.size) and float(rows["time"].max()) < 1e9
        if monotonic:
            rows["time"] += time.time() - time.monotonic()
        group = self._open_file().require_group(TRAFFIC)
        name = safe_name(role)
        if name in group:
            del group[name]
        ds = group.create_dataset(name, data=rows, dtype=rows.dtype)
        ds.attrs["role"] = role
        ds.attrs["time_units"] = "s since 1970-01-01T00:00:00Z"
        ds.attrs["time_source"] = ("time.monotonic() + offset to time.time() at record time"
                                   if monotonic else "time.time()")

    @timed
    def flush(self) -> None:
        """Commit everything written so far (HDF5 flush)."""
        self._flush()

    # ----------------------------------------------------------------- steps
    @timed
    def begin_step(self, index: int, name: str, kind: str, settings: Mapping[str, Any],
                   axes: Mapping[str, AxisSpec], datasets: Mapping[str, DatasetSpec]
                   ) -> StepWriter:
        """Create `/steps/<NNN>_<name>` with axes as dimension scales and NaN-filled float64
        datasets over them; status "running"; flush. Returns the step's writer."""
        steps = self._open_file()[STEPS]
        group_name = f"{index:03d}_{safe_name(name)}"
        group = steps.create_group(group_name)
        try:
            step = self._init_step(group, index, name, kind, settings, axes, datasets)
        except BaseException:
            del steps[group_name]  # a rejected declaration leaves nothing behind
            raise
        self._steps[group_name] = step
        self._flush()
        return step

    def _init_step(self, group: h5py.Group, index: int, name: str, kind: str,
                   settings: Mapping[str, Any], axes: Mapping[str, AxisSpec],
                   datasets: Mapping[str, DatasetSpec]) -> StepWriter:
        attrs = group.attrs
        attrs["index"] = np.int64(index)
        attrs["name"] = name
        attrs["kind"] = kind
        attrs["settings_json"] = to_json(settings)
        set_attrs(attrs, {k: v for k, v in settings.items()
                          if isinstance(v, str | int | float | np.generic)}, "settings.")
        started = time.time()
        attrs["started_utc"] = utc_iso(started)
        attrs["started_epoch"] = started
        attrs["status"] = RUNNING
        step = StepWriter(self, group, index, name, kind, self._clock, self._flush,
                          self._flush_every_rows)
        for axis, spec in axes.items():
            step._add_axis(axis, *spec)
        for dataset, (dims, units, long_name) in datasets.items():
            step.add_dataset(dataset, dims, units, long_name)
        return step

    @timed
    def add_trace(self, step: StepWriter | str, name: str, x: ArrayLike, y: ArrayLike,
                  x_units: str, y_units: str, attrs: Mapping[str, Any] | None = None, *,
                  x_name: str = "x", y_name: str = "y", compress: bool | None = None) -> str:
        """Store a raw trace at `<step>/traces/<name>` (y's first dim attached to x); it is
        durable at the next flush (the caller commits it with the row it belongs to).
        Complex y (IQ) is stored as HDF5 compound {r, i}. Returns the trace group path."""
        group = write_trace(self._step_group(step), name, x, y, x_units, y_units, attrs,
                            x_name=x_name, y_name=y_name, compress=compress)
        return str(group.name)

    @timed
    def end_step(self, step: StepWriter | str, metrics: Sequence[Any], verdict: Any,
                 status: str = COMPLETED, *, started_epoch: float | None = None,
                 ended_epoch: float | None = None, attrs: Mapping[str, Any] | None = None
                 ) -> None:
        """Write the metrics table, verdict, status and end time of a step; flush.

        A metric is a mapping (fields of docs/record-format.md) or an object with `to_dict()`;
        a nested `limit` fills min/max/marginal. Enum verdicts are stored by their string value.
        """
        writer = step if isinstance(step, StepWriter) else self._steps[safe_step(step)]
        if writer.ended:
            raise RuntimeError(f"step {writer.name!r} has already ended")
        self._open_file()
        self._finish_step(writer, metrics, verdict, status, started_epoch, ended_epoch, attrs)
        self._flush()

    @timed
    def resume_step(self, group_name: str) -> StepWriter:
        """The writer of step `group_name` left open (or aborted) by the interrupted run:
        committed rows kept, the others reset, status "running" again."""
        group = self._open_file()[STEPS][group_name]
        step = StepWriter.reopen(self, group, self._clock, self._flush, self._flush_every_rows)
        for key in ("ended_utc", "ended_epoch", "verdict"):
            if key in group.attrs:
                del group.attrs[key]
        group.attrs["status"] = RUNNING
        self._steps[group_name] = step
        self._flush()
        return step

    @timed
    def clear_bench(self) -> None:
        """Delete what an interrupted run had written of its bench (instruments, path-loss and
        cal-factor tables) before it was killed, so it is written again whole."""
        file = self._open_file()
        for where in (INSTRUMENTS, PATH_LOSS, CAL_FACTORS):
            group = file.get(where)
            if isinstance(group, h5py.Group):
                for name in list(group):
                    del group[name]
        self._flush()

    @timed
    def discard_step(self, group_name: str) -> None:
        """Delete a step the interrupted run left without any committed row (it runs again
        from its start)."""
        steps = self._open_file()[STEPS]
        if group_name in steps:
            del steps[group_name]
        self._flush()

    @timed
    def add_interruption(self, row: Mapping[str, Any]) -> None:
        """Append one interruption (fields of `INTERRUPTION_FIELDS`) to `/interruptions`."""
        file = self._open_file()
        if INTERRUPTIONS not in file:
            table = file.create_dataset(INTERRUPTIONS, shape=(0,), maxshape=(None,),
                                        chunks=(16,), dtype=table_dtype(INTERRUPTION_FIELDS))
            table.attrs["description"] = ("interruptions of this run (kill, power loss, lost "
                                          "instrument, abort) and where it was resumed")
        table = file[INTERRUPTIONS]
        values = tuple(to_text(row.get(name)) if kind == "s" else row.get(name, -1)
                       for name, kind in INTERRUPTION_FIELDS)
        n = table.shape[0]
        table.resize((n + 1,))
        table[n:] = np.array([values], dtype=table.dtype)
        self._flush()

    # ----------------------------------------------------------------- internals
    def _finish_step(self, writer: StepWriter, metrics: Sequence[Any],
                     verdict: Any, status: Any, started: float | None, ended: float | None,
                     attrs: Mapping[str, Any] | None) -> None:
        writer.sync()
        write_metrics(writer.group, metrics)
        g_attrs = writer.group.attrs
        set_attrs(g_attrs, attrs or {})
        if started is not None:
            g_attrs["started_utc"] = utc_iso(started)
            g_attrs["started_epoch"] = started
        end = time.time() if ended is None else ended
        g_attrs["ended_utc"] = utc_iso(end)
        g_attrs["ended_epoch"] = end
        g_attrs["status"] = to_text(status)
        g_attrs["verdict"] = to_text(verdict)
        writer.ended = True
        writer.durable = True

    def _step_group(self, step: StepWriter | str) -> h5py.Group:
        if isinstance(step, StepWriter):
            return step.group
        return self._open_file()[STEPS][safe_step(step)]

    def _open_file(self) -> h5py.File:
        if self.closed:
            raise RuntimeError(f"run record {self._final.name} is closed")
        return self._file

    def _flush(self) -> None:
        """HDF5 flush (survives the process being killed); after a committed row or a step's
        end also fsync (survives a power cut: what `--resume` keeps must be on the disk)."""
        durable = False
        for step in self._steps.values():
            if not step.ended:
                step.sync()
            durable |= step.take_durable()
        self._file.flush()
        if durable:
            os.fsync(self._file.id.get_vfd_handle())
            self.fsync_count += 1
        self.flush_count += 1


def safe_step(step: str) -> str:
    """A step reference as its group name (accepts '000_name' or '/steps/000_name')."""
    return step.rstrip("/").rsplit("/", 1)[-1]


def _traffic_row(entry: Any) -> tuple[float, str, str]:
    if isinstance(entry, tuple | list):
        t, direction, text = entry
    elif isinstance(entry, Mapping):
        t, direction, text = entry["time"], entry["direction"], entry["text"]
    else:
        t, direction, text = entry.time, entry.direction, entry.text
    return (float(t), direction if type(direction) is str else to_text(direction),
            text if type(text) is str else to_text(text))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Persist a rename (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
