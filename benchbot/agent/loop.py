"""The bench agent's loop: claim → run (worker thread) while heartbeating → finish; again.

The main thread never measures: it heartbeats every third of the lease, posts the run's
progress at most every :data:`PROGRESS_PERIOD_S`, and aborts the run (safe state) when the
service says cancel, when the lease is lost (a 409, or no heartbeat answered before the lease
ran out: the service has given the job to an engineer), or on Ctrl-C / SIGTERM. A job is
never started again once lost: the agent only ever runs what it has just claimed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchbot.agent.client import AgentClient, JobLost, ServiceRefused, ServiceUnreachable
from benchbot.agent.job import JobResult, JobWork, LocalBench, job_plan

log = logging.getLogger(__name__)

PROGRESS_PERIOD_S = 0.5
TICK_S = 0.1
MAX_RETRY_S = 30.0
FINISH_ATTEMPTS = 6
BEAT_RETRY_S = 0.25
"""First retry of a failed heartbeat (doubling, at most a sixth of the lease)."""


@dataclass(frozen=True)
class AgentConfig:
    server_url: str
    token: str
    bench_name: str
    bench: LocalBench
    results_dir: Path
    poll_s: float = 5.0
    exit_with_parent: bool = False
    """Stop when the process that started this one ends (the service's local agents)."""


class AgentStopped(Exception):
    """Ctrl-C / SIGTERM while a job ran: it was aborted and reported; the agent stops."""


def agent_name() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def serve(config: AgentConfig, stop: threading.Event | None = None) -> None:
    """Pull and run the bench's jobs until ``stop`` is set (or Ctrl-C: KeyboardInterrupt while
    idle; :class:`AgentStopped` after aborting a running job). :class:`ServiceRefused` when the
    service refuses the token."""
    stop = stop or threading.Event()
    client = AgentClient(config.server_url, config.token, agent_name())
    parent = os.getppid()
    retry_s = 1.0
    log.info("agent %s for bench %s pulling from %s", client.agent_name, config.bench_name,
             config.server_url)
    try:
        while not stop.is_set():
            if config.exit_with_parent and os.getppid() != parent:
                log.info("the service that started this agent is gone: stopping")
                return
            asked_at = time.monotonic()  # the lease runs from (at the latest) the claim
            try:
                job = client.claim()
            except ServiceUnreachable as exc:
                log.warning("service unreachable (%s); again in %.0f s", exc, retry_s)
                stop.wait(retry_s)
                retry_s = min(MAX_RETRY_S, retry_s * 2)
                continue
            retry_s = 1.0
            if job is None:
                stop.wait(config.poll_s)
                continue
            JobSupervisor(client, config, job, stop, asked_at).run()
    finally:
        client.close()


class JobSupervisor:
    """One claimed job, from the start report to the finish report."""

    def __init__(self, client: AgentClient, config: AgentConfig, job: dict[str, Any],
                 stop: threading.Event, claimed_at: float) -> None:
        self.client, self.config, self.job, self.stop = client, config, job, stop
        self.job_id: int = job["job_id"]
        self.lease_s: float = float(job["lease_s"])
        self.deadline = claimed_at + self.lease_s  # the lease by this PC's clock (no later)
        self.lease_lost = False
        self.interrupted = False
        self.beat_retry_s = BEAT_RETRY_S

    def run(self) -> None:
        log.info("job %s claimed: %s for booking %s (%s)", self.job_id, self.job["plan_file_name"],
                 self.job["booking_public_id"], self.job["dut_description"][:80])
        try:
            plan = job_plan(self.job, self.config.bench)
        except Exception as exc:  # the plan is refused on this bench: nothing was touched
            log.error("job %s refused before the bench was touched: %s", self.job_id, exc)
            self._finish(JobResult("error", "error", f"refused: {exc}"))
            return
        if not self._report_start():
            return
        work = JobWork(self.job, self.config.bench, plan,
                       self.config.results_dir / f"job-{self.job_id}", self.client.copy())
        work.start()
        self._supervise(work)
        assert work.result is not None
        if not self.lease_lost:
            self._finish(work.result)
        if self.interrupted:
            raise AgentStopped(f"job {self.job_id} aborted on request ({work.result.status})")

    def _report_start(self) -> bool:
        """Tell the service the run starts (job and booking running) before touching the
        bench; False (nothing run) if the job is no longer ours or the service stays silent
        for the whole lease."""
        delay_s = 0.5
        while time.monotonic() < self.deadline:
            try:
                self.client.progress(self.job_id, step=None, fraction=0.0,
                                     message=f"starting on bench {self.config.bench_name}")
                return True
            except JobLost as exc:
                log.error("job %s is no longer ours before it started: %s", self.job_id, exc)
                return False
            except ServiceUnreachable as exc:
                log.warning("job %s: start not acknowledged (%s)", self.job_id, exc)
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, self.lease_s / 6)
        log.error("job %s: the service did not acknowledge the start within the lease: not "
                  "run (it goes to an engineer's decision)", self.job_id)
        return False

    def _supervise(self, work: JobWork) -> None:
        """Heartbeat and post progress until the worker ends; abort it when needed."""
        next_beat = time.monotonic() + self.lease_s / 3
        posted_version, posted_at = -1, 0.0
        while True:
            try:
                if work.wait(TICK_S):
                    return
                now = time.monotonic()
                if self.stop.is_set() and not self.interrupted:
                    self._interrupt(work)
                if now >= next_beat:
                    next_beat = self._heartbeat(work, now)
                if now - posted_at >= PROGRESS_PERIOD_S and not self.lease_lost:
                    version = work.progress.version
                    if version != posted_version:
                        posted_version, posted_at = version, now
                        self._post_progress(work)
                if now > self.deadline and not self.lease_lost:
                    self._lose(work, "no heartbeat was answered within the lease")
            except KeyboardInterrupt:
                self._interrupt(work)

    def _heartbeat(self, work: JobWork, now: float) -> float:
        """One heartbeat; returns when the next is due."""
        if self.lease_lost:
            return now + self.lease_s
        try:
            reply = self.client.heartbeat(self.job_id)
        except JobLost as exc:
            self._lose(work, str(exc))
            return now + self.lease_s
        except ServiceUnreachable as exc:  # again soon, sooner than the lease runs out
            self.beat_retry_s = min(self.beat_retry_s * 2, self.lease_s / 6)
            log.warning("job %s: heartbeat failed (%s); again in %.1f s", self.job_id, exc,
                        self.beat_retry_s)
            return now + self.beat_retry_s
        self.deadline, self.beat_retry_s = now + self.lease_s, BEAT_RETRY_S
        if reply["cancel_requested"] and not work.abort_requested.is_set():
            log.warning("job %s: the lab cancelled the booking: aborting through the safe "
                        "state", self.job_id)
            work.abort("cancelled by the lab (booking cancel)")
        return now + self.lease_s / 3

    def _post_progress(self, work: JobWork) -> None:
        _, step, fraction, message = work.progress.snapshot()
        try:
            self.client.progress(self.job_id, step=step, fraction=fraction, message=message)
        except ServiceUnreachable:
            pass  # the next post carries the newer state
        except JobLost as exc:
            self._lose(work, str(exc))

    def _lose(self, work: JobWork, reason: str) -> None:
        self.lease_lost = True
        log.error("job %s: lease lost (%s): aborting through the safe state; it will not be "
                  "run again", self.job_id, reason)
        work.abort(f"lease lost: {reason}")

    def _interrupt(self, work: JobWork) -> None:
        """Ctrl-C / SIGTERM: abort the run; once it has ended, a second one stops reporting."""
        if self.interrupted and work.run_ended.is_set():
            log.warning("job %s: not reporting further (the record stays on this PC)",
                        self.job_id)
            work.stop_reporting.set()
            return
        if not self.interrupted:
            log.warning("job %s: stop requested: aborting through the bench's safe state, "
                        "then reporting", self.job_id)
        else:
            log.warning("job %s: waiting for the bench's safe state", self.job_id)
        self.interrupted = True
        work.abort("agent stopped (Ctrl-C or SIGTERM)")

    def _finish(self, result: JobResult) -> None:
        """Report the outcome (retried while the service is unreachable)."""
        delay_s = 1.0
        for _ in range(FINISH_ATTEMPTS):
            try:
                reply = self.client.finish(self.job_id, status=result.status,
                                           verdict=result.verdict, error=result.error)
            except ServiceUnreachable as exc:
                log.warning("job %s: finish failed (%s); again in %.0f s", self.job_id, exc,
                            delay_s)
                time.sleep(delay_s)
                delay_s = min(MAX_RETRY_S, delay_s * 2)
                continue
            except (JobLost, ServiceRefused) as exc:
                log.error("job %s: finish refused: %s", self.job_id, exc)
                return
            log.info("job %s finished: job %s, booking %s", self.job_id, reply["job_state"],
                     reply["booking_status"])
            return
        log.error("job %s: finish not acknowledged after %d attempts; the service will see "
                  "the lease run out", self.job_id, FINISH_ATTEMPTS)
