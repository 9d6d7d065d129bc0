"""One step group of a run record: axes as dimension scales, NaN-prefilled data, traces, metrics.

`StepWriter` is handed out by `RunRecord.begin_step`; the functions below build the HDF5
objects and are shared with `RunRecord.add_trace` / `end_step`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import h5py
import numpy as np
from numpy.typing import ArrayLike

from benchbot.results.format import (
    COMMITTED_AXIS,
    COMMITTED_ROWS,
    COMPLETED,
    METRIC_FIELDS,
    METRICS,
    TRACES,
    safe_name,
    set_attrs,
    table_dtype,
    to_float,
    to_json,
    to_text,
)

if TYPE_CHECKING:
    from benchbot.results.record import RunRecord

P = ParamSpec("P")
R = TypeVar("R")

CHUNK_TARGET_BYTES = 256 * 1024
"""Upper size of a data chunk: whole rows are kept together, leading dimensions are split."""
COMPRESS_MIN_POINTS = 1024
"""Trace axes at least this long are gzip-4+shuffle compressed (measured: 8.7x on a 10 001-pt
linear frequency axis). Measured data (noisy float32/64, IQ) gains only 1.1-1.4x for ~4-10x
the write time, and re-flushed compressed chunks get reallocated, so it is stored raw."""


MIRROR_MAX_BYTES = 8 * 1024 * 1024
"""Data datasets up to this size are buffered in memory between flushes (see StepWriter)."""


class Clock:
    """Cumulative wall time spent inside the writer's public methods (nesting counted once)."""

    def __init__(self) -> None:
        self.spent_s = 0.0
        self.depth = 0


def timed(method: Callable[P, R]) -> Callable[P, R]:
    """Add the call's duration to `self._clock` (outermost public call only)."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        clock: Clock = args[0]._clock  # type: ignore[attr-defined]
        if clock.depth:
            return method(*args, **kwargs)
        clock.depth = 1
        start = perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            clock.spent_s += perf_counter() - start
            clock.depth = 0

    return wrapper


def chunk_shape(shape: Sequence[int], itemsize: int, target: int = CHUNK_TARGET_BYTES
                ) -> tuple[int, ...]:
    """Chunk shape for a row-written dataset: the whole array if it fits `target` bytes, else
    the leading dimensions are halved first so a row (the trailing dimensions) stays in one
    chunk for as long as possible."""
    chunk = [max(1, int(n)) for n in shape]
    axis = 0
    while math.prod(chunk) * itemsize > target and axis < len(chunk):
        if chunk[axis] > 1:
            chunk[axis] = (chunk[axis] + 1) // 2
        else:
            axis += 1
    return tuple(chunk)


def create_axis(group: h5py.Group, name: str, values: ArrayLike, units: str,
                long_name: str = "") -> h5py.Dataset:
    """A 1-D coordinate dataset made a dimension scale named `name`."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"axis {name!r} must be 1-D, got shape {arr.shape}")
    if arr.dtype.kind in "USO":
        arr = np.asarray([to_text(v) for v in arr], dtype=h5py.string_dtype("utf-8"))
    else:
        arr = arr.astype(np.float64)
    compress = arr.dtype.kind == "f" and arr.size >= COMPRESS_MIN_POINTS
    ds = group.create_dataset(name, data=arr, **_gzip(compress))
    ds.attrs["units"] = units
    ds.attrs["long_name"] = long_name or name
    ds.make_scale(name)
    return ds


def create_data(group: h5py.Group, name: str, dims: Sequence[str], units: str,
                long_name: str, scales: Mapping[str, h5py.Dataset]) -> h5py.Dataset:
    """A float64 dataset over `dims`, NaN until written, each dimension attached to its scale."""
    missing = [d for d in dims if d not in scales]
    if missing:
        raise ValueError(f"dataset {name!r}: dims {missing} are not axes of the step")
    shape = tuple(len(scales[d]) for d in dims)
    ds = group.create_dataset(name, shape=shape, dtype=np.float64, fillvalue=np.nan,
                              chunks=chunk_shape(shape, 8) if shape else None)
    ds.attrs["units"] = units
    ds.attrs["long_name"] = long_name or name
    for i, dim in enumerate(dims):
        ds.dims[i].attach_scale(scales[dim])
    return ds


