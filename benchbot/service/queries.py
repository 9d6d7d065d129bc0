"""Data access for the API: customer-facing functions take the caller's organisation id as a
required keyword (``organisation_id``) and never return another organisation's rows -- a
booking of another organisation is :class:`NotFound`, exactly like one that does not exist.
The catalogue and the benches are the lab's public offer: listed for everyone.

The API's lookups by public id take a required :class:`Scope` instead: one organisation's
objects (a customer) or every organisation's (lab staff, :meth:`Scope.whole_lab`). The
calendar and the job queue need the whole lab's scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import RowMapping, Select, select
from sqlalchemy.orm import Session, joinedload, selectinload

from benchbot.service import audit
from benchbot.service.errors import InvalidInput, NotFound, PermissionDenied
from benchbot.service.models import (
    Bench,
    Booking,
    CatalogueEntry,
    Job,
    Organisation,
    Run,
    User,
    utcnow,
)
from benchbot.service.states import BookingStatus

MAX_DUT_QUANTITY = 1000
MAX_DESCRIPTION_CHARS = 4000
MAX_WINDOW = timedelta(days=366)
MAX_CALENDAR_SPAN = timedelta(days=366)
MAX_LIST = 500
"""The most rows one listing returns (newest first; ``before``-style paging is not needed
at a lab's volume, ``limit`` bounds the answer)."""

S = TypeVar("S", bound=Select[Any])


def _scope(organisation_id: int) -> int:
    """The organisation id, refused unless it is one (scoping is never optional)."""
    if isinstance(organisation_id, bool) or not isinstance(organisation_id, int):
        raise TypeError(f"organisation_id must be an int, got {organisation_id!r}")
    return organisation_id


def list_catalogue(session: Session, *, include_inactive: bool = False) -> list[CatalogueEntry]:
    """The service catalogue, by name (active entries only unless asked)."""
    query = select(CatalogueEntry).order_by(CatalogueEntry.name)
    if not include_inactive:
        query = query.where(CatalogueEntry.active)
    return list(session.scalars(query))


def list_benches(session: Session, *, include_inactive: bool = False) -> list[Bench]:
    """The lab's benches, by name (active only unless asked)."""
    query = select(Bench).order_by(Bench.name)
    if not include_inactive:
        query = query.where(Bench.active)
    return list(session.scalars(query))


def list_bookings(session: Session, *, organisation_id: int) -> list[Booking]:
    """The organisation's bookings, newest first."""
    return list(session.scalars(
        select(Booking).where(Booking.organisation_id == _scope(organisation_id))
        .order_by(Booking.created_at.desc(), Booking.id.desc())))


def get_booking(session: Session, *, organisation_id: int, booking_id: int) -> Booking:
    """One of the organisation's bookings; NotFound for any other id."""
    booking = session.scalars(select(Booking).where(
        Booking.id == booking_id, Booking.organisation_id == _scope(organisation_id))).first()
    if booking is None:
        raise NotFound("booking", booking_id)
    return booking


def list_runs(session: Session, *, organisation_id: int, booking_id: int | None = None
              ) -> list[Run]:
    """The runs of the organisation's bookings (optionally of one booking), newest first."""
    query = (select(Run).join(Job, Run.job_id == Job.id).join(Booking, Job.booking_id == Booking.id)
             .where(Booking.organisation_id == _scope(organisation_id))
             .order_by(Run.created_at.desc(), Run.id.desc()))
    if booking_id is not None:
        query = query.where(Booking.id == booking_id)
    return list(session.scalars(query))


def request_booking(session: Session, *, organisation_id: int, user_id: int,
                    catalogue_entry_id: int, dut_description: str, dut_quantity: int,
                    window_start: datetime, window_end: datetime,
                    now: datetime | None = None) -> Booking:
    """A customer asks for a catalogue service on their DUTs within a window (status
    ``requested``). Every field is checked; InvalidInput names the field and the reason."""
    org = _scope(organisation_id)
    at = now or utcnow()
    user = session.get(User, user_id, options=[joinedload(User.organisation)])
    if user is None or not user.active or user.organisation_id != org:
        raise PermissionDenied(f"user {user_id} cannot book for organisation {org}")
    entry = session.get(CatalogueEntry, catalogue_entry_id)
    if entry is None or not entry.active:
        raise InvalidInput("catalogue_entry_id", f"no active catalogue entry {catalogue_entry_id}")
    description = _dut_description(dut_description)
    _dut_quantity(dut_quantity)
    _window(window_start, window_end, at)
    window_start, window_end = window_start.astimezone(UTC), window_end.astimezone(UTC)
    # related rows given as objects (and no jobs yet), so the answer built from this booking
    # in the same transaction needs no further SELECT
    booking = Booking(organisation=user.organisation, created_by=user, catalogue_entry=entry,
                      jobs=[], scheduled_bench=None, dut_description=description,
                      dut_quantity=dut_quantity, requested_start=window_start,
                      requested_end=window_end, status=BookingStatus.REQUESTED.value,
                      created_at=at, updated_at=at)
    session.add(booking)
    session.flush()
    audit.record(session, action="booking.request", user=user, organisation_id=org,
                 object_type="booking", object_id=booking.id, at=at,
                 detail={"catalogue_entry": entry.name, "dut_quantity": dut_quantity})
    return booking


def _dut_description(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("dut_description", "describe the DUT (part number, package, bias)")
    if len(text) > MAX_DESCRIPTION_CHARS:
        raise InvalidInput("dut_description", f"at most {MAX_DESCRIPTION_CHARS} characters")
    return text.strip()


def _dut_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput("dut_quantity", f"must be a whole number, got {quantity!r}")
    if not 1 <= quantity <= MAX_DUT_QUANTITY:
        raise InvalidInput("dut_quantity", f"must be 1 to {MAX_DUT_QUANTITY}, got {quantity}")


def _window(start: datetime, end: datetime, now: datetime) -> None:
    for field, value in (("window_start", start), ("window_end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None \
                or value.utcoffset() is None:
            raise InvalidInput(field, f"{value!r} is not a timezone-aware time (give UTC)")
    if end <= start:
        raise InvalidInput("window_end", "must be after window_start")
    if end <= now:
        raise InvalidInput("window_end", "is in the past")
    if end - start > MAX_WINDOW:
        raise InvalidInput("window_end", f"the window may span at most {MAX_WINDOW.days} days")


# --- scoped lookups by public id (the API's) -------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """What a caller may see: one organisation's bookings, runs and files, or (lab staff)
    every organisation's. Build it with :meth:`organisation` or :meth:`whole_lab`."""

    organisation_id: int | None

    @classmethod
    def organisation(cls, organisation_id: int) -> Scope:
        return cls(_scope(organisation_id))

    @classmethod
    def whole_lab(cls) -> Scope:
        return cls(None)

    @property
    def is_lab(self) -> bool:
        return self.organisation_id is None

    def restrict(self, query: S) -> S:
        """``query`` (over bookings) limited to the scope's organisation."""
        if self.is_lab:
            return query
        return query.where(Booking.organisation_id == self.organisation_id)

    def require_lab(self, what: str) -> None:
        if not self.is_lab:
            raise PermissionDenied(f"only lab staff see {what}")


def _check(scope: Scope) -> Scope:
    if not isinstance(scope, Scope):
        raise TypeError(f"scope must be a Scope, got {scope!r}")
    return scope


_BOOKING_VIEW = (selectinload(Booking.organisation), selectinload(Booking.catalogue_entry),
                 selectinload(Booking.scheduled_bench))


# one booking: its many-to-one rows joined into the same SELECT, its jobs (with their runs)
# in a second one -- 2 queries instead of 6 for the status page polled by every customer
_ONE_BOOKING_VIEW = (joinedload(Booking.organisation, innerjoin=True),
                     joinedload(Booking.catalogue_entry, innerjoin=True),
                     joinedload(Booking.scheduled_bench),
                     selectinload(Booking.jobs).joinedload(Job.run))


def find_booking(session: Session, *, scope: Scope, public_id: str, lock: bool = False
                 ) -> Booking:
    """The booking with ``public_id`` if the scope holds it; NotFound otherwise (the same
    answer for another organisation's booking as for none)."""
    query = _check(scope).restrict(select(Booking).where(Booking.public_id == public_id))
    if lock:
        query = query.with_for_update(of=Booking)  # not the outer-joined bench
    booking = session.scalars(query.options(*_ONE_BOOKING_VIEW)).first()
    if booking is None:
        raise NotFound("booking", public_id)
    return booking


def find_bookings(session: Session, *, scope: Scope, statuses: Sequence[str] = (),
                  bench_name: str | None = None, limit: int = MAX_LIST) -> list[Booking]:
    """The scope's bookings, newest first, optionally of some statuses or on one bench."""
    query = _bookings_query(select(Booking), scope, statuses, bench_name, limit)
    return list(session.scalars(query.options(*_BOOKING_VIEW)))


_SUMMARY_COLUMNS = (
    Booking.public_id, Booking.status, Booking.status_reason,
    Organisation.name.label("organisation"), CatalogueEntry.id.label("catalogue_entry_id"),
    CatalogueEntry.name.label("catalogue_entry_name"), Booking.dut_description,
    Booking.dut_quantity, Booking.requested_start, Booking.requested_end,
    Bench.name.label("bench"), Booking.scheduled_start, Booking.scheduled_end,
    Booking.created_at, Booking.updated_at)


def booking_summaries(session: Session, *, scope: Scope, statuses: Sequence[str] = (),
                      bench_name: str | None = None, limit: int = MAX_LIST
                      ) -> Sequence[RowMapping]:
    """What a booking list shows of :func:`find_bookings`' bookings, as plain rows: one SELECT
    joining organisation, catalogue entry and bench, no ORM objects. The list every customer
    polls costs half as much CPU this way (benchmarks/service_load.py)."""
    query = (select(*_SUMMARY_COLUMNS)
             .join(Organisation, Booking.organisation_id == Organisation.id)
             .join(CatalogueEntry, Booking.catalogue_entry_id == CatalogueEntry.id))
    if bench_name is None:
        query = query.outerjoin(Bench, Booking.scheduled_bench_id == Bench.id)
    return session.execute(_bookings_query(query, scope, statuses, bench_name, limit)
                           ).mappings().all()


def _bookings_query(query: S, scope: Scope, statuses: Sequence[str], bench_name: str | None,
                    limit: int) -> S:
    query = _check(scope).restrict(query)
    if statuses:
        query = query.where(Booking.status.in_(list(statuses)))
    if bench_name is not None:
        query = query.join(Bench, Booking.scheduled_bench_id == Bench.id).where(
            Bench.name == bench_name)
    return query.order_by(Booking.created_at.desc(), Booking.id.desc()).limit(
        min(limit, MAX_LIST))


def _runs_query(scope: Scope) -> Select[tuple[Run]]:
    query = (select(Run).join(Job, Run.job_id == Job.id)
             .join(Booking, Job.booking_id == Booking.id))
    return _check(scope).restrict(query).options(
        selectinload(Run.job).selectinload(Job.booking).selectinload(Booking.organisation),
        selectinload(Run.job).selectinload(Job.bench))


def find_run(session: Session, *, scope: Scope, public_id: str) -> Run:
    """The run with ``public_id`` if the scope holds its booking; NotFound otherwise."""
    run = session.scalars(_runs_query(scope).where(Run.public_id == public_id)).first()
    if run is None:
        raise NotFound("run", public_id)
    return run


def find_runs(session: Session, *, scope: Scope, limit: int = MAX_LIST) -> list[Run]:
    """The scope's runs, newest first."""
    return list(session.scalars(_runs_query(scope).order_by(Run.created_at.desc(),
                                                            Run.id.desc())
                                .limit(min(limit, MAX_LIST))))


def bench_calendar(session: Session, *, scope: Scope, bench_id: int, start: datetime,
                   end: datetime) -> tuple[Bench, list[Booking]]:
    """A bench and the bookings holding a slot on it (any status that carries one) that
    overlap ``[start, end)``, by start. Lab staff only: it shows every organisation."""
    _check(scope).require_lab("a bench's calendar")
    _calendar_window(start, end)
    bench = session.get(Bench, bench_id)
    if bench is None:
        raise NotFound("bench", bench_id)
    bookings = session.scalars(select(Booking).where(
        Booking.scheduled_bench_id == bench.id, Booking.scheduled_start < end,
        Booking.scheduled_end > start).options(*_BOOKING_VIEW)
        .order_by(Booking.scheduled_start, Booking.id))
    return bench, list(bookings)


def _calendar_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise InvalidInput("query.to", "must be after from")
    if end - start > MAX_CALENDAR_SPAN:
        raise InvalidInput("query.to", f"a calendar spans at most {MAX_CALENDAR_SPAN.days} "
                           "days")


def find_jobs(session: Session, *, scope: Scope, states: Sequence[str],
              bench_name: str | None = None, limit: int = MAX_LIST) -> list[Job]:
    """The job queue: jobs in ``states``, oldest first. Lab staff only."""
    _check(scope).require_lab("the job queue")
    query = select(Job).where(Job.state.in_(list(states)))
    if bench_name is not None:
        query = query.join(Bench, Job.bench_id == Bench.id).where(Bench.name == bench_name)
    return list(session.scalars(query.options(
        selectinload(Job.bench), selectinload(Job.booking).selectinload(Booking.organisation))
        .order_by(Job.created_at, Job.id).limit(min(limit, MAX_LIST))))
