"""Scheduling: the earliest conflict-free slot on a capable bench, and the engineers'
confirm / schedule / reschedule / cancel operations.

Duration of a booking: the catalogue entry's ``duration_estimate_min`` is per DUT (mounting,
connecting and running the plan once), so a booking takes ``duration_estimate_min ×
dut_quantity`` minutes in one block on one bench (:func:`booking_duration`). Benches run
around the clock (automated), so there are no working hours to skip.

Where: any active bench whose capabilities include all the entry's required ones (or the one
bench the engineer names). When: the earliest start at or after ``max(requested start, now)``
(rounded up to the minute) that overlaps no slot-holding booking (scheduled, running) on that
bench, within :data:`SCHEDULING_HORIZON`; ties go to the bench with the lower name. The slot
lies inside the requested window when the calendar allows, else as soon as possible after it.

No double booking, enforced by the database (migration 0001: a PostgreSQL exclusion
constraint; SQLite triggers). Writes run in :meth:`Database.write_session` (``BEGIN
IMMEDIATE`` on SQLite: the calendar cannot change between the read and the write). On
PostgreSQL two engineers can still pick the same slot at once; the loser's write violates the
constraint, and the earliest-slot search retries on the calendar as it now is, while a slot the
engineer gave explicitly fails with :class:`BenchBooked` naming the booking in the way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from benchbot.service import audit
from benchbot.service.capabilities import is_capable
from benchbot.service.db import Database
from benchbot.service.errors import (
    BenchBooked,
    InvalidInput,
    NoSlot,
    NotFound,
    PermissionDenied,
    StateConflict,
)
from benchbot.service.models import Bench, Booking, Job, User, utcnow
from benchbot.service.states import (
    OPEN_JOB_STATES,
    SLOT_HOLDING_STATUSES,
    BookingStatus,
    JobState,
    check_transition,
)

SCHEDULING_HORIZON = timedelta(days=365)
"""The latest start the search considers, after the earliest allowed one."""
MAX_ATTEMPTS = 200
"""Retries of the earliest-slot search when concurrent writers keep taking the slot found."""
# the names the initial migration gives the database's overlap guard (frozen there)
OVERLAP_CONSTRAINT = "ex_bookings_no_bench_overlap"
OVERLAP_MESSAGE = "benchbot: bench double booking refused"
_EXCLUSION_VIOLATION = "23P01"  # PostgreSQL SQLSTATE

T = TypeVar("T")


# --- pure slot computation ----------------------------------------------------------------

@dataclass(frozen=True)
class BenchCalendar:
    """A bench, its capabilities and its busy slots ``[start, end)``."""

    bench_id: int
    bench_name: str
    capabilities: frozenset[str]
    busy: tuple[tuple[datetime, datetime], ...]


@dataclass(frozen=True)
class Slot:
    bench_id: int
    bench_name: str
    start: datetime
    end: datetime


def booking_duration(duration_estimate_min: int, dut_quantity: int) -> timedelta:
    """Bench time of a booking: the per-DUT estimate times the number of DUTs."""
    if duration_estimate_min <= 0:
        raise InvalidInput("duration_estimate_min", f"must be > 0 (got {duration_estimate_min})")
    if dut_quantity <= 0:
        raise InvalidInput("dut_quantity", f"must be > 0 (got {dut_quantity})")
    return timedelta(minutes=duration_estimate_min * dut_quantity)


def earliest_start(busy: Iterable[tuple[datetime, datetime]], duration: timedelta,
                   not_before: datetime, latest_start: datetime | None = None
                   ) -> datetime | None:
    """The earliest ``t >= not_before`` with ``[t, t + duration)`` clear of every busy
    ``[start, end)`` (touching is fine), or None if it would start after ``latest_start``."""
    t = not_before
    for start, end in sorted(busy):
        if end <= t:
            continue
        if start >= t + duration:
            break
        t = end  # overlaps: the earliest candidate is now this slot's end
    if latest_start is not None and t > latest_start:
        return None
    return t


def earliest_slot(calendars: Sequence[BenchCalendar], required: Iterable[str],
                  duration: timedelta, not_before: datetime,
                  latest_start: datetime | None = None) -> Slot | None:
    """The earliest slot over the capable benches (ties: lower bench name), or None."""
    needed = list(required)
    best: Slot | None = None
    for cal in sorted(calendars, key=lambda c: c.bench_name):
        if not is_capable(cal.capabilities, needed):
            continue
        start = earliest_start(cal.busy, duration, not_before, latest_start)
        if start is not None and (best is None or start < best.start):
            best = Slot(cal.bench_id, cal.bench_name, start, start + duration)
    return best


def ceil_minute(t: datetime) -> datetime:
    """``t`` rounded up to the whole minute (slots start on minutes)."""
    floor = t.replace(second=0, microsecond=0)
    return floor if floor == t else floor + timedelta(minutes=1)


# --- engineers' operations --------------------------------------------------------------

def confirm_booking(db: Database, *, actor_id: int, booking_id: int,
                    now: datetime | None = None) -> Booking:
    """requested → confirmed: the lab accepts the booking (engineer or admin)."""
    with db.write_session() as session:
        actor = _staff(session, actor_id)
        booking = _booking(session, booking_id, actor)
        at = now or utcnow()
        booking.change_status(BookingStatus.CONFIRMED, at)
        _audit(session, actor, booking, "booking.confirm", at, {})
        return booking


def schedule_booking(db: Database, *, actor_id: int, booking_id: int,
                     bench_id: int | None = None, start: datetime | None = None,
                     now: datetime | None = None) -> Booking:
    """confirmed → scheduled: put the booking on a bench and queue its job. Without ``start``
    the earliest slot (retried if a concurrent writer takes it); with ``start`` exactly there
    (:class:`BenchBooked` if taken). ``bench_id``: only that bench."""
    return _place(db, actor_id, booking_id, bench_id, start, now, BookingStatus.CONFIRMED)


def reschedule_booking(db: Database, *, actor_id: int, booking_id: int,
                       bench_id: int | None = None, start: datetime | None = None,
                       now: datetime | None = None) -> Booking:
    """Move a scheduled booking whose job is still queued to another slot or bench: ``start``
    exactly, or (None) the earliest slot from now on, found as :func:`schedule_booking` does
    (its own current slot no longer counts as busy)."""
    return _place(db, actor_id, booking_id, bench_id, start, now, BookingStatus.SCHEDULED)


def cancel_booking(db: Database, *, actor_id: int, booking_id: int, reason: str,
                   now: datetime | None = None) -> Booking:
    """Cancel a booking: not yet running → cancelled at once (its queued job aborted);
    running → its job is asked to abort (the agent takes the safe-state path and reports
    ``aborted``; the booking stays running until then). Engineers cancel any booking; a
    customer only those of their own organisation."""
    reason = _reason(reason)
    with db.write_session() as session:
        actor = _active_user(session, actor_id)
        booking = _booking(session, booking_id, actor)
        at = now or utcnow()
        job = _open_job(session, booking.id)
        if booking.status == BookingStatus.RUNNING and job is not None:
            job.cancel_requested = True
            _audit(session, actor, booking, "booking.cancel_requested", at,
                   {"job_id": job.id, "reason": reason})
            return booking
        booking.change_status(BookingStatus.CANCELLED, at, reason)
        if job is not None:
            job.change_state(JobState.ABORTED, at, f"booking cancelled: {reason}")
        _audit(session, actor, booking, "booking.cancel", at, {"reason": reason})
        return booking


# --- internals -----------------------------------------------------------------------------

def _place(db: Database, actor_id: int, booking_id: int, bench_id: int | None,
           start: datetime | None, now: datetime | None, expected: BookingStatus) -> Booking:
    at = now or utcnow()
    if start is not None:
        _check_aware("start", start)
        if start < at - timedelta(minutes=1):
            raise InvalidInput("start", f"{start.astimezone(UTC):%Y-%m-%d %H:%M} UTC is in the "
                               f"past (now {at:%Y-%m-%d %H:%M} UTC)")

    tried: list[Slot] = []  # the slot of the last attempt (names the bench in a refusal)

    def once(session: Session) -> Booking:
        actor = _staff(session, actor_id)
        booking = _booking(session, booking_id, actor, lock=True)
        if expected is BookingStatus.CONFIRMED:  # schedule: the state machine says
            check_transition("booking", booking.id, booking.status, BookingStatus.SCHEDULED)
        elif booking.status != BookingStatus.SCHEDULED:
            raise StateConflict(f"booking {booking.id} is {booking.status!r}: only a "
                                "scheduled booking can be rescheduled")
        slot = _find_slot(session, booking, bench_id, start, at)
        tried.append(slot)
        _assign(session, booking, slot, at)
        _audit(session, actor, booking, "booking.schedule" if expected is BookingStatus.CONFIRMED
               else "booking.reschedule", at,
               {"bench": slot.bench_name, "start": slot.start.isoformat(),
                "end": slot.end.isoformat()})
        return booking

    if start is not None:  # the engineer's exact slot: a conflict is an answer, not a retry
        return _write(db, once, on_overlap=lambda: _conflict_error(db, booking_id, tried[-1]))
    for _ in range(MAX_ATTEMPTS):
        try:
            return _write(db, once, on_overlap=None)
        except _OverlapRace:
            continue  # another writer took that slot between our read and write: look again
    raise NoSlot(f"booking {booking_id}: no slot held after {MAX_ATTEMPTS} attempts "
                 "(the calendar kept changing under concurrent scheduling); try again")


class _OverlapRace(Exception):
    """The database refused the slot as overlapping (raced by a concurrent writer)."""


def _write(db: Database, work: Callable[[Session], T],
           on_overlap: Callable[[], Exception] | None) -> T:
    """Run ``work`` in a write transaction; an overlap refusal by the database becomes
    ``on_overlap()`` (raised), or :class:`_OverlapRace` to retry."""
    try:
        with db.write_session() as session:
            result = work(session)
            session.flush()
            return result
    except IntegrityError as exc:
        if not is_overlap_violation(exc):
            raise
        if on_overlap is None:
            raise _OverlapRace() from exc
        raise on_overlap() from exc


def is_overlap_violation(exc: IntegrityError) -> bool:
    """Whether the database refused a write because two bookings would overlap on a bench."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == _EXCLUSION_VIOLATION:
        diag = getattr(orig, "diag", None)
        return getattr(diag, "constraint_name", OVERLAP_CONSTRAINT) == OVERLAP_CONSTRAINT
    return OVERLAP_MESSAGE in str(orig)


