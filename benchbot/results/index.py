"""SQLite index of a results folder: `refresh` it from the record files, `query` it.

The index is `<folder>/.benchbot-index.sqlite` (WAL, schema version in `PRAGMA user_version`).
It is a cache: the HDF5 records are the truth, and the index may be deleted at any time - the
next `refresh` rebuilds it. A file is re-read when its size or mtime changed; a `.partial` held
by a live writer is skipped until the writer lets go; an interrupted `.partial` is listed as
interrupted; an unreadable file is reported (and remembered until it changes), never fatal.

Concurrency: files are read outside any transaction; each refresh then applies its findings in
one `BEGIN IMMEDIATE` transaction, after re-checking each file on disk, so refreshes running
in several processes at once serialise their writes and converge on the same rows.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import time_ns
from typing import Any

from benchbot.results.format import PARTIAL_SUFFIX
from benchbot.results.reader import RecordBusyError, RecordSummary, open_record

INDEX_NAME = ".benchbot-index.sqlite"
SCHEMA_VERSION = 1
"""Bump on any schema change: an index with another `user_version` is dropped and rebuilt."""
RECORD_SUFFIXES = (".h5", ".h5" + PARTIAL_SUFFIX)
RACY_NS = 2_000_000_000
"""A file whose mtime is within this of the last read is read again (FAT keeps 2 s ticks)."""
BUSY_TIMEOUT_S = 60.0  # another process's refresh holds the write lock for one transaction

_RECORD_COLUMNS = (
    "run_id", "plan_name", "plan_version", "plan_sha256", "part_number", "serial", "bench",
    "simulated", "status", "verdict", "started_utc", "started_epoch", "ended_utc", "operator",
    "n_steps", "interrupted", "partial", "format_version",
)
_SCHEMA = f"""
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,      -- relative to the folder, '/' separators
    size INTEGER NOT NULL,          -- bytes, when read (staleness check)
    mtime_ns INTEGER NOT NULL,      -- st_mtime_ns, when read (staleness check)
    read_ns INTEGER NOT NULL,       -- time.time_ns() when the read began
    run_id TEXT, plan_name TEXT, plan_version TEXT, plan_sha256 TEXT,
    part_number TEXT, serial TEXT, bench TEXT, simulated INTEGER NOT NULL,
    status TEXT NOT NULL, verdict TEXT,
    started_utc TEXT, started_epoch REAL, ended_utc TEXT, operator TEXT,
    n_steps INTEGER NOT NULL, interrupted INTEGER NOT NULL, partial INTEGER NOT NULL,
    format_version TEXT
);
CREATE INDEX records_started ON records(started_epoch);
CREATE INDEX records_serial ON records(serial);
CREATE INDEX records_plan ON records(plan_name);
CREATE TABLE metrics (
    record_id INTEGER NOT NULL REFERENCES records(id),
    step TEXT NOT NULL, step_index INTEGER NOT NULL, metric TEXT NOT NULL,
    condition TEXT,                 -- JSON, as stored in the record
    value REAL, unit TEXT, verdict TEXT, margin REAL
);
CREATE INDEX metrics_record ON metrics(record_id);
CREATE INDEX metrics_metric ON metrics(metric);
CREATE TABLE problems (             -- files that could not be read, until they change
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    read_ns INTEGER NOT NULL, error TEXT NOT NULL
);
PRAGMA user_version = {SCHEMA_VERSION};
"""
_TABLES = ("metrics", "records", "problems")

Stat = tuple[int, int]  # (size, mtime_ns)


@dataclass(frozen=True)
class IndexedRecord:
    """One record as the index knows it (no data; `open_record(path)` for the rest)."""

    path: Path  # folder / relpath
    relpath: str
    run_id: str
    plan_name: str | None
    plan_version: str | None
    plan_sha256: str | None
    part_number: str | None
    serial: str | None
    bench: str | None
    simulated: bool
    status: str  # "interrupted" for a .partial the writer never closed
    verdict: str | None
    started_utc: str | None
    ended_utc: str | None
    operator: str | None
    n_steps: int
    interrupted: bool
    partial: bool
    format_version: str | None
    size: int
    mtime_ns: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able plain data (path as a string)."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


@dataclass(frozen=True)
class IndexedMetric:
    """One row of a step's metrics table, as indexed."""

    step: str
    step_index: int
    metric: str
    condition: str  # JSON text
    value: float | None
    unit: str
    verdict: str | None
    margin: float | None


