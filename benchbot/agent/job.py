"""One claimed job on this bench PC: the plan run through :mod:`benchbot.runner` (on the
built-in simulated bench, served on loopback for the run, or on the instruments of the bench
file), then the report built and everything uploaded -- in a worker thread, while the agent's
main thread heartbeats.

Abort (the lab's cancel, a lost lease, Ctrl-C): :meth:`JobWork.abort` makes the progress
listener raise :class:`~benchbot.engine.RunAborted` at the run's next sweep point or step, the
same check the engine makes against ``Engine.abort_requested``; the engine then takes its
safe-state path and closes the record ``aborted``, which is reported like any other outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchbot.agent.client import AgentClient, JobLost, ServiceRefused, ServiceUnreachable
from benchbot.bench import BUILTIN_BENCHES, BenchDefinition, builtin_bench_path, load_bench
from benchbot.limits import Verdict
from benchbot.plan import Plan, parse_plan

log = logging.getLogger(__name__)

UPLOAD_ATTEMPTS = 8
"""Upload tries on network errors (1, 2, 4… s apart, at most 30 s)."""


class AgentSetupError(ValueError):
    """The agent cannot serve the bench it was given (names the option and the reason)."""


@dataclass(frozen=True)
class LocalBench:
    """The bench this agent drives: its definition, its file's text, and whether it is a
    built-in simulated one (served on loopback for each run)."""

    definition: BenchDefinition
    text: str
    simulated: bool


def resolve_bench(name: str, bench_file: Path | None) -> LocalBench:
    """The service's bench ``name`` on this PC: ``bench_file`` (whose ``name`` must be it), or
    the built-in simulated bench of that name (``simulated-keysight`` or its key
    ``simulated``)."""
    if bench_file is not None:
        definition = load_bench(bench_file)
        if definition.name != name:
            raise AgentSetupError(f"--bench-file: {bench_file} describes bench "
                                  f"{definition.name!r}, not {name!r}")
        return LocalBench(definition, bench_file.read_text(encoding="utf-8"),
                          definition.fully_simulated)
    for key in BUILTIN_BENCHES:
        path = builtin_bench_path(key)
        definition = load_bench(path)
        if name in (key, definition.name):
            return LocalBench(definition, path.read_text(encoding="utf-8"), True)
    raise AgentSetupError(f"--bench: {name!r} is no built-in simulated bench (those are "
                          f"{', '.join(BUILTIN_BENCHES)}): give its bench file with "
                          "--bench-file")


class PlanProgress:
    """The engine's progress listener for an agent: keeps a snapshot for the main thread to
    post (no network I/O on the measuring thread) and raises RunAborted once abort is set."""

    def __init__(self, plan: Plan, abort: threading.Event) -> None:
        self._abort, self._lock = abort, threading.Lock()
        self._steps = len(plan.steps)
        self._total_points = max(1, sum(step.total_points() for step in plan.steps))
        self._done_points = 0
        self._step_points = self._step_done = 0
        self._step: str | None = None
        self._message: str | None = None
        self.version = 0
        self.abort_reason = "abort requested"

    def step_started(self, index: int, name: str, total_points: int) -> None:
        with self._lock:
            self._step, self._step_points, self._step_done = name, total_points, 0
            self._message = f"step {index + 1}/{self._steps} {name}"
            self.version += 1
        self._check()

    def point_done(self, index: int) -> None:
        with self._lock:
            self._step_done += 1
            self.version += 1
        self._check()

    def step_finished(self, index: int, name: str, verdict: Verdict) -> None:
        with self._lock:
            self._done_points += self._step_points
            self._step_points = self._step_done = 0
            self._message = f"step {index + 1}/{self._steps} {name}: {verdict.value}"
            self.version += 1

    def message(self, text: str) -> None:
        self.note(text)

    def note(self, text: str) -> None:
        """A message of the agent's own (building the report, uploading…)."""
        with self._lock:
            self._message = text
            self.version += 1

    def snapshot(self) -> tuple[int, str | None, float, str | None]:
        """(version, step, fraction of the plan's points, message)."""
        with self._lock:
            done = self._done_points + min(self._step_done, self._step_points)
            return (self.version, self._step, min(1.0, done / self._total_points),
                    self._message)

    def _check(self) -> None:
        if self._abort.is_set():
            from benchbot.engine import RunAborted  # imported by then: a run is under way

            raise RunAborted(self.abort_reason)


@dataclass
class JobResult:
    """The run's outcome as the service is told it (no record if the run never began)."""

    status: str
    verdict: str
    error: str | None = None
    record_path: Path | None = None