def _find_slot(session: Session, booking: Booking, bench_id: int | None,
               start: datetime | None, now: datetime) -> Slot:
    entry = booking.catalogue_entry
    required = list(entry.required_capabilities)
    duration = booking_duration(entry.duration_estimate_min, booking.dut_quantity)
    benches = _candidate_benches(session, bench_id, required)
    if start is not None:
        not_before, latest = start, start
    else:
        not_before = ceil_minute(max(booking.requested_start, now))
        latest = not_before + SCHEDULING_HORIZON
    calendars = _calendars(session, benches, not_before, booking.id)
    slot = earliest_slot(calendars, required, duration, not_before, latest)
    if slot is not None:
        return slot
    if start is not None and len(benches) == 1:
        raise _conflict_in(session, benches[0], start, start + duration, booking.id)
    where = benches[0].name if bench_id is not None else "any capable bench"
    raise NoSlot(f"booking {booking.id}: no free {duration} slot on {where} "
                 + ("at the start given" if start is not None
                    else f"within {SCHEDULING_HORIZON.days} days of {not_before:%Y-%m-%d %H:%M}"))


def _candidate_benches(session: Session, bench_id: int | None, required: list[str]
                       ) -> list[Bench]:
    if bench_id is not None:
        bench = session.get(Bench, bench_id)
        if bench is None or not bench.active:
            raise InvalidInput("bench_id", f"no active bench {bench_id}")
        missing = sorted(set(required) - set(bench.capabilities))
        if missing:
            raise InvalidInput("bench_id", f"bench {bench.name} lacks {', '.join(missing)}")
        return [bench]
    benches = [b for b in session.scalars(select(Bench).where(Bench.active).order_by(Bench.name))
               if is_capable(b.capabilities, required)]
    if not benches:
        raise NoSlot(f"no active bench has all of: {', '.join(required)}")
    return benches


