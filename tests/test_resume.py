"""`benchbot run --resume`: a run killed (SIGKILL) at a random point, aborted or refused continues
from its last committed row and ends equal to an uninterrupted run within the measurement's
repeatability; the record keeps what was committed bit for bit and shows the interruption."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import benchbot.results
from benchbot import simbench
from benchbot.bench import builtin_bench_path, load_bench
from benchbot.cli import main
from benchbot.engine import SilentListener
from benchbot.limits import MetricResult
from benchbot.plan import load_plan
from benchbot.report import build_report
from benchbot.results.check import check_record
from benchbot.results.reader import open_record
from benchbot.results.record import RunRecord
from benchbot.resume import ResumeRefused, wait_for_watchdogs
from benchbot.runner import RunRequest, run
from benchbot.runner import _meta as runner_meta
from tests._resume import differences, kill_after, kill_at_point, resume, run_plan

PLAN = Path(__file__).parent / "data" / "two_step_plan.yaml"
POINTS_PER_ROW = 34  # -25..8 dBm in 1 dB steps
# step "centre": points 1-34 (one row); step "edges": rows 3.3 GHz (35-68) and 3.8 GHz (69-102)
SEED = 20261124


def tolerance(metric: MetricResult) -> float:
    """Repeatability of a re-measured power-sweep row on the simulated bench: the simulators'
    noise differs after a restart. Measured: a re-measured row moved P1dB by 0.03 dB and PAE at
    P1dB by 0.16 points against the uninterrupted run; the bounds are ~3x that."""
    return 1.0 if metric.unit == "%" else 0.1


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    status, record = run_plan(PLAN, "simulated", tmp_path_factory.mktemp("reference"))
    assert status == 0
    return record


def stored(record: Path, step: str, dataset: str) -> np.ndarray:
    with h5py.File(record, "r") as f:
        return f[f"steps/{step}/{dataset}"][()]


def flat(text: str) -> str:
    """Terminal output without the console's line wrapping."""
    return " ".join(text.split())


def interruptions(record: Path) -> np.ndarray:
    with h5py.File(record, "r") as f:
        return f["interruptions"][()]


def test_sigkill_at_random_point_resumes_equal_to_uninterrupted(tmp_path: Path,
                                                                reference: Path) -> None:
    point = random.Random(SEED).randrange(2 * POINTS_PER_ROW + 2, 3 * POINTS_PER_ROW)
    why = f"killed at point {point} (random seed {SEED})"
    partial = kill_at_point(PLAN, "simulated", tmp_path, point)
    committed_row = stored(partial, "001_edges", "output_power_dbm")[0].copy()
    centre = stored(partial, "000_centre", "output_power_dbm").copy()

    status, record = resume(partial)

    assert status == 0, why
    assert not partial.exists() and record.exists()
    assert differences(record, reference, tolerance) == [], why
    # kept, not measured again: the completed step and the committed row, bit for bit
    np.testing.assert_array_equal(stored(record, "000_centre", "output_power_dbm"), centre)
    np.testing.assert_array_equal(stored(record, "001_edges", "output_power_dbm")[0],
                                  committed_row)
    assert np.isfinite(stored(record, "001_edges", "output_power_dbm")).all()
    (row,) = interruptions(record)
    assert (row["interrupted_status"], row["step"], row["rows_kept"]) == (
        b"interrupted", b"001_edges", 1), why
    summary = open_record(record)
    assert (summary.status, summary.verdict, summary.format_version) == (
        "completed", "pass", "1.1")
    assert any("run resumed" in e["message"] for e in summary.events)
    report = check_record(record)
    assert report.valid, [str(p) for p in report.problems]
    # what a reader sees: the report, the labelled arrays
    resumptions = build_report(record, figures=False).resumptions
    assert len(resumptions) == 1 and "1 committed row(s) kept" in resumptions[0]
    assert benchbot.results.open(record).interruptions.sizes["interruption"] == 1


def test_sigkill_before_any_committed_row_runs_the_step_again(tmp_path: Path,
                                                              reference: Path) -> None:
    partial = kill_at_point(PLAN, "simulated", tmp_path, POINTS_PER_ROW + 5)
    with h5py.File(partial, "r") as f:
        assert "committed_rows" not in f["steps/001_edges"].attrs
    status, record = resume(partial)
    assert status == 0
    assert differences(record, reference, tolerance) == []
    (row,) = interruptions(record)
    assert (row["step"], row["rows_kept"]) == (b"001_edges", 0)


def test_sigkill_at_a_random_moment_resumes(tmp_path: Path, reference: Path) -> None:
    """Wherever the kill lands (mid-SCPI transaction, mid-flush), the resumed run completes
    equal to the uninterrupted one. The plan measures for ~3 s after its record appears."""
    delay_s = random.Random(SEED + 1).uniform(0.1, 2.0)
    why = f"killed {delay_s:.2f} s after the record appeared (random seed {SEED + 1})"
    partial = kill_after(PLAN, "simulated", tmp_path, delay_s)
    status, record = resume(partial)
    assert status == 0, why
    assert differences(record, reference, tolerance) == [], why


class AbortAt(SilentListener):
    """Ctrl-C at the N-th point of the run."""

    def __init__(self, point: int) -> None:
        self.point, self.points = point, 0

    def point_done(self, index: int) -> None:
        self.points += 1
        if self.points == self.point:
            raise KeyboardInterrupt("operator")


def run_in_process(results: Path, listener: SilentListener) -> Path:
    bench_path = builtin_bench_path()
    bench = load_bench(bench_path)
    with simbench.running(bench) as (served, _):
        request = RunRequest(load_plan(PLAN), PLAN.read_text(), served,
                             bench_path.read_text(), results, simulated=True,
                             simulator_seed=(bench.simulation or {}).get("seed"))
        return run(request, listener).record_path


