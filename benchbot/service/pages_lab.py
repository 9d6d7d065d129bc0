"""The lab's pages (engineers and admins): the queue with confirm / schedule / reschedule /
cancel, a week calendar per bench, the runs with their verdicts, and the lost jobs waiting for
a decision. A customer gets the 403 page on each, whatever the id.

Actions call the same domain operations as the API (:mod:`scheduling`, :mod:`decisions`) on
bookings found through the scoped queries; a refusal is shown next to the booking or job it
concerns, naming the field when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request, Response

from benchbot.service import decisions, queries, scheduling
from benchbot.service.api_bookings import public_errors
from benchbot.service.api_deps import Db, Staff, scope_of
from benchbot.service.api_models import MAX_DB_INT, BookingDetailOut, CalendarSlotOut
from benchbot.service.api_views import (
    booking_detail_out,
    calendar_slot_out,
    job_out,
    run_out,
)
from benchbot.service.auth import Principal
from benchbot.service.capabilities import is_capable
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput
from benchbot.service.pages_kit import (
    FormErrors,
    PageRoute,
    form_int,
    form_utc,
    redirect,
    render,
    week_start,
)
from benchbot.service.states import OPEN_JOB_STATES, BookingStatus, JobState

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PublicId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
JobId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
Text = Annotated[str, Form()]
QUEUE_STATUSES = (BookingStatus.REQUESTED, BookingStatus.CONFIRMED, BookingStatus.SCHEDULED,
                  BookingStatus.RUNNING)
NOTICES = {"confirmed": "Booking confirmed.", "scheduled": "Booking scheduled; its job is "
           "queued for the bench's agent.", "rescheduled": "Booking moved.",
           "cancelled": "Cancelled (a running job is asked to stop through the safe state).",
           "decided": "Decision recorded."}
DAY = timedelta(days=1)


# --- the queue --------------------------------------------------------------------------------

@router.get("/lab/queue")
def queue(request: Request, me: Staff, db: Db, done: str = "") -> Response:
    """Requested and confirmed bookings to act on, scheduled and running ones, open jobs."""
    return _queue_page(request, me, db, {}, notice=NOTICES.get(done, ""))


def _queue_page(request: Request, me: Principal, db: Database,
                errors: dict[str, FormErrors], *, notice: str = "", status_code: int = 200
                ) -> Response:
    with db.session() as session:
        rows = queries.find_bookings(session, scope=scope_of(me),
                                     statuses=[s.value for s in QUEUE_STATUSES])
        bookings = [booking_detail_out(b) for b in reversed(rows)]  # oldest first
        needs = {b.public_id: list(b.catalogue_entry.required_capabilities) for b in rows}
        benches = queries.list_benches(session)
        capable = {pid: [(b.id, b.name) for b in benches if is_capable(b.capabilities, req)]
                   for pid, req in needs.items()}
        jobs = [job_out(j) for j in queries.find_jobs(session, scope=scope_of(me),
                                                      states=[s.value for s in OPEN_JOB_STATES])]
    by_status = {s.value: [b for b in bookings if b.status == s] for s in QUEUE_STATUSES}
    return render(request, "lab_queue.html", {
        "by_status": by_status, "capable": capable, "jobs": jobs, "errors": errors,
        "notice": notice, "start_default": _next_minute()}, me=me, status_code=status_code)


def _next_minute() -> datetime:
    return scheduling.ceil_minute(datetime.now(UTC))


def _act(request: Request, me: Principal, db: Database, public_id: str, done: str,
         action: object, entered: dict[str, str] | None = None) -> Response:
    """Run ``action(booking id)`` on the booking found through the caller's scope; a refusal
    is shown next to the booking (InvalidInput next to its field), with what was ``entered``."""
    with db.session() as session:
        booking = queries.find_booking(session, scope=scope_of(me), public_id=public_id)
    errors = FormErrors(entered)
    with errors.refusals(), public_errors(db, booking):
        action(booking.id)  # type: ignore[operator]
    if errors:
        return _queue_page(request, me, db, {public_id: errors},
                           status_code=errors.status_code)
    return redirect(f"/lab/queue?done={done}#b-{public_id}")


@router.post("/lab/bookings/{booking_id}/confirm")
def confirm(request: Request, booking_id: PublicId, me: Staff, db: Db) -> Response:
    return _act(request, me, db, booking_id, "confirmed", lambda pk: scheduling.confirm_booking(
        db, actor_id=me.user_id, booking_id=pk))


def _placement(how: str, bench_id: str, start: str) -> tuple[int | None, datetime | None]:
    """The bench (None: any capable) and start (None: the earliest free slot) of a form."""
    if how not in ("earliest", "at"):
        raise InvalidInput("how", "choose 'earliest slot' or 'at this start'")
    bench = form_int("bench_id", bench_id, low=1, high=MAX_DB_INT) if bench_id.strip() else None
    if how == "earliest":
        return bench, None
    if bench is None:
        raise InvalidInput("bench_id", "choose the bench for an exact start")
    return bench, form_utc("start", start)


def _place(request: Request, me: Principal, db: Database, public_id: str, how: str,
           bench_id: str, start: str, reschedule: bool) -> Response:
    operation = scheduling.reschedule_booking if reschedule else scheduling.schedule_booking

    def place(pk: int) -> None:
        bench, at = _placement(how, bench_id, start)
        operation(db, actor_id=me.user_id, booking_id=pk, bench_id=bench, start=at)

    return _act(request, me, db, public_id, "rescheduled" if reschedule else "scheduled", place,
                {"bench_id": bench_id, "start": start})


@router.post("/lab/bookings/{booking_id}/schedule")
def schedule(request: Request, booking_id: PublicId, me: Staff, db: Db, how: Text = "earliest",
             bench_id: Text = "", start: Text = "") -> Response:
    """confirmed → scheduled: the earliest free slot (on the chosen bench, or any capable),
    or the chosen bench at the chosen start (UTC)."""
    return _place(request, me, db, booking_id, how, bench_id, start, reschedule=False)


@router.post("/lab/bookings/{booking_id}/reschedule")
def reschedule(request: Request, booking_id: PublicId, me: Staff, db: Db,
               how: Text = "earliest", bench_id: Text = "", start: Text = "") -> Response:
    return _place(request, me, db, booking_id, how, bench_id, start, reschedule=True)


@router.post("/lab/bookings/{booking_id}/cancel")
def cancel(request: Request, booking_id: PublicId, me: Staff, db: Db, reason: Text = ""
           ) -> Response:
    def cancel_it(pk: int) -> None:
        if not reason.strip():
            raise InvalidInput("reason", "say why (the customer sees it)")
        scheduling.cancel_booking(db, actor_id=me.user_id, booking_id=pk, reason=reason)

    return _act(request, me, db, booking_id, "cancelled", cancel_it)


# --- the calendar -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One slot's part on one day of the week view (percentages of the day column)."""

    slot: CalendarSlotOut
    top_pct: float
    height_pct: float
    continued: bool