def _calendars(session: Session, benches: list[Bench], not_before: datetime,
               own_booking_id: int) -> list[BenchCalendar]:
    busy: dict[int, list[tuple[datetime, datetime]]] = {b.id: [] for b in benches}
    rows = session.execute(
        select(Booking.scheduled_bench_id, Booking.scheduled_start, Booking.scheduled_end)
        .where(Booking.scheduled_bench_id.in_(busy), Booking.id != own_booking_id,
               Booking.status.in_([s.value for s in SLOT_HOLDING_STATUSES]),
               Booking.scheduled_end > not_before))
    for bench, start, end in rows:
        busy[bench].append((start, end))
    return [BenchCalendar(b.id, b.name, frozenset(b.capabilities), tuple(busy[b.id]))
            for b in benches]


def _assign(session: Session, booking: Booking, slot: Slot, now: datetime) -> None:
    """Put the booking on the slot, and its job (queued) on the bench; the flush is where the
    database's overlap guard speaks."""
    job = _open_job(session, booking.id)
    if job is not None and job.state != JobState.QUEUED:
        raise StateConflict(f"job {job.id} of booking {booking.id} is {job.state!r}: only a "
                            "queued job can move to another slot")
    booking.scheduled_bench_id = slot.bench_id
    booking.scheduled_start, booking.scheduled_end = slot.start, slot.end
    if booking.status != BookingStatus.SCHEDULED:
        booking.change_status(BookingStatus.SCHEDULED, now)
    else:
        booking.updated_at = now
    if job is None:
        session.add(Job(booking_id=booking.id, bench_id=slot.bench_id,
                        state=JobState.QUEUED.value, created_at=now))
    else:
        job.bench_id = slot.bench_id
    session.flush()


