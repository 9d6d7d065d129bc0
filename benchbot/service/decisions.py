"""An engineer's decision on a lost job (its agent stopped reporting: ``needs_decision``).

A lost job never goes back to the queue by itself: the DUT may still be powered and the run
half done. An engineer closes it as ``lost`` (outcome unknown) and either

* ``retry``: queues a *new* job for the booking, linked to the lost one
  (``retry_of_job_id``), on the same bench; the booking goes back to ``scheduled`` (it keeps
  its slot; reschedule it if that slot is past), or
* ``fail``: marks the booking ``failed``.

A job whose booking was asked to cancel is not retried (decide ``fail``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from benchbot.service import audit
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput, NotFound, PermissionDenied, StateConflict
from benchbot.service.models import Booking, Job, User, utcnow
from benchbot.service.states import BookingStatus, JobState

Decision = Literal["retry", "fail"]


def decide_lost_job(db: Database, *, actor_id: int, job_id: int, decision: Decision,
                    reason: str, now: datetime | None = None) -> tuple[Job, Job | None]:
    """Apply ``decision`` to the lost job ``job_id``: (the closed job, the new job or None)."""
    at = now or utcnow()
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("reason", "say why (what was found at the bench)")
    if decision not in ("retry", "fail"):
        raise InvalidInput("decision", f"must be 'retry' or 'fail', got {decision!r}")
    with db.write_session() as session:
        actor = session.get(User, actor_id)
        if actor is None or not actor.active or not actor.is_staff:
            raise PermissionDenied("only engineers and admins decide on lost jobs")
        job = session.scalars(select(Job).where(Job.id == job_id).with_for_update()).first()
        if job is None:
            raise NotFound("job", job_id)
        if job.state != JobState.NEEDS_DECISION:
            raise StateConflict(f"job {job.id} is {job.state!r}: only a job in "
                                f"'{JobState.NEEDS_DECISION}' (its agent was lost) takes a "
                                "decision")
        booking = job.booking
        new_job = (_retry(session, job, booking, text, at) if decision == "retry"
                   else _fail(job, booking, text, at))
        session.flush()
        audit.record(session, action="job.decision", user=actor,
                     organisation_id=booking.organisation_id, object_type="job",
                     object_id=job.id, at=at,
                     detail={"decision": decision, "reason": text,
                             "booking": booking.public_id,
                             **({"new_job_id": new_job.id} if new_job else {})})
        return job, new_job


def _retry(session: Session, job: Job, booking: Booking, reason: str, at: datetime) -> Job:
    if job.cancel_requested:
        raise StateConflict(f"job {job.id}: its booking was asked to cancel; decide 'fail'")
    if booking.status not in (BookingStatus.RUNNING, BookingStatus.SCHEDULED):
        raise StateConflict(f"booking {booking.public_id} is {booking.status!r}: only a "
                            "scheduled or running booking is retried")
    job.change_state(JobState.LOST, at, f"lost; retried as a new job: {reason}")
    if booking.status == BookingStatus.RUNNING:
        booking.change_status(BookingStatus.SCHEDULED, at, f"retry after a lost job: {reason}")
    else:  # still scheduled (lost before it reported a start): replace the waiting note
        booking.status_reason, booking.updated_at = f"retry after a lost job: {reason}", at
    session.flush()  # the lost job is closed before the new one opens (one open job each)
    new_job = Job(booking_id=booking.id, bench_id=job.bench_id, state=JobState.QUEUED.value,
                  retry_of_job_id=job.id, created_at=at)
    session.add(new_job)
    return new_job


def _fail(job: Job, booking: Booking, reason: str, at: datetime) -> None:
    job.change_state(JobState.LOST, at, f"lost; booking failed: {reason}")
    if booking.status in (BookingStatus.RUNNING, BookingStatus.SCHEDULED):
        booking.change_status(BookingStatus.FAILED, at, f"job lost: {reason}")
    return None
