"""The lab's side: benches and their calendars, the job queue and decisions on lost jobs.

``GET /api/benches`` is for everyone signed in (customers see capabilities, not the
instrument inventory); the calendar, the queue and decisions are for lab staff only -- they
show every organisation's bookings.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime

from benchbot.service import decisions, queries
from benchbot.service.api_deps import Caller, Db, Staff, scope_of
from benchbot.service.api_models import (
    MAX_DB_INT,
    BenchOut,
    CalendarOut,
    DecisionIn,
    DecisionOut,
    JobOut,
    error_responses,
)
from benchbot.service.api_views import bench_out, booking_out, calendar_slot_out, job_out
from benchbot.service.models import Job
from benchbot.service.states import OPEN_JOB_STATES, JobState

router = APIRouter(tags=["lab"])

DbIdPath = Annotated[int, Path(ge=1, le=MAX_DB_INT)]


@router.get("/api/benches", response_model=list[BenchOut], responses=error_responses(401))
def list_benches(principal: Caller, db: Db) -> list[BenchOut]:
    """The lab's active benches and their capabilities (staff also see the instruments)."""
    with db.session() as session:
        return [bench_out(b, principal.is_staff) for b in queries.list_benches(session)]


@router.get("/api/benches/{bench_id}/calendar", response_model=CalendarOut,
            responses=error_responses(401, 403, 404, 422))
def bench_calendar(bench_id: DbIdPath, principal: Staff, db: Db,
                   start: Annotated[AwareDatetime, Query(alias="from")],
                   end: Annotated[AwareDatetime, Query(alias="to")]) -> CalendarOut:
    """The bookings holding a slot on the bench between ``from`` and ``to`` (at most 366
    days; times with their time zone), by start."""
    with db.session() as session:
        bench, bookings = queries.bench_calendar(session, scope=scope_of(principal),
                                                 bench_id=bench_id, start=start, end=end)
        return CalendarOut(bench_id=bench.id, bench=bench.name, start=start, end=end,
                           slots=[calendar_slot_out(b) for b in bookings])


@router.get("/api/jobs", response_model=list[JobOut], responses=error_responses(401, 403, 422))
def list_jobs(principal: Staff, db: Db,
              state: Annotated[list[JobState], Query(
                  description="default: the open ones (queued, claimed, running, "
                              "needs_decision)")] = [],  # noqa: B006
              bench: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None
              ) -> list[JobOut]:
    """The job queue, oldest first; lost jobs wait in ``needs_decision``."""
    states = sorted({s.value for s in state}) or [s.value for s in OPEN_JOB_STATES]
    with db.session() as session:
        return [job_out(j) for j in queries.find_jobs(session, scope=scope_of(principal),
                                                       states=states, bench_name=bench)]


@router.post("/api/jobs/{job_id}/decision", response_model=DecisionOut,
             responses=error_responses(401, 403, 404, 409, 422))
def decide(job_id: DbIdPath, body: DecisionIn, principal: Staff, db: Db) -> DecisionOut:
    """Decide on a lost job (``needs_decision``): ``retry`` queues a new job linked to it,
    ``fail`` marks the booking failed. A lost job never returns to the queue by itself."""
    job, new_job = decisions.decide_lost_job(db, actor_id=principal.user_id, job_id=job_id,
                                             decision=body.decision, reason=body.reason)
    with db.session() as session:
        job = session.get(Job, job.id)
        assert job is not None
        fresh = None if new_job is None else session.get(Job, new_job.id)
        return DecisionOut(job=job_out(job), new_job=None if fresh is None else job_out(fresh),
                           booking=booking_out(job.booking))