def _conflict_error(db: Database, booking_id: int, slot: Slot) -> BenchBooked:
    """The error for an explicit slot the database refused: who is in the way (read anew,
    now that the concurrent writer has committed)."""
    with db.session() as session:
        bench = session.get(Bench, slot.bench_id)
        assert bench is not None  # benches are deactivated, never deleted, while booked
        return _conflict_in(session, bench, slot.start, slot.end, booking_id)


def _conflict_in(session: Session, bench: Bench, start: datetime, end: datetime,
                 own_booking_id: int) -> BenchBooked:
    other = session.scalars(
        select(Booking).where(
            Booking.scheduled_bench_id == bench.id, Booking.id != own_booking_id,
            Booking.status.in_([s.value for s in SLOT_HOLDING_STATUSES]),
            Booking.scheduled_start < end, Booking.scheduled_end > start)
        .order_by(Booking.scheduled_start).limit(1)).first()
    if other is None:
        return BenchBooked(bench.name, None, None, None)
    return BenchBooked(bench.name, other.scheduled_start, other.scheduled_end, other.id)


def _open_job(session: Session, booking_id: int) -> Job | None:
    return session.scalars(select(Job).where(
        Job.booking_id == booking_id, Job.state.in_([s.value for s in OPEN_JOB_STATES]))
    ).first()


def _active_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise PermissionDenied(f"user {user_id} does not exist or is deactivated")
    return user


def _staff(session: Session, user_id: int) -> User:
    user = _active_user(session, user_id)
    if not user.is_staff:
        raise PermissionDenied(f"user {user.email} is a {user.role}: only engineers and "
                               "admins schedule bookings")
    return user


def _booking(session: Session, booking_id: int, actor: User, lock: bool = False) -> Booking:
    """The booking, if the actor may act on it (staff: any; a customer: their organisation's;
    otherwise NotFound, the same answer as for a booking that does not exist)."""
    query = select(Booking).where(Booking.id == booking_id)
    if not actor.is_staff:
        query = query.where(Booking.organisation_id == actor.organisation_id)
    if lock:
        query = query.with_for_update()
    booking = session.scalars(query).first()
    if booking is None:
        raise NotFound("booking", booking_id)
    return booking


def _audit(session: Session, actor: User, booking: Booking, action: str, at: datetime,
           detail: dict) -> None:
    audit.record(session, action=action, user=actor, organisation_id=booking.organisation_id,
                 object_type="booking", object_id=booking.id, detail=detail, at=at)


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("reason", "say why the booking is cancelled")
    if len(text) > 2000:
        raise InvalidInput("reason", "at most 2000 characters")
    return text


def _check_aware(field: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, f"{value.isoformat()} has no time zone (give UTC, e.g. "
                           f"{value.replace(tzinfo=UTC).isoformat()})")