def test_an_aborted_run_resumes_and_says_it_was_aborted(tmp_path: Path, reference: Path) -> None:
    record = run_in_process(tmp_path, AbortAt(2 * POINTS_PER_ROW + 10))
    assert open_record(record).status == "aborted"
    status, resumed = resume(record)
    assert status == 0 and resumed == record
    assert open_record(record).status == "completed"
    assert differences(record, reference, tolerance) == []
    (row,) = interruptions(record)
    assert (row["interrupted_status"], row["rows_kept"]) == (b"aborted", 1)
    events = [e["message"] for e in open_record(record).events]
    assert any(m.startswith("run aborted") for m in events)  # the history stays
    # resumed twice: a second interruption is a second row
    assert not list(tmp_path.glob("*.partial"))


def test_resume_refuses_a_completed_record(reference: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / reference.name
    shutil.copy(reference, copy)
    assert main(["run", "--resume", str(copy)]) == 3
    assert "status 'completed'" in flat(capsys.readouterr().err)


def test_resume_refuses_another_bench_or_plan_before_touching_the_record(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = run_in_process(tmp_path, AbortAt(POINTS_PER_ROW + 3))
    before = record.read_bytes()
    assert main(["run", "--resume", str(record), "--bench", "simulated-rs"]) == 3
    assert "not the bench file of the interrupted run" in flat(capsys.readouterr().err)
    other_plan = Path(__file__).parents[1] / "test_plans" / "pa_power_sweep.yaml"
    assert main(["run", str(other_plan), "--resume", str(record)]) == 3
    assert "is not the plan of the interrupted run" in flat(capsys.readouterr().err)
    assert record.read_bytes() == before and not list(tmp_path.glob("*.partial"))


def test_resume_refuses_a_file_that_is_not_a_record(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "x.h5.partial"
    junk.write_bytes(b"\0" * 4096)
    assert main(["run", "--resume", str(junk)]) == 3
    assert "cannot be opened as HDF5" in flat(capsys.readouterr().err)
    assert main(["run", "--resume", str(tmp_path / "missing.h5")]) == 3
    assert "no such record" in flat(capsys.readouterr().err)


class LoseInstrumentAt(SilentListener):
    """The power meter's server goes away (cable pulled, instrument crashed) at the N-th point."""

    def __init__(self, point: int, simulated: object) -> None:
        self.point, self.points, self.simulated = point, 0, simulated

    def point_done(self, index: int) -> None:
        self.points += 1
        if self.points == self.point:
            self.simulated.servers["power_meter"].stop()  # type: ignore[attr-defined]


def test_a_run_that_lost_an_instrument_resumes_on_the_restored_bench(
        tmp_path: Path, reference: Path) -> None:
    bench_path = builtin_bench_path()
    bench = load_bench(bench_path)
    with simbench.running(bench) as (served, simulated):
        request = RunRequest(load_plan(PLAN), PLAN.read_text(), served, bench_path.read_text(),
                             tmp_path, simulated=True,
                             simulator_seed=(bench.simulation or {}).get("seed"))
        outcome = run(request, LoseInstrumentAt(2 * POINTS_PER_ROW + 4, simulated))
    assert outcome.status == "error", outcome.error
    status, record = resume(outcome.record_path)
    assert status == 0
    assert differences(record, reference, tolerance) == []
    (row,) = interruptions(record)
    assert (row["interrupted_status"], row["step"], row["rows_kept"]) == (
        b"error", b"001_edges", 1)


def test_resume_waits_for_the_interrupted_runs_watchdog_and_refuses_if_it_stays() -> None:
    """After a kill the watchdog powers the device down with its own sessions: a resume on the
    same host waits for it, and refuses (before touching anything) if it does not finish."""
    events = [{"message": "bias: watchdog armed (pid 4242)"}, {"message": "other"}]
    ticks = iter([True, True, False])
    assert wait_for_watchdogs(events, "", timeout_s=5, alive=lambda pid: next(ticks)) == [4242]
    with pytest.raises(ResumeRefused, match=r"watchdog \(pid \[4242\]\) is still powering"):
        wait_for_watchdogs(events, "", timeout_s=0.3, alive=lambda pid: True)
    assert wait_for_watchdogs(events, "another-host", alive=lambda pid: True) == []


def test_a_run_killed_before_its_bench_was_recorded_resumes_as_a_whole(
        tmp_path: Path, reference: Path) -> None:
    """Killed between creating its record and recording the bench (or halfway through
    /instruments): the resume records the bench whole and runs every step."""
    bench_path = builtin_bench_path()
    request = RunRequest(load_plan(PLAN), PLAN.read_text(), load_bench(bench_path),
                         bench_path.read_text(), tmp_path, simulated=True,
                         simulator_seed=(load_bench(bench_path).simulation or {}).get("seed"))
    record = RunRecord.create(tmp_path, None, runner_meta(request))
    record.add_instrument("signal_generator", idn={"model": "N5182B"}, resource="x", driver="y")
    record.flush()
    partial = record.path
    record._file.close()  # the writer dies here: its handle goes with it, the record is not closed
    status, closed = resume(partial)
    assert status == 0
    assert differences(closed, reference, tolerance) == []
    summary = open_record(closed)
    assert set(summary.instruments) >= {"signal_generator", "signal_analyzer", "power_meter"}
    assert summary.instruments["signal_generator"]["idn.model"] == "N5182B"
    assert check_record(closed).valid
