"""``/api/bookings``: customers book, follow and cancel; lab staff list every organisation's
bookings and confirm, schedule, reschedule and cancel them.

Every booking is looked up by its public id through :func:`queries.find_booking` with the
caller's scope, so another organisation's booking answers 404 exactly like a missing one; the
domain operations then check the actor again. Errors name bookings by public id.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import APIRouter, Body, Path, Query, Response, status
from sqlalchemy import select

from benchbot.service import queries, scheduling
from benchbot.service.api_deps import Caller, Customer, Db, Staff, scope_of
from benchbot.service.api_models import (
    BookingDetailOut,
    BookingIn,
    BookingOut,
    CancelIn,
    ScheduleIn,
    error_responses,
)
from benchbot.service.api_views import booking_detail_out, booking_summary_out, json_response
from benchbot.service.auth import Principal
from benchbot.service.db import Database
from benchbot.service.errors import BenchBooked, IllegalTransition, ServiceError
from benchbot.service.models import Booking
from benchbot.service.states import BookingStatus

router = APIRouter(prefix="/api/bookings", tags=["bookings"])

BookingPublicId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                      description="the booking's public id")]
T = TypeVar("T")


@router.post("", response_model=BookingDetailOut, status_code=status.HTTP_201_CREATED,
             responses=error_responses(401, 403, 422))
def create_booking(body: BookingIn, principal: Customer, db: Db) -> Response:
    """Book a catalogue service for your DUTs within a requested window (status
    ``requested``; the lab confirms and schedules it)."""
    with db.write_session() as session:
        booking = queries.request_booking(
            session, organisation_id=principal.organisation_id, user_id=principal.user_id,
            catalogue_entry_id=body.catalogue_entry_id, dut_description=body.dut_description,
            dut_quantity=body.dut_quantity, window_start=body.window_start,
            window_end=body.window_end)
        # read back in the same transaction: the booking has no job yet
        return json_response(booking_detail_out(booking), status.HTTP_201_CREATED)


@router.get("", response_model=list[BookingOut], responses=error_responses(401, 422))
def list_bookings(principal: Caller, db: Db,
                  status_: Annotated[list[BookingStatus], Query(alias="status")] = [],  # noqa: B006
                  bench: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$",
                                                     description="bench name")] = None,
                  limit: Annotated[int, Query(ge=1, le=queries.MAX_LIST)] = 100
                  ) -> Response:
    """Bookings, newest first: a customer's own organisation's; lab staff see every
    organisation's. Filter by ``status`` (repeatable) and ``bench`` (name)."""
    with db.session() as session:
        rows = queries.booking_summaries(session, scope=scope_of(principal),
                                         statuses=sorted({s.value for s in status_}),
                                         bench_name=bench, limit=limit)
    return json_response([booking_summary_out(row) for row in rows])


@router.get("/{booking_id}", response_model=BookingDetailOut,
            responses=error_responses(401, 404, 422))
def get_booking(booking_id: BookingPublicId, principal: Caller, db: Db) -> Response:
    """One booking with its jobs' state and progress."""
    return _detail(db, principal, booking_id)


@router.post("/{booking_id}/cancel", response_model=BookingDetailOut,
             responses=error_responses(401, 403, 404, 409, 422))
def cancel_booking(booking_id: BookingPublicId, body: CancelIn, principal: Caller, db: Db
                   ) -> Response:
    """Cancel a booking: at once if it is not running yet; a running one's job is asked to
    abort (the bench goes to its safe state) and the booking ends when the agent reports.
    Customers cancel their own organisation's bookings, staff any."""
    booking = _resolve(db, principal, booking_id)
    with public_errors(db, booking):
        scheduling.cancel_booking(db, actor_id=principal.user_id, booking_id=booking.id,
                                  reason=body.reason)
    return _detail(db, principal, booking_id)


@router.post("/{booking_id}/confirm", response_model=BookingDetailOut,
             responses=error_responses(401, 403, 404, 409, 422))
def confirm_booking(booking_id: BookingPublicId, principal: Staff, db: Db) -> Response:
    """requested → confirmed: the lab accepts the booking."""
    booking = _resolve(db, principal, booking_id)
    with public_errors(db, booking):
        scheduling.confirm_booking(db, actor_id=principal.user_id, booking_id=booking.id)
    return _detail(db, principal, booking_id)


@router.post("/{booking_id}/schedule", response_model=BookingDetailOut,
             responses=error_responses(401, 403, 404, 409, 422))
def schedule_booking(booking_id: BookingPublicId, principal: Staff, db: Db,
                     body: Annotated[ScheduleIn | None, Body()] = None) -> Response:
    """confirmed → scheduled: the earliest free slot on a capable bench (or only on
    ``bench_id``), or exactly at ``start``; queues the booking's job. 409 names the booking
    in the way when an exact slot is taken."""
    return _place(db, principal, booking_id, body or ScheduleIn(), scheduling.schedule_booking)


@router.post("/{booking_id}/reschedule", response_model=BookingDetailOut,
             responses=error_responses(401, 403, 404, 409, 422))
def reschedule_booking(booking_id: BookingPublicId, principal: Staff, db: Db,
                       body: Annotated[ScheduleIn | None, Body()] = None) -> Response:
    """Move a scheduled booking whose job has not started: to ``start`` exactly, or the
    earliest free slot from now on (optionally only on ``bench_id``)."""
    return _place(db, principal, booking_id, body or ScheduleIn(),
                  scheduling.reschedule_booking)


def _place(db: Database, principal: Principal, public_id: str, body: ScheduleIn,
           operation: Callable[..., Booking]) -> Response:
    booking = _resolve(db, principal, public_id)
    with public_errors(db, booking):
        operation(db, actor_id=principal.user_id, booking_id=booking.id,
                  bench_id=body.bench_id, start=body.start)
    return _detail(db, principal, public_id)


def _resolve(db: Database, principal: Principal, public_id: str) -> Booking:
    with db.session() as session:
        return queries.find_booking(session, scope=scope_of(principal), public_id=public_id)


def _detail(db: Database, principal: Principal, public_id: str) -> Response:
    with db.session() as session:
        return json_response(booking_detail_out(queries.find_booking(
            session, scope=scope_of(principal), public_id=public_id)))


@contextmanager
def public_errors(db: Database, booking: Booking) -> Iterator[None]:
    """Domain errors name bookings by their keys; the API names them by public id."""
    try:
        yield
    except IllegalTransition as exc:
        raise IllegalTransition(exc.object_type, booking.public_id
                                if exc.object_type == "booking" else exc.object_id,
                                exc.current, exc.requested, exc.allowed) from None
    except BenchBooked as exc:
        raise _public_bench_booked(db, exc) from None
    except ServiceError as exc:
        own = re.compile(rf"\bbooking {booking.id}\b")
        text = own.sub(f"booking {booking.public_id}", str(exc))
        if text != str(exc):
            exc.args = (text,)
        raise


def _public_bench_booked(db: Database, exc: BenchBooked) -> BenchBooked:
    if exc.conflicting_booking_id is None:
        return exc
    with db.session() as session:
        other = session.scalars(select(Booking).where(
            Booking.id == exc.conflicting_booking_id)).first()
        if other is None or other.scheduled_start is None or other.scheduled_end is None:
            return BenchBooked(exc.bench_name, None, None, None)
        refusal = BenchBooked(exc.bench_name, other.scheduled_start, other.scheduled_end,
                              other.id)
        refusal.args = (str(refusal).replace(f"by booking {other.id}",
                                             f"by booking {other.public_id}"),)
        return refusal
