"""SQLite index of a results folder (benchbot.results.index) and `benchbot results list`."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import pytest
import yaml

from benchbot.results import RunRecord, open_record
from benchbot.results.index import (
    INDEX_NAME,
    Filters,
    IndexedRecord,
    listing,
    query,
    record_metrics,
    refresh,
)
from tests.test_record import METRIC, make_meta

ROOT = Path(__file__).parent.parent
DEMO_PLAN = ROOT / "test_plans" / "pa_power_sweep.yaml"
DAY = 86400.0
T0 = datetime(2026, 11, 16, 8, 30, tzinfo=UTC).timestamp()  # a Monday, 08:30 UTC
HOUR_AGO_NS = time.time_ns() - 3600 * 10**9


@dataclass(frozen=True)
class Spec:
    """What a synthetic record states (the expected answer of the filters)."""

    serial: str
    plan: str
    verdict: str | None
    bench: str
    started: float
    part_number: str = "BB-PA-N78-01"
    status: str = "completed"


SPECS = [
    Spec("SIM-0001", "n78-pa-power-sweep", "pass", "lab3-keysight", T0),
    Spec("SIM-0002", "n78-pa-power-sweep", "fail", "lab3-keysight", T0 + 3600),
    Spec("SIM-0001", "n78-pa-power-sweep", "marginal", "lab4-rs", T0 + DAY),
    Spec("SIM-0003", "lna-n78", "pass", "lab4-rs", T0 + DAY + 60, "BB-LNA-N78-02"),
    Spec("SIM-0002", "lna-n78", "fail", "lab3-keysight", T0 + 2 * DAY - 1, "BB-LNA-N78-02"),
    Spec("SIM-0104", "n78-pa-power-sweep", None, "lab3-keysight", T0 + 2 * DAY, status="error"),
    Spec("ES-77", "n78-pa-power-sweep", "pass", "lab4-rs", T0 + 5 * DAY),
]


def make_record(folder: Path, spec: Spec, *, metrics: int = 2) -> Path:
    """A small closed record stating `spec`, with one step of `metrics` metric rows."""
    meta = make_meta(plan_name=spec.plan, bench_name=spec.bench,
                     dut={"part_number": spec.part_number, "serial": spec.serial})
    rec = RunRecord.create(folder, None, meta, started_epoch=spec.started)
    step = rec.begin_step(0, "compression", "power_sweep", {"settle_s": 0.0}, {}, {})
    rows = [dict(METRIC, metric=f"m{k}", value=30.0 + k) for k in range(metrics)]
    rec.end_step(step, rows, spec.verdict or "error")
    return rec.close(spec.status, spec.verdict)


def age(folder: Path) -> None:
    """Put every record's mtime an hour back, so the index trusts (size, mtime) alone instead
    of re-reading files modified too recently to be sure (see index.RACY_NS)."""
    for path in folder.rglob("*.h5*"):
        os.utime(path, ns=(HOUR_AGO_NS, HOUR_AGO_NS))


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, dict[Path, Spec]]:
    results = tmp_path / "results"
    return results, {make_record(results, spec): spec for spec in SPECS}


def names(records: list[IndexedRecord]) -> list[str]:
    return [r.relpath for r in records]


def expected(files: dict[Path, Spec], keep: Callable[[Spec], bool]) -> list[str]:
    """Relative paths of the specs `keep` accepts, newest first (the query's order)."""
    chosen = sorted(((s.started, p.name) for p, s in files.items() if keep(s)), reverse=True)
    return [name for _, name in chosen]


def snapshot(folder: Path) -> tuple[list[IndexedRecord], dict[str, list[Any]]]:
    records = query(folder, refresh_first=False)
    return records, {r.relpath: record_metrics(folder, r.relpath) for r in records}


# ------------------------------------------------------------ filters
def test_filters_return_exactly_the_right_records(folder) -> None:
    results, files = folder
    report = refresh(results)
    assert sorted(report.added) == sorted(p.name for p in files) and not report.problems
    assert (results / INDEX_NAME).exists()
    cases: list[tuple[dict[str, Any], Callable[[Spec], bool]]] = [
        ({}, lambda s: True),
        ({"serial": "SIM-0001"}, lambda s: s.serial == "SIM-0001"),
        ({"serial": "sim-0002"}, lambda s: s.serial == "SIM-0002"),  # case-insensitive
        ({"serial": "SIM-000*"}, lambda s: s.serial.startswith("SIM-000")),  # glob
        ({"plan": "lna-n78"}, lambda s: s.plan == "lna-n78"),
        ({"verdict": "pass"}, lambda s: s.verdict == "pass"),
        ({"verdict": "FAIL"}, lambda s: s.verdict == "fail"),
        ({"verdict": "none"}, lambda s: s.verdict is None),
        ({"bench": "lab4-rs"}, lambda s: s.bench == "lab4-rs"),
        ({"part_number": "BB-LNA-N78-02"}, lambda s: s.part_number == "BB-LNA-N78-02"),
        ({"status": "error"}, lambda s: s.status == "error"),
        # a bare date is the whole UTC day: 17 Nov holds T0 + 1 day and T0 + 1 day + 60 s
        ({"since": "2026-11-17", "until": "2026-11-17"},
         lambda s: T0 + DAY - 8.5 * 3600 <= s.started < T0 + 2 * DAY - 8.5 * 3600),
        ({"since": "2026-11-18"}, lambda s: s.started >= T0 + 2 * DAY - 8.5 * 3600),
        ({"until": "2026-11-16"}, lambda s: s.started < T0 + DAY - 8.5 * 3600),
        # date-times are instants (inclusive); an offset is honoured
        ({"since": "2026-11-16T09:30:00Z", "until": "2026-11-18T08:30"},
         lambda s: T0 + 3600 <= s.started <= T0 + 2 * DAY),
        ({"until": "2026-11-18T09:29:59+01:00"}, lambda s: s.started <= T0 + 2 * DAY - 1),
        ({"serial": "SIM-0002", "verdict": "fail", "bench": "lab3-keysight", "plan": "lna-n78"},
         lambda s: s.serial == "SIM-0002" and s.plan == "lna-n78"),
        ({"serial": "SIM-9999"}, lambda s: False),
    ]
    for filters, keep in cases:
        want = expected(files, keep)
        assert want or filters.get("serial") == "SIM-9999", filters  # each case selects some
        assert names(query(results, **filters)) == want, filters
    newest = expected(files, lambda s: True)
    assert names(query(results, limit=3)) == newest[:3]
    (record,) = query(results, serial="ES-77")
    spec = files[record.path]
    assert (record.plan_name, record.bench, record.verdict, record.part_number) == (
        spec.plan, spec.bench, spec.verdict, spec.part_number)
    assert record.status == "completed" and not record.interrupted and record.n_steps == 1
    assert record.started_utc == "2026-11-21T08:30:00.000000Z" and record.simulated
    summary = open_record(record.path)
    assert record.run_id == summary.run_id and record.plan_sha256 == summary.plan["sha256"]
    assert [(m.metric, m.value) for m in record_metrics(results, record.path)] == [
        ("m0", 30.0), ("m1", 31.0)]
    with pytest.raises(ValueError, match="not a date"):
        query(results, since="last tuesday")
    with pytest.raises(FileNotFoundError):
        query(results / "nope")


# ------------------------------------------------------------ the files are the truth
def test_deleted_or_corrupt_index_is_rebuilt_identically(folder) -> None:
    results, _ = folder
    refresh(results)
    before = snapshot(results)
    assert len(before[0]) == len(SPECS) and all(len(m) == 2 for m in before[1].values())
    for suffix in ("", "-wal", "-shm"):
        Path(f"{results / INDEX_NAME}{suffix}").unlink(missing_ok=True)
    report = refresh(results)
    assert len(report.added) == len(SPECS) and report.persistent
    assert snapshot(results) == before
    (results / INDEX_NAME).write_bytes(b"this is not an SQLite database" * 100)
    report = refresh(results)
    assert any("corrupt" in note for note in report.notes)
    assert snapshot(results) == before


def test_index_of_another_schema_version_is_rebuilt(folder) -> None:
    results, _ = folder
    refresh(results)
    before = snapshot(results)
    with sqlite3.connect(results / INDEX_NAME) as db:
        db.execute("DELETE FROM records")  # an older benchbot's index: stale content ...
        db.execute("PRAGMA user_version = 0")  # ... and another schema version
    assert len(refresh(results).added) == len(SPECS)
    assert snapshot(results) == before


def test_modified_file_is_reread_deleted_file_disappears(folder, monkeypatch) -> None:
    results, files = folder
    age(results)
    reads: list[str] = []

    def counting_open_record(path: Path, **kwargs: Any) -> Any:
        reads.append(Path(path).name)
        return open_record(path, **kwargs)

    monkeypatch.setattr("benchbot.results.index.open_record", counting_open_record)
    refresh(results)
    assert sorted(reads) == sorted(p.name for p in files)
    reads.clear()
    assert refresh(results).records == len(SPECS) and reads == []  # unchanged: nothing read
    first, second = sorted(files)[:2]
    with h5py.File(first, "r+") as f:
        assert f.attrs["dut.serial"] == "SIM-0001"
        f.attrs["dut.serial"] = "SIM-0009"
    second.unlink()
    report = refresh(results)
    assert reads == [first.name]
    assert report.updated == [first.name] and report.removed == [second.name]
    assert not report.added and report.records == len(SPECS) - 1
    assert names(query(results, serial="SIM-0009")) == [first.name]
    assert second.name not in names(query(results))
    # a rewrite within the file system's mtime tick of the last read still shows: files
    # modified that recently are read again until an older read proves them settled
    reads.clear()
    refresh(results)
    assert reads == [first.name]


def test_corrupt_files_are_reported_and_skipped(folder, tmp_path: Path) -> None:
    results, files = folder
    good = sorted(files)[0]
    (results / "junk.h5").write_bytes(b"\x00" * 4096)
    (results / "truncated.h5").write_bytes(good.read_bytes()[:3000])
    with h5py.File(results / "foreign.h5", "w") as f:  # HDF5, not a benchbot record
        f.attrs["format"] = "someone.else"
    (results / "sub").mkdir()
    (results / "notes.txt").write_text("not a record")
    copied = results / "sub" / good.name  # records in subfolders are listed too
    shutil.copy2(good, copied)
    report = refresh(results)
    problems = {p.relpath: p.error for p in report.problems}
    assert sorted(problems) == ["foreign.h5", "junk.h5", "truncated.h5"]
    assert "not a benchbot.record" in problems["foreign.h5"]
    assert report.records == len(SPECS) + 1 and f"sub/{good.name}" in names(query(results))
    assert {p.relpath for p in refresh(results).problems} == set(problems)  # still reported
    shutil.copy2(good, results / "junk.h5")  # repaired: listed, no longer a problem
    report = refresh(results)
    assert report.added == ["junk.h5"]
    assert sorted(p.relpath for p in report.problems) == ["foreign.h5", "truncated.h5"]


WRITER = textwrap.dedent("""
    import sys
    from tests.test_record import METRIC, make_meta
    from benchbot.results import RunRecord
    rec = RunRecord.create(sys.argv[1], None, make_meta(dut={"serial": "SIM-KILLED"}))
    step = rec.begin_step(0, "done", "power_sweep", {}, {}, {})
    rec.end_step(step, [METRIC], "pass")
    rec.begin_step(1, "running", "power_sweep", {}, {}, {})
    print(rec.path, flush=True)
    sys.stdin.read()  # hold the file open until killed
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_partial_record_busy_then_listed_as_interrupted(folder) -> None:
    results, _ = folder
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(results)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        partial = Path(proc.stdout.readline().strip())  # type: ignore[union-attr]
        assert partial.name.endswith(".h5.partial")
        if os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() != "FALSE":
            report = refresh(results)  # a live writer holds the HDF5 lock: not listed yet
            assert report.busy == [partial.name] and not report.problems
            assert query(results, serial="SIM-KILLED") == []
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    report = refresh(results)
    assert report.added == [partial.name] and not report.busy
    (record,) = query(results, serial="SIM-KILLED")
    assert (record.status, record.interrupted, record.partial) == ("interrupted", True, True)
    assert record.verdict is None and record.n_steps == 2
    assert names(query(results, status="interrupted")) == [partial.name]
    assert [m.metric for m in record_metrics(results, record.path)] == ["p1db_output_dbm"]


# ------------------------------------------------------------ concurrency
def test_concurrent_refreshes_from_processes_do_not_corrupt(tmp_path: Path) -> None:
    results = tmp_path / "results"
    n = 150
    for i in range(n):
        make_record(results, Spec(f"SIM-{i:04d}", "n78-pa-power-sweep", "pass", "lab3",
                                  T0 + 60 * i), metrics=3)
    # spawn: fresh interpreters, as two `benchbot results list` started together
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        reports = pool.map(refresh, [results] * 8, chunksize=1)
    # every refresh saw every record; the serialised writes added each exactly once
    assert all(r.records == n and not r.problems for r in reports)
    added = sorted(name for r in reports for name in r.added)
    assert added == sorted(p.name for p in results.glob("*.h5"))
    with sqlite3.connect(results / INDEX_NAME) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT count(*), count(DISTINCT path) FROM records").fetchone() == (
            n, n)
        assert db.execute("SELECT count(*) FROM metrics").fetchone() == (3 * n,)
    before = snapshot(results)
    (results / INDEX_NAME).unlink()
    refresh(results)
    assert snapshot(results) == before


def test_thousand_records_index_time(tmp_path: Path) -> None:
    """Not a timed assertion: the figures are printed (pytest -s) for the report."""
    results = tmp_path / "results"
    source = make_record(results, Spec("SIM-0000", "n78-pa-power-sweep", "pass", "lab3", T0))
    blob = source.read_bytes()
    source.unlink()
    for i in range(1000):  # copies of one small record under distinct names (~20 kB each)
        (results / f"{i // 100:02d}").mkdir(exist_ok=True)
        (results / f"{i // 100:02d}" / f"rec{i:04d}.h5").write_bytes(blob)
    age(results)
    start = time.perf_counter()
    report = refresh(results)
    build = time.perf_counter() - start
    start = time.perf_counter()
    again = refresh(results)
    steady = time.perf_counter() - start
    start = time.perf_counter()
    found = query(results, serial="SIM-0000", verdict="pass", since="2026-11-16", limit=None)
    query_s = time.perf_counter() - start
    assert report.records == 1000 and len(report.added) == 1000 and not report.problems
    assert not (again.added or again.updated or again.removed) and len(found) == 1000
    print(f"\n[index] 1000 records: build {build:.2f} s, "
          f"no-change refresh {steady * 1e3:.0f} ms, refresh+query {query_s * 1e3:.0f} ms")


# ------------------------------------------------------------ real runs + CLI
def small_plan(tmp_path: Path, serial: str, p1db_min: float) -> Path:
    data = yaml.safe_load(DEMO_PLAN.read_text().replace("e9", "e+9"))
    data["dut"]["serial"] = serial
    step = data["steps"][0]
    step["frequencies_hz"] = [3.55e9]
    step["input_power_dbm"] = {"start": -25.0, "stop": 8.0, "step": 1.0}
    step["limits"]["p1db_output_dbm"] = {"min": p1db_min}
    del step["limits"]["gain_flatness_db"]  # needs two frequencies or more
    path = tmp_path / f"plan_{serial}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def benchbot(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "benchbot.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_simulated_runs_listed_by_cli(run_plan, tmp_path: Path) -> None:
    results = tmp_path / "results"
    passed = run_plan(small_plan(tmp_path, "SIM-0100", 29.0), results)
    failed = run_plan(small_plan(tmp_path, "SIM-0101", 45.0), results)
    assert (passed.verdict.value, failed.verdict.value) == ("pass", "fail")
    (results / "broken.h5").write_bytes(b"garbage")
    assert names(query(results, verdict="fail")) == [failed.record_path.name]
    (record,) = query(results, serial="SIM-0100")
    assert record.path == passed.record_path and record.bench == "simulated-keysight"
    summary = open_record(record.path)
    indexed = [(m.step, m.metric, m.value, m.verdict) for m in record_metrics(results,
                                                                             record.path)]
    assert indexed == [(s.name, m["metric"], m["value"], m["verdict"] or None)
                       for s in summary.steps for m in s.metrics] and len(indexed) >= 5

    out = benchbot("results", "list", str(results), "--verdict", "fail", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [r["serial"] for r in data["records"]] == ["SIM-0101"]
    assert data["records"][0]["path"] == str(failed.record_path)
    assert [p["path"] for p in data["problems"]] == ["broken.h5"]
    assert "unreadable, skipped: broken.h5" in out.stderr

    table = benchbot("results", "list", str(results), "--plan", "n78-pa-power-sweep")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("2 records in")
    rows = [line.split() for line in lines if ".h5" in line]
    assert [row[0] for row in rows] == [failed.record_path.name, passed.record_path.name]
    assert rows[0][3:] == ["n78-pa-power-sweep", "SIM-0101", "simulated-keysight", "FAIL",
                           "completed"]

    assert benchbot("results", "list", str(results), "--since", "yesterday").returncode == 2
    missing = benchbot("results", "list", str(tmp_path / "nowhere"))
    assert missing.returncode == 4 and "no results folder" in missing.stderr


def test_unwritable_index_falls_back_to_memory(folder) -> None:
    results, files = folder
    (results / INDEX_NAME).mkdir()  # cannot be opened as a database (as on a read-only share)
    records, report = listing(results, Filters(verdict="pass"))
    assert not report.persistent and any("not writable" in n for n in report.notes)
    assert names(records) == expected(files, lambda s: s.verdict == "pass")