def write_trace(parent: h5py.Group, name: str, x: ArrayLike, y: ArrayLike, x_units: str,
                y_units: str, attrs: Mapping[str, Any] | None = None, *, x_name: str = "x",
                y_name: str = "y", compress: bool | None = None) -> h5py.Group:
    """`<parent>/traces/<name>/{x_name, y_name}`: y's first dimension is attached to x."""
    xs = np.asarray(x)
    ys = np.asarray(y)
    if xs.ndim != 1 or ys.ndim < 1 or ys.shape[0] != xs.shape[0]:
        raise ValueError(f"trace {name!r}: x {xs.shape} must be 1-D and match y {ys.shape}[0]")
    if ys.dtype.kind not in "fc":
        ys = ys.astype(np.float64)
    if x_name == y_name:
        raise ValueError("x_name and y_name must differ")
    group = parent.require_group(TRACES).create_group(safe_name(name))
    group.attrs["name"] = name
    group.attrs["x"] = x_name
    group.attrs["y"] = y_name
    set_attrs(group.attrs, attrs or {})
    xds = group.create_dataset(x_name, data=xs.astype(np.float64), **_gzip(
        xs.size >= COMPRESS_MIN_POINTS if compress is None else compress))
    xds.attrs["units"] = x_units
    xds.make_scale(x_name)
    yds = group.create_dataset(y_name, data=ys, **_gzip(bool(compress)))
    yds.attrs["units"] = y_units
    yds.dims[0].attach_scale(xds)
    return group


def write_metrics(group: h5py.Group, metrics: Sequence[Any]) -> h5py.Dataset:
    """The step's metrics as one compound table (one row per metric)."""
    rows = np.array([metric_row(m) for m in metrics], dtype=table_dtype(METRIC_FIELDS))
    if METRICS in group:
        del group[METRICS]
    ds = group.create_dataset(METRICS, data=rows, dtype=rows.dtype)
    ds.attrs["description"] = "derived metrics, limits (min/max, marginal band) and verdicts"
    return ds


def metric_fields(metric: Any) -> dict[str, Any]:
    """A metric as a flat mapping: a mapping, or an object with `to_dict()`. A nested `limit`
    (mapping or object with min/max/marginal or marginal_db) fills min, max and marginal;
    a `step` key is dropped (the table lives in the step's group)."""
    fields = dict(metric if isinstance(metric, Mapping) else metric.to_dict())
    fields.pop("step", None)
    limit = fields.pop("limit", None)
    for key, source in (("min", "min"), ("max", "max"), ("marginal", "marginal"),
                        ("marginal", "marginal_db")):
        value = limit.get(source) if isinstance(limit, Mapping) else getattr(limit, source, None)
        if fields.get(key) is None and value is not None:
            fields[key] = value
    return fields


def metric_row(metric: Any) -> tuple[Any, ...]:
    """One metrics-table row. Unknown keys and unparseable numbers go to `extra` (JSON)."""
    metric = metric_fields(metric)
    known = {name for name, _ in METRIC_FIELDS}
    extra = {k: v for k, v in metric.items() if k not in known}
    row: dict[str, Any] = {}
    for name, kind in METRIC_FIELDS:
        if name == "extra":
            continue
        value = metric.get(name)
        if kind == "s":
            row[name] = to_text(value)
            continue
        try:
            row[name] = to_float(value)
        except (TypeError, ValueError):
            row[name] = math.nan
            extra[name] = value
    row["extra"] = to_json(extra) if extra else ""
    return tuple(row[name] for name, _ in METRIC_FIELDS)


def whole_row_chunks(ds: h5py.Dataset) -> int | None:
    """Rows per chunk when ``ds`` can be written chunk by chunk with H5Dwrite_chunk (chunks
    span whole rows, no filters), else None."""
    chunks = ds.chunks
    if not chunks or ds.compression is not None or ds.shuffle or chunks[1:] != ds.shape[1:]:
        return None
    return int(chunks[0])


