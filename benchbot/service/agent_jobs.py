"""The job queue as bench agents see it: claim, lease, progress, finish; and the sweeper
that queues due jobs and takes jobs away from lost agents.

At most once (docs/service.md, "Agents"): a job is claimed by one agent process, atomically
(one ``UPDATE … RETURNING`` whose candidate sub-select is ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; on SQLite the write transaction holds the database's write lock). The claim holds a
lease that the agent's heartbeats extend; a lease that runs out moves the job to
``needs_decision`` -- the DUT may still be powered, so an engineer decides
(:mod:`benchbot.service.decisions`) -- and never back to ``queued``; the agent is told at its
next call and must stop. A bench runs one job at a time: no claim while another job of the
bench is claimed, running or waiting for a decision.

Jobs are queued when a booking is scheduled (:mod:`benchbot.service.scheduling`) and handed
out once the booking's slot has started. The claim leaves the booking ``scheduled``; the
agent's first progress report, sent before it touches the bench, makes job and booking
``running``. :func:`queue_due_jobs` queues a job for a scheduled booking whose slot has started
and which has none open (a safety net: scheduling and an engineer's retry queue one already).

Finish: completed → job and booking completed (the record must be uploaded first); error →
failed. Aborted after the lab's cancel (``cancel_requested``, passed on by the heartbeat) →
job aborted, booking cancelled; aborted otherwise (the bench operator stopped the agent) → the
job waits for an engineer's decision, like a lost one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Select, exists, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.dml import ReturningUpdate

from benchbot.service import audit
from benchbot.service.agent_tokens import BenchAgentIdentity
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput, NotFound, StateConflict
from benchbot.service.models import Bench, Booking, Job, Run, utcnow
from benchbot.service.states import (
    OPEN_JOB_STATES,
    BookingStatus,
    JobState,
    RunStatus,
    RunVerdict,
    check_transition,
)

DEFAULT_LEASE_S = 30.0
"""How long a claim or heartbeat holds the job (agents heartbeat every third of it)."""
HELD_STATES = (JobState.CLAIMED, JobState.RUNNING)
#: a bench with a job in one of these is busy: no other job of it is handed out
BENCH_BUSY_STATES = (JobState.CLAIMED, JobState.RUNNING, JobState.NEEDS_DECISION)
#: what a finished run may report: the record's status and the verdicts it allows
FINAL_RUN_VERDICTS: dict[RunStatus, tuple[RunVerdict, ...]] = {
    RunStatus.COMPLETED: (RunVerdict.PASS, RunVerdict.MARGINAL, RunVerdict.FAIL),
    RunStatus.ERROR: (RunVerdict.ERROR,),
    RunStatus.ABORTED: (RunVerdict.ABORTED,),
}
MAX_AGENT_ID_CHARS = 200
_CANDIDATE = aliased(Job, name="candidate")  # the job a claim picks (locked on PostgreSQL)
MAX_STEP_CHARS = 200
MAX_MESSAGE_CHARS = 2000

T = TypeVar("T")


class LeaseLost(StateConflict):
    """The job is no longer this agent's to run (lease expired, job closed or cancelled before
    it started): the agent must stop, and never run it again."""


@dataclass(frozen=True)
class ClaimedJob:
    """What an agent needs to run a job: the plan, the DUT, and whose booking it is."""

    job_id: int
    booking_id: int
    booking_public_id: str
    organisation_id: int
    bench_name: str
    catalogue_entry: str
    plan_file_name: str
    plan_text: str
    dut_description: str
    dut_quantity: int
    scheduled_start: datetime
    scheduled_end: datetime
    lease_until: datetime


@dataclass(frozen=True)
class Heartbeat:
    lease_until: datetime
    cancel_requested: bool


@dataclass(frozen=True)
class Finished:
    job_state: str
    booking_status: str
    reason: str | None


# --- claim ------------------------------------------------------------------------------------

def claim_next_job(db: Database, agent: BenchAgentIdentity, agent_id: str,
                   lease_s: float = DEFAULT_LEASE_S, now: datetime | None = None
                   ) -> ClaimedJob | None:
    """Claim the bench's oldest due queued job for ``agent_id`` (None: nothing to do, or the
    bench is busy). Lost leases are swept and due jobs queued first."""
    at = now or utcnow()
    agent_id = checked_agent_id(agent_id)
    sweep(db, at)
    with db.session() as session:  # a read first: no write lock when there is nothing to do
        if not session.scalar(select(_due_jobs(agent.bench_id, at).exists())):
            return None
    with db.write_session() as session:
        if db.kind == "postgresql":  # claims of one bench queue up here (one job at a time)
            session.execute(select(Bench.id).where(Bench.id == agent.bench_id)
                            .with_for_update())
        job_id = session.execute(
            _claim_statement(agent.bench_id, agent_id, at + timedelta(seconds=lease_s), at),
            execution_options={"synchronize_session": False}).scalar()
        if job_id is None:
            return None
        check_transition("job", job_id, JobState.QUEUED, JobState.CLAIMED)  # what it did
        job = session.get(Job, job_id, populate_existing=True)
        assert job is not None
        booking = job.booking
        audit.record(session, action="job.claim", user=None,
                     organisation_id=booking.organisation_id, object_type="job",
                     object_id=job.id, at=at,
                     detail={"agent": agent_id, "agent_token_id": agent.token_id,
                             "bench": agent.bench_name, "booking": booking.public_id})
        return _claimed(job, booking, agent.bench_name)


def _due_jobs(bench_id: int, now: datetime) -> Select[tuple[int]]:
    """The bench's queued jobs whose slot has started, unless the bench is busy."""
    candidate, other = _CANDIDATE, aliased(Job, name="other")
    bench_busy = exists().where(other.bench_id == bench_id,
                                other.state.in_([s.value for s in BENCH_BUSY_STATES]))
    return (select(candidate.id).join(Booking, Booking.id == candidate.booking_id)
            .where(candidate.bench_id == bench_id, candidate.state == JobState.QUEUED.value,
                   Booking.status == BookingStatus.SCHEDULED.value,
                   Booking.scheduled_start <= now, ~bench_busy)
            .order_by(Booking.scheduled_start, candidate.id))