@dataclass(frozen=True)
class Problem:
    """A file the index could not read, and why."""

    relpath: str
    error: str


@dataclass
class RefreshReport:
    """What one `refresh` did. `problems` lists every unreadable file, old and new."""

    folder: Path
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # .partial files a live writer holds
    problems: list[Problem] = field(default_factory=list)
    records: int = 0  # indexed records after the refresh
    persistent: bool = True  # False: the index could not be stored (read-only folder)
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------- refresh
def refresh(folder: str | os.PathLike[str]) -> RefreshReport:
    """Bring the index of `folder` in line with its record files and report what changed."""
    report = RefreshReport(Path(folder))
    with _connect(report.folder, report) as db:
        _refresh(db, report.folder, report)
    return report


def _refresh(db: sqlite3.Connection, root: Path, report: RefreshReport) -> None:
    on_disk = _scan(root)
    try:
        _apply(db, root, on_disk, report)
    finally:
        report.records = db.execute("SELECT count(*) FROM records").fetchone()[0]
        report.problems = [Problem(p, e) for p, e in
                           db.execute("SELECT path, error FROM problems ORDER BY path")]


def _apply(db: sqlite3.Connection, root: Path, on_disk: dict[str, Stat],
           report: RefreshReport) -> None:
    known: dict[str, tuple[Stat, int]] = {p: ((s, m), r) for p, s, m, r in db.execute(
        "SELECT path, size, mtime_ns, read_ns FROM records UNION ALL "
        "SELECT path, size, mtime_ns, read_ns FROM problems")}
    readings: list[tuple[str, Stat, int, RecordSummary | str]] = []
    for rel in sorted(p for p, stat in on_disk.items() if _stale(stat, known.get(p))):
        read_ns = time_ns()
        try:  # reading is the slow part: outside any transaction
            readings.append((rel, on_disk[rel], read_ns, open_record(root / rel)))
        except RecordBusyError:
            report.busy.append(rel)
            readings.append((rel, on_disk[rel], read_ns, ""))  # not listed; retried next time
        except Exception as exc:  # a corrupt file must never break the listing
            readings.append((rel, on_disk[rel], read_ns, f"{type(exc).__name__}: {exc}"))
    gone = sorted(set(known) - set(on_disk))
    if not readings and not gone:
        return
    with _write(db):
        for rel, stat, read_ns, result in readings:
            if _stat(root / rel) != stat:
                continue  # changed while we read it: the next refresh reads it again
            previous = db.execute("SELECT size, mtime_ns FROM records WHERE path = ?",
                                  (rel,)).fetchone()
            _forget(db, rel)
            if isinstance(result, RecordSummary):
                _insert(db, rel, stat, read_ns, result)
                if previous is None:
                    report.added.append(rel)
                elif tuple(previous) != stat:
                    report.updated.append(rel)
            elif result:
                db.execute("INSERT INTO problems VALUES (?, ?, ?, ?, ?)",
                           (rel, *stat, read_ns, result))
        for rel in gone:
            if _stat(root / rel) is None and _forget(db, rel):  # gone for good, not renamed back
                report.removed.append(rel)


def _stale(stat: Stat, known: tuple[Stat, int] | None) -> bool:
    """Re-read when size or mtime changed, and while the mtime is too close to the last read
    to prove nothing was written after it (file systems keep mtime in coarse ticks)."""
    if known is None or known[0] != stat:
        return True
    return stat[1] >= known[1] - RACY_NS


def _scan(root: Path) -> dict[str, Stat]:
    """Relative POSIX path -> (size, mtime_ns) of every record file under `root` (hidden
    directories skipped)."""
    found: dict[str, Stat] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.endswith(RECORD_SUFFIXES):
                path = Path(dirpath, name)
                stat = _stat(path)
                if stat is not None:  # vanished since the listing (a .partial renamed)
                    found[path.relative_to(root).as_posix()] = stat
    return found


def _stat(path: Path) -> Stat | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _forget(db: sqlite3.Connection, rel: str) -> bool:
    """Delete the rows of `rel`; True if it was indexed as a record."""
    db.execute("DELETE FROM metrics WHERE record_id IN (SELECT id FROM records WHERE path = ?)",
               (rel,))
    db.execute("DELETE FROM problems WHERE path = ?", (rel,))
    return db.execute("DELETE FROM records WHERE path = ?", (rel,)).rowcount > 0


