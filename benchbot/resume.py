"""Continuing an interrupted run (`benchbot run --resume RECORD`): what the engine keeps of it.

The record says what was done (`benchbot.results.resume.ResumePoint`): completed steps are kept
with their metrics; the step that was running continues from its committed rows; the rest runs
as planned. Before any output the bench must be the one the interrupted run used (same
instrument in every role, same corrections), or mixing them would make one record of two set-ups.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
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


class ResumeRefused(RuntimeError):
    """The bench differs from the interrupted run's; nothing was switched."""


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