def _claim_statement(bench_id: int, agent_id: str, lease_until: datetime, now: datetime
                     ) -> ReturningUpdate[tuple[int]]:
    """``UPDATE jobs … WHERE id = (the oldest due job of the bench, locked, skipping locked
    rows) AND state = 'queued' RETURNING id``."""
    oldest_due = (_due_jobs(bench_id, now).limit(1)
                  .with_for_update(of=_CANDIDATE, skip_locked=True))
    return (update(Job)
            .where(Job.id == oldest_due.scalar_subquery(), Job.state == JobState.QUEUED.value)
            .values(state=JobState.CLAIMED.value, agent_id=agent_id, lease_until=lease_until,
                    claimed_at=now, state_reason=None)
            .returning(Job.id))


def _claimed(job: Job, booking: Booking, bench_name: str) -> ClaimedJob:
    entry = booking.catalogue_entry
    assert job.lease_until is not None
    assert booking.scheduled_start is not None and booking.scheduled_end is not None
    return ClaimedJob(
        job_id=job.id, booking_id=booking.id,
        booking_public_id=booking.public_id,
        organisation_id=booking.organisation_id, bench_name=bench_name,
        catalogue_entry=entry.name, plan_file_name=entry.plan_file_name,
        plan_text=entry.plan_text, dut_description=booking.dut_description,
        dut_quantity=booking.dut_quantity, scheduled_start=booking.scheduled_start,
        scheduled_end=booking.scheduled_end, lease_until=job.lease_until)


# --- the held job: heartbeat, progress, finish -----------------------------------------------

def heartbeat(db: Database, agent: BenchAgentIdentity, agent_id: str, job_id: int,
              lease_s: float = DEFAULT_LEASE_S, now: datetime | None = None) -> Heartbeat:
    """Extend the lease; the reply says whether the booking's cancel was requested.
    :class:`LeaseLost` when the job is no longer this agent's to run."""
    at = now or utcnow()

    def extend(session: Session, job: Job) -> Heartbeat:
        job.lease_until = at + timedelta(seconds=lease_s)
        return Heartbeat(job.lease_until, job.cancel_requested)

    return _on_held_job(db, agent, agent_id, job_id, at, extend)


def report_progress(db: Database, agent: BenchAgentIdentity, agent_id: str, job_id: int, *,
                    step: str | None, fraction: float | None, message: str | None,
                    now: datetime | None = None) -> None:
    """Store the run's progress (the first report marks the job running)."""
    at = now or utcnow()
    step, fraction, message = _progress(step, fraction, message)

    def store(session: Session, job: Job) -> None:
        if job.state == JobState.CLAIMED:
            _start(job, at)
        job.progress_step, job.progress_fraction = step, fraction
        job.progress_message, job.progress_updated_at = message, at

    _on_held_job(db, agent, agent_id, job_id, at, store)