def _insert(db: sqlite3.Connection, rel: str, stat: Stat, read_ns: int, r: RecordSummary
            ) -> None:
    started = r.meta.get("started_epoch")
    values = (
        r.run_id, _text(r.plan.get("name")), _text(r.plan.get("version")),
        _text(r.plan.get("sha256")), _text(r.dut.get("part_number")), _text(r.dut.get("serial")),
        _text(r.bench.get("name")), int(r.simulated), r.status, r.verdict, r.started_utc,
        None if started is None else float(started), r.ended_utc, r.operator, len(r.steps),
        int(r.interrupted), int(r.partial), r.format_version,
    )
    columns = ("path", "size", "mtime_ns", "read_ns", *_RECORD_COLUMNS)
    cursor = db.execute(f"INSERT INTO records ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))})",
                        (rel, *stat, read_ns, *values))
    db.executemany(
        "INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(cursor.lastrowid, s.name, s.index, str(m.get("metric", "")),
          _text(m.get("condition")), _number(m.get("value")), _text(m.get("unit")),
          _text(m.get("verdict")) or None, _number(m.get("margin")))
         for s in r.steps for m in s.metrics])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


# ------------------------------------------------------------------------------- query
@dataclass(frozen=True)
class Filters:
    """What `query` selects on. Text fields: case-insensitive, exact or a glob (`SIM-00*`);
    verdict: case-insensitive, "none" = no verdict (e.g. an interrupted run); since/until:
    dates or datetimes, UTC unless an offset is given, a bare-date `until` includes its day."""

    serial: str | None = None
    plan: str | None = None
    verdict: str | None = None
    bench: str | None = None
    since: str | date | datetime | None = None
    until: str | date | datetime | None = None
    part_number: str | None = None
    status: str | None = None
    limit: int | None = None


def query(folder: str | os.PathLike[str], serial: str | None = None, plan: str | None = None,
          verdict: str | None = None, bench: str | None = None,
          since: str | date | datetime | None = None, until: str | date | datetime | None = None,
          part_number: str | None = None, limit: int | None = None, *,
          status: str | None = None, refresh_first: bool = True) -> list[IndexedRecord]:
    """Records of `folder` matching every given filter (see `Filters`), newest first; the
    index is refreshed first unless `refresh_first=False`."""
    filters = Filters(serial, plan, verdict, bench, since, until, part_number, status, limit)
    if refresh_first:
        return listing(folder, filters)[0]
    root = Path(folder)
    with _connect(root, None) as db:
        return _select(db, root, filters)


def listing(folder: str | os.PathLike[str], filters: Filters | None = None
            ) -> tuple[list[IndexedRecord], RefreshReport]:
    """Refresh the index, then query it (one connection, so a read-only folder's in-memory
    index serves both); returns the records and the refresh report (problems, busy files)."""
    report = RefreshReport(Path(folder))
    with _connect(report.folder, report) as db:
        _refresh(db, report.folder, report)
        return _select(db, report.folder, filters or Filters()), report


def _select(db: sqlite3.Connection, root: Path, f: Filters) -> list[IndexedRecord]:
    where: list[str] = []
    args: list[Any] = []
    for column, wanted in (("serial", f.serial), ("plan_name", f.plan), ("bench", f.bench),
                           ("part_number", f.part_number), ("status", f.status)):
        if wanted is not None:
            glob = any(c in wanted for c in "*?[")
            where.append(f"lower({column}) {'GLOB' if glob else '='} lower(?)")
            args.append(wanted)
    if f.verdict is not None:
        if f.verdict.lower() in ("none", "-", ""):
            where.append("(verdict IS NULL OR verdict = '')")
        else:
            where.append("lower(verdict) = lower(?)")
            args.append(f.verdict)
    if f.since is not None:
        where.append("started_epoch >= ?")
        args.append(parse_when(f.since))
    if f.until is not None:
        where.append("started_epoch < ?" if _is_date(f.until) else "started_epoch <= ?")
        args.append(parse_when(f.until, end_of_day=True))
    sql = (f"SELECT path, size, mtime_ns, {', '.join(_RECORD_COLUMNS)} FROM records"
           + (f" WHERE {' AND '.join(where)}" if where else "")
           + " ORDER BY started_epoch IS NULL, started_epoch DESC, path DESC")
    if f.limit is not None:
        sql += " LIMIT ?"
        args.append(int(f.limit))
    return [_record(root, row) for row in db.execute(sql, args)]


