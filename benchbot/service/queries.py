"""Data access for the API: customer-facing functions take the caller's organisation id as a
required keyword (``organisation_id``) and never return another organisation's rows -- a
booking of another organisation is :class:`NotFound`, exactly like one that does not exist.
The catalogue and the benches are the lab's public offer: listed for everyone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from benchbot.service import audit
from benchbot.service.errors import InvalidInput, NotFound, PermissionDenied
from benchbot.service.models import Bench, Booking, CatalogueEntry, Job, Run, User, utcnow
from benchbot.service.states import BookingStatus

MAX_DUT_QUANTITY = 1000
MAX_DESCRIPTION_CHARS = 4000
MAX_WINDOW = timedelta(days=366)


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
    user = session.get(User, user_id)
    if user is None or not user.active or user.organisation_id != org:
        raise PermissionDenied(f"user {user_id} cannot book for organisation {org}")
    entry = session.get(CatalogueEntry, catalogue_entry_id)
    if entry is None or not entry.active:
        raise InvalidInput("catalogue_entry_id", f"no active catalogue entry {catalogue_entry_id}")
    description = _dut_description(dut_description)
    _dut_quantity(dut_quantity)
    _window(window_start, window_end, at)
    booking = Booking(organisation_id=org, created_by_user_id=user.id,
                      catalogue_entry_id=entry.id, dut_description=description,
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