def write_chunks(ds: h5py.Dataset, mirror: np.ndarray, rows: int, lo: int, hi: int) -> None:
    """Write the chunks holding rows ``lo:hi`` straight from the mirror (which holds every row,
    so whole chunks are always current) with H5Dwrite_chunk: no chunk cache, no conversion
    copies. A chunk at the end is padded with NaN (the fill value) to its stored size."""
    origin = (0,) * (mirror.ndim - 1)
    for start in range((lo // rows) * rows, hi, rows):
        block = mirror[start:start + rows]
        if block.shape[0] < rows:
            padded = np.full((rows, *mirror.shape[1:]), np.nan)
            padded[:block.shape[0]] = block
            block = padded
        ds.id.write_direct_chunk((start, *origin), memoryview(block))


def _gzip(enabled: bool) -> dict[str, Any]:
    return {"compression": "gzip", "compression_opts": 4, "shuffle": True} if enabled else {}


class StepWriter:
    """Writes the data of one open step. Obtain it from `RunRecord.begin_step`.

    A *row* is everything after the leading index you give: `write_row("p_out", 2, values)`
    fills `p_out[2, :]`. Each `write_row`/`write_rows` call is one committed row; the record is
    flushed after every `flush_every_rows` of them (0: only on `flush()` and `end_step`).
    `write_point` never flushes by itself.

    Datasets up to `MIRROR_MAX_BYTES` are written into an in-memory mirror and copied to HDF5
    (only the dirty leading-index slab) just before each flush, so per-point writes cost
    microseconds; what was not flushed is not on disk either way.
    """

    def __init__(self, record: RunRecord, group: h5py.Group, index: int, name: str, kind: str,
                 clock: Clock, flush: Callable[[], None], flush_every_rows: int) -> None:
        self.record = record
        self.group = group
        self.index = index
        self.name = name
        self.kind = kind
        self.ended = False
        self._clock = clock
        self._flush = flush
        self._flush_every = flush_every_rows
        self._rows_since_flush = 0
        self._scales: dict[str, h5py.Dataset] = {}
        self._data: dict[str, h5py.Dataset] = {}
        self._mirror: dict[str, np.ndarray] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._dirty: dict[str, tuple[int, int]] = {}
        #: rows per chunk of the mirrored datasets whose chunks can be written whole
        self._chunk_rows: dict[str, int | None] = {}
        #: leading indices committed so far (`mark_committed`), kept by a resumed run
        self.committed_rows: set[int] = set()
        #: a step reopened by `benchbot run --resume`: a trace written again replaces its
        #: uncommitted namesake from before the interruption
        self.resumed = False
        #: a row was committed (or the step ended) since the last flush: fsync at the flush
        self.durable = False
        #: the axis committed rows index: the step's first declared axis
        self.row_axis: str | None = None
        #: (reopened step) the data datasets over the row axis, which `stored_row` returns
        self._row_datasets: set[str] = set()

    @classmethod
    def reopen(cls, record: RunRecord, group: h5py.Group, clock: Clock,
               flush: Callable[[], None], flush_every_rows: int) -> StepWriter:
        """The writer of a step an interrupted run left open: its axes and data as stored,
        every row not in `committed_rows` reset to NaN (it is measured again), its metrics
        table dropped (the resumed step writes it anew)."""
        attrs = group.attrs
        step = cls(record, group, int(attrs["index"]), to_text(attrs["name"]),
                   to_text(attrs["kind"]), clock, flush, flush_every_rows)
        step.resumed = True
        step.committed_rows = {int(r) for r in attrs.get(COMMITTED_ROWS, [])}
        step.row_axis = to_text(attrs.get(COMMITTED_AXIS, "")) or None
        for name, obj in group.items():
            if not isinstance(obj, h5py.Dataset) or name == METRICS:
                continue
            if obj.is_scale:
                step._scales[name] = obj
            else:
                step._adopt(name, obj)
        if METRICS in group:
            del group[METRICS]
        return step

    def _on_row_axis(self, ds: h5py.Dataset) -> bool:
        """Whether ``ds``'s first dimension is the axis the committed rows index."""
        if not ds.ndim:
            return False
        if self.row_axis is None:  # committed without naming the axis: every dataset's rows
            return True
        scales = ds.dims[0]
        return len(scales) > 0 and str(scales[0].name).rsplit("/", 1)[-1] == self.row_axis

    def _adopt(self, name: str, ds: h5py.Dataset) -> None:
        """Take over a stored data dataset; on the row axis, its uncommitted rows reset to NaN
        (datasets over other axes are derived over the whole step and written again)."""
        self._data[name] = ds
        self._shapes[name] = ds.shape
        if not self._on_row_axis(ds):
            if ds.ndim and ds.size * 8 <= MIRROR_MAX_BYTES:
                self._mirror[name] = ds[()].astype(np.float64)
                self._chunk_rows[name] = whole_row_chunks(ds)
            return
        self._row_datasets.add(name)
        keep = np.zeros(ds.shape[:1], bool)
        for row in self.committed_rows:
            if 0 <= row < keep.size:
                keep[row] = True
        if ds.ndim and ds.size * 8 <= MIRROR_MAX_BYTES:
            mirror = ds[()].astype(np.float64)
            mirror[~keep] = np.nan
            self._mirror[name] = mirror
            self._chunk_rows[name] = whole_row_chunks(ds)
            self._dirty[name] = (0, ds.shape[0])
        elif ds.ndim:
            for row in np.nonzero(~keep)[0]:
                ds[int(row)] = np.nan

    def stored_row(self, row: int) -> dict[str, np.ndarray] | None:
        """A committed row's stored values (dataset -> values at leading index `row`), or None
        when `row` was not committed before the interruption."""
        if not self.resumed or row not in self.committed_rows:
            return None
        return {name: np.array(self._mirror[name][row] if name in self._mirror
                               else self._data[name][row])
                for name in sorted(self._row_datasets) if row < self._shapes[name][0]}

    def mark_committed(self, row: int) -> None:
        """Row `row` (leading index) is complete: say so in the step's `committed_rows`
        attribute, made durable by the flush that commits the row's data."""
        self.committed_rows.add(int(row))
        self.durable = True
        if self.row_axis is None:
            self.row_axis = next(iter(self._scales))
            self.group.attrs[COMMITTED_AXIS] = self.row_axis
        self.group.attrs[COMMITTED_ROWS] = np.array(sorted(self.committed_rows), np.int64)

    @property
    def path(self) -> str:
        """HDF5 path of the step group, e.g. '/steps/000_compression'."""
        return str(self.group.name)

    @property
    def datasets(self) -> dict[str, tuple[int, ...]]:
        """Data dataset names -> shapes."""
        return dict(self._shapes)

    def _add_axis(self, name: str, values: ArrayLike, units: str, long_name: str = "") -> None:
        self._check_name(name)
        self._scales[name] = create_axis(self.group, name, values, units, long_name)

    @timed
    def add_dataset(self, name: str, dims: Sequence[str], units: str, long_name: str = "",
                    data: ArrayLike | None = None) -> None:
        """Declare another float64 data dataset over existing axes (e.g. a derived quantity),
        optionally writing all of it at once."""
        self._check_open()
        self._check_name(name)
        ds = create_data(self.group, name, tuple(dims), units, long_name, self._scales)
        self._data[name] = ds
        self._shapes[name] = ds.shape
        if ds.ndim and ds.size * 8 <= MIRROR_MAX_BYTES:
            self._mirror[name] = np.full(ds.shape, np.nan)
            self._chunk_rows[name] = whole_row_chunks(ds)
        if data is not None:
            self._write(name, (), data)

    @timed
    def write_row(self, dataset: str, index: int | Sequence[int], values: ArrayLike) -> None:
        """Write `values` at the leading `index` of `dataset` (`()` writes the whole dataset)."""
        self._write(dataset, index, values)
        self._row_committed()

    @timed
    def write_rows(self, index: int | Sequence[int], values: Mapping[str, ArrayLike]) -> None:
        """Write the same leading `index` of several datasets as one committed row."""
        for dataset, row in values.items():
            self._write(dataset, index, row)
        self._row_committed()

    @timed
    def write(self, dataset: str, index: int | Sequence[int], values: ArrayLike) -> None:
        """Write a point (full index) or a slab (leading index); never flushes by itself:
        call `flush()` at the commit point (e.g. after each frequency row)."""
        self._write(dataset, index, values)

    @timed
    def write_point(self, dataset: str, index: Sequence[int], value: float) -> None:
        """Write one value at the full `index`; does not flush (call `flush()` to commit)."""
        ndim = len(self._shape(dataset))
        if len(index) != ndim:
            raise ValueError(f"{dataset!r} needs a {ndim}-element index, got {index!r}")
        self._write(dataset, index, value)

    @timed
    def flush(self) -> None:
        """Commit everything written so far to disk (HDF5 flush)."""
        self._flush()
        self._rows_since_flush = 0

    #: attributes the record itself writes on a step group; a measurement may not replace them
    RESERVED_ATTRS = frozenset({"name", "kind", "index", "status", "verdict", "settings_json",
                                "started_utc", "started_epoch", "ended_utc", "ended_epoch",
                                "duration_s", "error"})

    def set_attrs(self, values: Mapping[str, Any]) -> None:
        """Measurement provenance as plain attributes of the step group (e.g. the VNA's
        calibration, port names); a name the record itself uses is refused."""
        clash = sorted(k for k in values
                       if k in self.RESERVED_ATTRS or k.startswith("settings."))
        if clash:
            raise ValueError(f"step attribute(s) {clash} are the record's own")
        self._check_open()
        set_attrs(self.group.attrs, values)

    @timed
    def add_trace(self, name: str, x: ArrayLike, y: ArrayLike, x_units: str, y_units: str,
                  attrs: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        """`RunRecord.add_trace` for this step (in a resumed step, replacing a trace of the same
        name the interrupted run wrote for a row it did not commit)."""
        traces = self.group.get(TRACES)
        if self.resumed and traces is not None and safe_name(name) in traces:
            del traces[safe_name(name)]
        return self.record.add_trace(self, name, x, y, x_units, y_units, attrs, **kwargs)

    @timed
    def finish(self, metrics: Sequence[Any], verdict: Any, status: str = COMPLETED,
               **kwargs: Any) -> None:
        """`RunRecord.end_step` for this step."""
        self.record.end_step(self, metrics, verdict, status, **kwargs)

    def take_durable(self) -> bool:
        """Whether the coming flush must reach the disk (fsync); resets the request."""
        wanted, self.durable = self.durable, False
        return wanted

    def sync(self) -> None:
        """Copy the dirty slabs of the in-memory mirrors into HDF5 (called before any flush)."""
        for name, (lo, hi) in self._dirty.items():
            rows = self._chunk_rows.get(name)
            if rows:
                write_chunks(self._data[name], self._mirror[name], rows, lo, hi)
            else:
                self._data[name][lo:hi] = self._mirror[name][lo:hi]
        self._dirty.clear()

    def _write(self, dataset: str, index: int | Sequence[int], values: ArrayLike) -> None:
        if self.ended:
            raise RuntimeError(f"step {self.name!r} has ended; its data is read-only")
        shape = self._shape(dataset)
        idx = (int(index),) if isinstance(index, int | np.integer) else tuple(map(int, index))
        if len(idx) > len(shape):
            raise ValueError(f"index {idx!r} has more elements than {dataset!r} dims")
        mirror = self._mirror.get(dataset)
        if mirror is None:
            self._data[dataset][idx] = np.asarray(values, dtype=np.float64)
            return
        mirror[idx] = values
        lo, hi = (idx[0], idx[0] + 1) if idx else (0, shape[0])
        if lo < 0:
            lo, hi = lo + shape[0], hi + shape[0]
        old = self._dirty.get(dataset)
        self._dirty[dataset] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)

    def _row_committed(self) -> None:
        self._rows_since_flush += 1
        if self._flush_every and self._rows_since_flush >= self._flush_every:
            self._flush()
            self._rows_since_flush = 0

    def _shape(self, name: str) -> tuple[int, ...]:
        try:
            return self._shapes[name]
        except KeyError:
            raise KeyError(f"step {self.name!r} has no dataset {name!r}; "
                           f"declared: {sorted(self._data)}") from None

    def _check_name(self, name: str) -> None:
        if not name or "/" in name or name in (METRICS, TRACES):
            raise ValueError(f"invalid dataset/axis name {name!r}")
        if name in self._scales or name in self._data:
            raise ValueError(f"step {self.name!r} already has {name!r}")

    def _check_open(self) -> None:
        if self.ended:  # RunRecord.close() ends every open step first
            raise RuntimeError(f"step {self.name!r} has ended; its data is read-only")