def record_metrics(folder: str | os.PathLike[str], path: str | os.PathLike[str]
                   ) -> list[IndexedMetric]:
    """The indexed metrics of one record (`path` relative to `folder`, or absolute)."""
    root = Path(folder)
    rel = Path(path)
    rel_text = (rel.relative_to(root) if rel.is_absolute() else rel).as_posix()
    with _connect(root, None) as db:
        rows = db.execute(
            "SELECT m.step, m.step_index, m.metric, m.condition, m.value, m.unit, m.verdict, "
            "m.margin FROM metrics AS m JOIN records ON records.id = m.record_id "
            "WHERE records.path = ? ORDER BY m.rowid", (rel_text,)).fetchall()
    return [IndexedMetric(s, i, m, c or "", v, u or "", vd, mg) for s, i, m, c, v, u, vd, mg
            in rows]


def parse_when(value: str | date | datetime, *, end_of_day: bool = False) -> float:
    """A date or datetime (ISO text or object) as Unix seconds; naive values are UTC.
    A bare date is its 00:00 UTC, or the next day's 00:00 with `end_of_day`."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError(f"not a date or ISO date-time: {text!r} "
                             "(e.g. 2026-11-18 or 2026-11-18T14:30)") from exc
    if not isinstance(value, datetime):
        day = value + timedelta(days=1) if end_of_day else value
        value = datetime.combine(day, time(0), UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _is_date(value: str | date | datetime) -> bool:
    if isinstance(value, str):
        return len(value.strip()) == 10
    return not isinstance(value, datetime)


def _record(root: Path, row: Sequence[Any]) -> IndexedRecord:
    rel, size, mtime_ns, *values = row
    v = dict(zip(_RECORD_COLUMNS, values, strict=True))
    return IndexedRecord(
        path=root / rel, relpath=rel, run_id=v["run_id"] or "", plan_name=v["plan_name"],
        plan_version=v["plan_version"], plan_sha256=v["plan_sha256"],
        part_number=v["part_number"], serial=v["serial"], bench=v["bench"],
        simulated=bool(v["simulated"]), status=v["status"], verdict=v["verdict"] or None,
        started_utc=v["started_utc"], ended_utc=v["ended_utc"], operator=v["operator"],
        n_steps=v["n_steps"], interrupted=bool(v["interrupted"]), partial=bool(v["partial"]),
        format_version=v["format_version"], size=size, mtime_ns=mtime_ns)


# ------------------------------------------------------------------------------- storage
@contextmanager
def _connect(root: Path, report: RefreshReport | None) -> Iterator[sqlite3.Connection]:
    """The folder's index, created or rebuilt as needed. Where it cannot be stored (read-only
    folder or index), an in-memory index: every refresh then reads every file."""
    if not root.is_dir():
        raise FileNotFoundError(f"no results folder {root}")
    path = root / INDEX_NAME
    try:
        db = _open(path)
    except sqlite3.DatabaseError as exc:
        if _is_corrupt(exc):  # not a database any more: it is only a cache, start afresh
            for suffix in ("", "-wal", "-shm"):
                with suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()
            if report is not None:
                report.notes.append(f"index was corrupt ({exc}); rebuilt from the files")
            db = _open(path)
        elif report is not None:  # read-only folder, full disk...: index in memory
            report.persistent = False
            report.notes.append(f"index {path} not writable ({exc}); read every file")
            db = _open(None)
        else:
            raise
    try:
        yield db
    finally:
        db.close()


def _open(path: Path | None) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:" if path is None else path, timeout=BUSY_TIMEOUT_S,
                         isolation_level=None)  # autocommit: transactions are explicit
    try:
        db.execute("PRAGMA journal_mode = WAL")  # readers never block the writer
        db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a crash loses, never corrupts
        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            with _write(db):  # re-checked under the write lock: one process creates it
                if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    for table in _TABLES:
                        db.execute(f"DROP TABLE IF EXISTS {table}")
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
        db.execute("SELECT count(*) FROM records").fetchone()
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def _write(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (BEGIN IMMEDIATE) so concurrent refreshes queue
    on the lock (busy timeout) instead of failing on a read-to-write upgrade."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _is_corrupt(exc: sqlite3.DatabaseError) -> bool:
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text