def finish_job(db: Database, agent: BenchAgentIdentity, agent_id: str, job_id: int, *,
               status: str, verdict: str, error: str | None = None,
               now: datetime | None = None) -> Finished:
    """Close the job with the run's outcome, and its booking: completed → completed; error →
    failed; aborted → cancelled if the cancel was requested, else the job waits for an
    engineer's decision (the booking stays running). A completed run needs its record
    uploaded first."""
    at = now or utcnow()
    run_status, run_verdict = checked_outcome(status, verdict)
    error = _text("error", error, MAX_MESSAGE_CHARS)

    def close(session: Session, job: Job) -> Finished:
        booking = job.booking
        has_run = session.scalar(select(exists().where(Run.job_id == job.id)))
        if run_status is RunStatus.COMPLETED and not has_run:
            raise StateConflict(f"job {job.id}: upload the record before finishing it completed")
        reason = _close(job, booking, run_status, run_verdict, error, bool(has_run), at)
        job.lease_until = None
        audit.record(session, action="job.finish", user=None,
                     organisation_id=booking.organisation_id, object_type="job",
                     object_id=job.id, at=at,
                     detail={"agent": agent_id, "status": run_status.value,
                             "verdict": run_verdict.value, "job_state": job.state,
                             "booking_status": booking.status, "error": error})
        return Finished(job.state, booking.status, reason)

    return _on_held_job(db, agent, agent_id, job_id, at, close)


def _start(job: Job, at: datetime) -> None:
    """The agent starts the run: job and booking are running from now on."""
    job.change_state(JobState.RUNNING, at)
    if job.booking.status == BookingStatus.SCHEDULED:
        job.booking.change_status(BookingStatus.RUNNING, at)


def _close(job: Job, booking: Booking, status: RunStatus, verdict: RunVerdict,
           error: str | None, has_run: bool, at: datetime) -> str | None:
    """The job's and the booking's final states for the run's outcome; returns the reason."""
    uploaded = "record uploaded" if has_run else "no record uploaded"
    if status is RunStatus.COMPLETED:
        if job.state == JobState.CLAIMED:
            _start(job, at)
        job.change_state(JobState.COMPLETED, at, f"run completed, verdict {verdict.value}")
        booking.change_status(BookingStatus.COMPLETED, at)
        return job.state_reason
    if status is RunStatus.ERROR:
        reason = f"run ended in error: {error or 'no detail'} ({uploaded})"
        job.change_state(JobState.FAILED, at, reason)
        booking.change_status(BookingStatus.FAILED, at, reason)
        return reason
    if job.cancel_requested:
        reason = ("cancelled while running: the run was aborted through the bench's safe "
                  f"state ({uploaded})")
        job.change_state(JobState.ABORTED, at, reason)
        booking.change_status(BookingStatus.CANCELLED, at, reason)
        return reason
    reason = (f"run aborted on the bench ({error or 'agent stopped'}; {uploaded}): an "
              "engineer decides whether it runs again")
    _await_decision(job, at, reason)
    return reason


def _await_decision(job: Job, at: datetime, reason: str) -> None:
    """The job waits for an engineer (its booking keeps its status and says why). The
    detail (agent, lease, error) stays on the job, which only lab staff see: the customer's
    booking says what happens next, without the lab's internal names."""
    job.change_state(JobState.NEEDS_DECISION, at, reason)
    job.booking.status_reason = ("the run stopped before it finished; a lab engineer checks "
                                 "the bench and decides whether it runs again")


def _on_held_job(db: Database, agent: BenchAgentIdentity, agent_id: str, job_id: int,
                 now: datetime, work: Callable[[Session, Job], T]) -> T:
    """Run ``work`` on the job if this agent still holds it. A lease found expired moves the
    job to needs_decision (committed) before :class:`LeaseLost` is raised."""
    agent_id = checked_agent_id(agent_id)
    with db.write_session() as session:
        job = agent_job(session, agent, agent_id, job_id)
        lost = lease_problem(session, job, now)
        if lost is None:
            return work(session, job)
    raise LeaseLost(lost)


def agent_job(session: Session, agent: BenchAgentIdentity, agent_id: str, job_id: int) -> Job:
    """The job, locked, if it belongs to the agent's bench (NotFound otherwise, as for a job
    that does not exist) and was claimed by this agent process (LeaseLost otherwise)."""
    job = session.scalars(select(Job).where(Job.id == job_id, Job.bench_id == agent.bench_id)
                          .with_for_update()).first()
    if job is None:
        raise NotFound("job", job_id)
    if job.agent_id != agent_id:
        raise LeaseLost(f"job {job.id} is not held by this agent ({agent_id}): "
                        + ("it was never claimed" if job.agent_id is None
                           else f"claimed by {job.agent_id}"))
    return job


def lease_problem(session: Session, job: Job, now: datetime) -> str | None:
    """Why this agent may no longer act on its job (None: it may); an expired lease is
    turned into needs_decision here."""
    if job.state not in HELD_STATES:
        return (f"job {job.id} is {job.state!r}: stop and do not run it again "
                f"({job.state_reason or 'no reason given'})")
    if job.lease_until is None or job.lease_until < now:
        lease_end = job.lease_until
        _lose(session, job, now, late=True)
        return (f"job {job.id}: the lease expired at {_iso(lease_end)}; the job waits for "
                "an engineer's decision: stop and do not run it again")
    return None