class JobWork:
    """The worker thread of one job: run → report → upload."""

    def __init__(self, job: dict[str, Any], bench: LocalBench, plan: Plan, results_dir: Path,
                 client: AgentClient) -> None:
        self.job, self.bench, self.plan = job, bench, plan
        self.results_dir, self.client = results_dir, client
        self.abort_requested = threading.Event()
        self.run_ended = threading.Event()
        """Set once the record is closed (the bench is in its safe state)."""
        self.progress = PlanProgress(plan, self.abort_requested)
        self.result: JobResult | None = None
        self.stop_reporting = threading.Event()
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._work, name=f"job-{job['job_id']}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout_s: float) -> bool:
        """Whether the worker has ended (an Event, not Thread.join: a join interrupted by
        Ctrl-C may wrongly report the thread ended on Python < 3.13)."""
        return self._finished.wait(timeout_s)

    def abort(self, reason: str) -> None:
        """Abort the run at its next point through the safe state (no effect once it ended)."""
        if not self.abort_requested.is_set():
            self.progress.abort_reason = reason
            self.abort_requested.set()

    def _work(self) -> None:
        try:
            result = self._run()
        except Exception as exc:  # refused on the bench, simulators, record: the run's error
            log.exception("job %s: the run failed before its record closed", self.job["job_id"])
            result = JobResult("error", Verdict.ERROR.value, f"{type(exc).__name__}: {exc}")
        finally:
            self.run_ended.set()
        try:
            if result.record_path is not None and not self.stop_reporting.is_set():
                self._report_and_upload(result)
        finally:
            self.result = result
            self.client.close()
            self._finished.set()

    def _run(self) -> JobResult:
        # the engine, its measurements (scipy), pyvisa and h5py: imported when a job runs, so
        # an idle agent stays small (~50 MB instead of ~145: `benchbot serve` runs six)
        from benchbot import simbench
        from benchbot.runner import RunRequest, run

        request = RunRequest(plan=self.plan, plan_text=self.job["plan_text"],
                             bench=self.bench.definition, bench_text=self.bench.text,
                             results_dir=self.results_dir)
        if self.bench.simulated:
            seed = (self.bench.definition.simulation or {}).get("seed")
            with simbench.running(self.bench.definition, self.plan.dut.part_number) as (
                    served, _):
                outcome = run(replace(request, bench=served, simulated=True,
                                      simulator_seed=seed), self.progress)
        else:
            outcome = run(request, self.progress)
        log.info("job %s: run %s, verdict %s, record %s", self.job["job_id"], outcome.status,
                 outcome.verdict.value, outcome.record_path)
        return JobResult(outcome.status, outcome.verdict.value, outcome.error,
                         outcome.record_path)

    def _report_and_upload(self, result: JobResult) -> None:
        assert result.record_path is not None
        files = {"record": result.record_path, **self._reports(result.record_path)}
        self.progress.note(f"uploading the record and {len(files) - 1} report(s)")
        delay_s = 1.0
        for attempt in range(1, UPLOAD_ATTEMPTS + 1):
            if self.stop_reporting.is_set():
                return
            try:
                reply = self.client.upload(self.job["job_id"], files, status=result.status,
                                           verdict=result.verdict)
            except ServiceUnreachable as exc:
                log.warning("job %s: upload attempt %d failed: %s", self.job["job_id"],
                            attempt, exc)
                time.sleep(delay_s)
                delay_s = min(30.0, delay_s * 2)
                continue
            except (JobLost, ServiceRefused) as exc:
                log.error("job %s: upload refused: %s", self.job["job_id"], exc)
                return
            log.info("job %s: uploaded as run %s (SHA-256 %s)", self.job["job_id"],
                     reply["run_public_id"], reply["record_sha256"])
            return
        log.error("job %s: upload failed %d times; the record stays at %s",
                  self.job["job_id"], UPLOAD_ATTEMPTS, result.record_path)

    def _reports(self, record_path: Path) -> dict[str, Path]:
        """The HTML and PDF reports next to the record (none if building them fails: the
        record is what matters, and the lab can build them again)."""
        from benchbot.report import build_report, write_html, write_pdf
        from benchbot.report.content import default_report_path

        self.progress.note("building the report")
        try:
            content = build_report(record_path)
            return {"report_html": write_html(content, default_report_path(record_path,
                                                                              ".html")),
                    "report_pdf": write_pdf(content, default_report_path(record_path, ".pdf"))}
        except Exception:
            log.exception("job %s: the report could not be built", self.job["job_id"])
            return {}


def job_plan(job: dict[str, Any], bench: LocalBench) -> Plan:
    """The job's plan, parsed and checked against this bench (PlanError, SafetyError)."""
    from benchbot.safety import check_plan_against_bench

    plan = parse_plan(job["plan_text"], f"job {job['job_id']}: {job['plan_file_name']}")
    check_plan_against_bench(plan, bench.definition)
    return plan
