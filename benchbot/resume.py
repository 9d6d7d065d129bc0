"""Continuing an interrupted run (`benchbot run --resume RECORD`): what the engine keeps of it.

The record says what was done (`benchbot.results.resume.ResumePoint`): completed steps are kept
with their metrics; the step that was running continues from its committed rows; the rest runs
as planned. Before any output the bench must be the one the interrupted run used (same
instrument in every role, same corrections), or mixing them would make one record of two set-ups.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchbot.limits import MetricResult
from benchbot.results.format import utc_iso
from benchbot.results.record import RunRecord
from benchbot.results.resume import ResumePoint
from instruments.interfaces import Instrument

#: what the interruption most likely was, by the status its record was left in
CAUSE = {
    "interrupted": "the record was never closed (process killed, power loss or crash)",
    "aborted": "the run was aborted (Ctrl-C, SIGTERM or a supervisor)",
    "error": "the run ended in error (e.g. a lost instrument)",
}


#: the bias kernel's event when it arms its watchdog process (benchbot.bias)
WATCHDOG_ARMED = re.compile(r"watchdog armed \(pid (\d+)\)")


class ResumeRefused(RuntimeError):
    """The bench differs from the interrupted run's, or the interrupted run's watchdog is still
    at work; nothing was switched."""


def wait_for_watchdogs(events: list[dict[str, Any]], host: str, timeout_s: float = 60.0,
                       alive: Callable[[int], bool] | None = None) -> list[int]:
    """Wait until no watchdog process of the interrupted run is left on this host: after a
    kill its watchdog powers the transistor down with its own sessions, and a resumed run must
    not talk to those instruments at the same time. Returns the pids waited for; raises
    ResumeRefused if one is still running after ``timeout_s``. Another host's watchdogs cannot
    be seen from here (its record names the host)."""
    if host and host != socket.gethostname():
        return []
    is_alive = alive or _watchdog_alive
    pids = sorted({int(m[1]) for e in events
                   if (m := WATCHDOG_ARMED.search(str(e.get("message", ""))))})
    waited = [pid for pid in pids if is_alive(pid)]
    deadline = time.monotonic() + timeout_s
    while any(is_alive(pid) for pid in waited):
        if time.monotonic() > deadline:
            still = [pid for pid in waited if is_alive(pid)]
            raise ResumeRefused(f"the interrupted run's bias watchdog (pid {still}) is still "
                                f"powering the device down after {timeout_s:g} s; resume when "
                                "it has finished (see its .watchdog.log next to the record)")
        time.sleep(0.2)
    return waited


def _watchdog_alive(pid: int) -> bool:
    """A live process started by multiprocessing's spawn (how benchbot.watchdog runs)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"multiprocessing" in cmdline and b"spawn" in cmdline


@dataclass
class ResumedRun:
    """An interrupted run to continue: its resume point and its completed steps' metrics."""

    point: ResumePoint
    #: step index -> metrics as recorded, for the steps that completed before the interruption
    kept_metrics: dict[int, list[MetricResult]] = field(default_factory=dict)

    @classmethod
    def from_summary(cls, point: ResumePoint, steps: list[Any]) -> ResumedRun:
        """`steps`: the record's step summaries (`benchbot.results.reader.StepSummary`)."""
        completed = {s.index for s in point.steps if s.completed}
        kept = {s.index: [MetricResult.from_record_row(s.name, row) for row in s.metrics]
                for s in steps if s.index in completed}
        return cls(point, kept)

    def completed_metrics(self, index: int) -> list[MetricResult] | None:
        """The recorded metrics of step ``index`` if it completed before the interruption."""
        return self.kept_metrics.get(index)

    def check_bench(self, instruments: dict[str, Instrument],
                    corrections: list[dict[str, Any]]) -> None:
        """Refuse (before any output) unless every role holds the same model and serial as in
        the interrupted run, and every correction has the same SHA-256."""
        problems = []
        for role, instrument in instruments.items():
            before = self.point.instruments.get(role)
            ident = instrument.identity
            now = (ident.model, ident.serial)
            if before is None:
                problems.append(f"role {role!r} was not on the bench of the interrupted run")
            elif (str(before.get("model", "")), str(before.get("serial", ""))) != now:
                problems.append(f"role {role!r}: {before.get('model')} s/n "
                                f"{before.get('serial')} then, {now[0]} s/n {now[1]} now")
        hashes = {(c["kind"], c["role"]): c.get("sha256") for c in self.point.corrections}
        for correction in corrections:
            key = (correction["kind"], correction["role"])
            if hashes.get(key) != correction.get("sha256"):
                problems.append(f"{correction['kind']} of role {correction['role']!r} changed "
                                f"since the interrupted run ({correction['source']})")
        if problems:
            raise ResumeRefused("cannot resume on this bench: " + "; ".join(problems)
                                + ". Resume on the same instruments and corrections, or "
                                "start a new run.")

    def note_in(self, record: RunRecord) -> None:
        """The interruption in `/interruptions` and as an event."""
        point = self.point
        running = next((s for s in point.steps if not s.completed), None)
        now = time.time()
        rows = len(running.committed_rows) if running else 0
        cause = CAUSE.get(point.interrupted_status, point.interrupted_status)
        where = (f"in step {running.name!r} after {rows} committed row(s)" if running
                 else f"after {len(point.steps)} step(s)")
        record.add_interruption({
            "interrupted_status": point.interrupted_status,
            "last_activity_utc": utc_iso(point.last_activity_epoch),
            "last_activity": point.last_activity_epoch,
            "resumed_utc": utc_iso(now), "resumed": now,
            "step": running.group if running else "", "rows_kept": rows, "note": cause,
        })
        session = f"session {point.resumes + 2} of this run" + (
            " (the simulated instruments draw new noise for it)" if point.simulated else "")
        record.add_event("warning", f"run resumed: interrupted {where} — {cause}; last record "
                         f"activity {utc_iso(point.last_activity_epoch)}; bench state "
                         f"re-established before continuing; {session}")