# --- the sweeper ------------------------------------------------------------------------------

def sweep(db: Database, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Expire lost leases and queue due jobs: (jobs now needing a decision, jobs queued)."""
    at = now or utcnow()
    return expire_leases(db, at), queue_due_jobs(db, at)


def expire_leases(db: Database, now: datetime | None = None) -> list[int]:
    """Jobs whose agent stopped heartbeating go to needs_decision, never back to the queue."""
    at = now or utcnow()
    expired = (Job.state.in_([s.value for s in HELD_STATES]), Job.lease_until < at)
    with db.session() as session:  # a read first: no write lock on the common empty case
        if not session.scalar(select(exists().where(*expired))):
            return []
    with db.write_session() as session:
        jobs = list(session.scalars(select(Job).where(*expired).with_for_update(
            skip_locked=True)))
        for job in jobs:
            _lose(session, job, at, late=False)
        return [job.id for job in jobs]


def _lose(session: Session, job: Job, now: datetime, *, late: bool) -> None:
    lease_end = job.lease_until
    heard = "a late call" if late else "the sweeper"
    _await_decision(job, now, f"agent {job.agent_id} lost: lease expired at {_iso(lease_end)} "
                    f"(found by {heard}); the DUT may still be powered")
    booking = job.booking
    audit.record(session, action="job.lost", user=None,
                 organisation_id=booking.organisation_id, object_type="job", object_id=job.id,
                 at=now, detail={"agent": job.agent_id, "lease_until": _iso(lease_end)})


def queue_due_jobs(db: Database, now: datetime | None = None) -> list[int]:
    """Queue a job for each scheduled booking whose slot has started and that has no open job
    (scheduling queues one when it places a booking; this covers a booking put back to
    scheduled by an engineer's decision). Linked to the booking's previous job, if any."""
    at = now or utcnow()
    open_job = exists().where(Job.booking_id == Booking.id,
                              Job.state.in_([s.value for s in OPEN_JOB_STATES]))
    due = (Booking.status == BookingStatus.SCHEDULED.value, Booking.scheduled_start <= at,
           ~open_job)
    with db.session() as session:
        if not session.scalar(select(exists().where(*due))):
            return []
    with db.write_session() as session:
        queued = []
        for booking in session.scalars(select(Booking).where(*due).order_by(Booking.id)):
            previous = booking.jobs[-1].id if booking.jobs else None
            job = Job(booking_id=booking.id, bench_id=booking.scheduled_bench_id,
                      state=JobState.QUEUED.value, retry_of_job_id=previous, created_at=at)
            session.add(job)
            session.flush()
            audit.record(session, action="job.queue", user=None,
                         organisation_id=booking.organisation_id, object_type="job",
                         object_id=job.id, at=at, detail={"booking": booking.public_id,
                                                          "retry_of_job_id": previous})
            queued.append(job.id)
        return queued


# --- input checks -----------------------------------------------------------------------------

def checked_agent_id(agent_id: str | None, field: str = "agent") -> str:
    """The agent process's name, stripped; InvalidInput naming ``field`` if it is unusable."""
    text = (agent_id or "").strip()
    if not text or len(text) > MAX_AGENT_ID_CHARS or not text.isprintable():
        raise InvalidInput(field, f"name the agent process (e.g. host/pid): 1 to "
                           f"{MAX_AGENT_ID_CHARS} printable characters")
    return text


def checked_outcome(status: str, verdict: str) -> tuple[RunStatus, RunVerdict]:
    """The run's final status and verdict, refused (InvalidInput) unless they go together."""
    try:
        run_status = RunStatus(status)
    except ValueError:
        run_status = None
    if run_status not in FINAL_RUN_VERDICTS:
        raise InvalidInput("status", f"{status!r}: give one of "
                           f"{', '.join(s.value for s in FINAL_RUN_VERDICTS)}")
    allowed = FINAL_RUN_VERDICTS[run_status]
    if verdict not in allowed:
        raise InvalidInput("verdict", f"{verdict!r} with status {run_status.value}: give one "
                           f"of {', '.join(v.value for v in allowed)}")
    return run_status, RunVerdict(verdict)


def _progress(step: str | None, fraction: float | None, message: str | None
              ) -> tuple[str | None, float | None, str | None]:
    if fraction is not None and not 0.0 <= fraction <= 1.0:  # NaN fails too
        raise InvalidInput("fraction", f"must be between 0 and 1, got {fraction}")
    return (_text("step", step, MAX_STEP_CHARS), fraction,
            _text("message", message, MAX_MESSAGE_CHARS))


def _text(field: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if len(value) > limit:
        raise InvalidInput(field, f"at most {limit} characters, got {len(value)}")
    return value


def _iso(value: datetime | None) -> str:
    return "never" if value is None else value.isoformat(timespec="seconds")