def day_blocks(slots: list[CalendarSlotOut], day: datetime) -> list[Block]:
    """The parts of ``slots`` falling on ``day`` (00:00-24:00 UTC)."""
    blocks = []
    for slot in slots:
        start, end = max(slot.start, day), min(slot.end, day + DAY)
        if end > start:
            blocks.append(Block(slot, 100 * (start - day) / DAY, 100 * (end - start) / DAY,
                                continued=slot.start < day))
    return blocks


@router.get("/lab/calendar")
def calendar(request: Request, me: Staff, db: Db,
             bench: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
             week: Annotated[str, Query(max_length=10)] = "") -> Response:
    """A bench's week (Monday to Sunday, UTC): its slots as blocks with booking,
    organisation and status."""
    try:
        monday = week_start(form_utc("week", week + "T00:00") if week else datetime.now(UTC))
    except InvalidInput as exc:
        raise InvalidInput("week", f"{exc.reason} (give the week's date as YYYY-MM-DD)") \
            from None
    with db.session() as session:
        benches = queries.list_benches(session)
        chosen = bench or (benches[0].id if benches else None)
        slots: list[CalendarSlotOut] = []
        bench_name = ""
        if chosen is not None:
            row, bookings = queries.bench_calendar(session, scope=scope_of(me),
                                                   bench_id=chosen, start=monday,
                                                   end=monday + 7 * DAY)
            bench_name, slots = row.name, [calendar_slot_out(b) for b in bookings]
    days = [(monday + i * DAY, day_blocks(slots, monday + i * DAY)) for i in range(7)]
    return render(request, "lab_calendar.html", {
        "benches": benches, "bench_id": chosen, "bench_name": bench_name, "days": days,
        "slots": slots, "monday": monday, "previous": (monday - 7 * DAY).date().isoformat(),
        "next": (monday + 7 * DAY).date().isoformat(), "hours": range(0, 24, 2)}, me=me)


# --- runs and lost jobs -----------------------------------------------------------------------

@router.get("/lab/runs")
def runs(request: Request, me: Staff, db: Db) -> Response:
    """Every organisation's runs, newest first, with verdicts and files."""
    with db.session() as session:
        rows = [(run_out(r, request.app.state.data_dir), r.job.booking.catalogue_entry.name,
                 r.job.booking.dut_description)
                for r in queries.find_runs(session, scope=scope_of(me), limit=200)]
    return render(request, "lab_runs.html", {"runs": rows}, me=me)


@router.get("/lab/decisions")
def lost_jobs(request: Request, me: Staff, db: Db, done: str = "") -> Response:
    """Jobs whose agent was lost, waiting for an engineer: retry as a new job, or fail."""
    return _decisions_page(request, me, db, {}, notice=NOTICES.get(done, ""))


def _decisions_page(request: Request, me: Principal, db: Database,
                    errors: dict[int, FormErrors], *, notice: str = "", status_code: int = 200
                    ) -> Response:
    with db.session() as session:
        jobs = queries.find_jobs(session, scope=scope_of(me),
                                 states=[JobState.NEEDS_DECISION.value])
        rows: list[tuple[object, BookingDetailOut, object]] = [
            (job_out(j), booking_detail_out(j.booking),
             None if j.run is None else run_out(j.run, request.app.state.data_dir))
            for j in jobs]
    return render(request, "lab_decisions.html", {"rows": rows, "errors": errors,
                                                  "notice": notice},
                  me=me, status_code=status_code)


@router.post("/lab/jobs/{job_id}/decision")
def decide(request: Request, job_id: JobId, me: Staff, db: Db, decision: Text = "",
           reason: Text = "") -> Response:
    errors = FormErrors()
    with errors.refusals():
        if decision not in ("retry", "fail"):
            raise InvalidInput("decision", "choose retry (a new job) or fail (the booking)")
        chosen: Literal["retry", "fail"] = "retry" if decision == "retry" else "fail"
        decisions.decide_lost_job(db, actor_id=me.user_id, job_id=job_id, decision=chosen,
                                  reason=reason)
    if errors:
        return _decisions_page(request, me, db, {job_id: errors},
                               status_code=errors.status_code)
    return redirect("/lab/decisions?done=decided")
