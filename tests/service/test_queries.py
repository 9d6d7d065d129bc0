"""Organisation-scoped data access: a customer's queries never reach another organisation's
rows, and bad booking input is refused naming the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput, NotFound, PermissionDenied
from benchbot.service.models import Booking, CatalogueEntry, Job, Run
from benchbot.service.queries import (
    get_booking,
    list_benches,
    list_bookings,
    list_catalogue,
    list_runs,
    request_booking,
)
from benchbot.service.scheduling import schedule_booking
from tests.service._helpers import Lab, hour, new_booking


def test_bookings_are_scoped_to_the_callers_organisation(db: Database, lab: Lab) -> None:
    mine = new_booking(db, lab, hour(0), hour(4))
    theirs = new_booking(db, lab, hour(0), hour(4), customer_b=True)
    with db.session() as s:
        assert [b.id for b in list_bookings(s, organisation_id=lab.org_a)] == [mine]
        assert [b.id for b in list_bookings(s, organisation_id=lab.org_b)] == [theirs]
        assert get_booking(s, organisation_id=lab.org_a, booking_id=mine).id == mine
        with pytest.raises(NotFound, match=f"no booking {theirs}"):
            get_booking(s, organisation_id=lab.org_a, booking_id=theirs)
        with pytest.raises(NotFound, match="no booking 999999"):  # same answer: no oracle
            get_booking(s, organisation_id=lab.org_a, booking_id=999999)


def test_runs_are_scoped_through_their_booking(db: Database, lab: Lab) -> None:
    mine = new_booking(db, lab, hour(0), hour(4))
    theirs = new_booking(db, lab, hour(0), hour(4), customer_b=True)
    for booking in (mine, theirs):
        schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking)
    with db.session() as s:
        jobs = {j.booking_id: j.id for j in s.scalars(select(Job))}
        s.add_all([Run(job_id=jobs[mine], status="completed", verdict="pass",
                       record_sha256="a" * 64, record_size_bytes=10),
                   Run(job_id=jobs[theirs], status="completed", verdict="fail")])
    with db.session() as s:
        assert [r.verdict for r in list_runs(s, organisation_id=lab.org_a)] == ["pass"]
        assert [r.verdict for r in list_runs(s, organisation_id=lab.org_b)] == ["fail"]
        assert list_runs(s, organisation_id=lab.org_a, booking_id=theirs) == []


def test_the_organisation_is_never_optional(db: Database) -> None:
    for organisation_id in (None, "1", True, 1.0):
        with db.session() as s, pytest.raises(TypeError, match="organisation_id must be an int"):
            list_bookings(s, organisation_id=organisation_id)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="organisation_id"), db.session() as s:
        list_bookings(s)  # type: ignore[call-arg]


def test_a_user_books_only_for_their_own_organisation(db: Database, lab: Lab) -> None:
    with pytest.raises(PermissionDenied, match=f"cannot book for organisation {lab.org_b}"), \
            db.session() as s:
        request_booking(s, organisation_id=lab.org_b, user_id=lab.customer_a,
                        catalogue_entry_id=lab.entry_id, dut_description="PA",
                        dut_quantity=1, window_start=hour(0), window_end=hour(1))


BAD_INPUT = [
    ({"dut_description": "   "}, "dut_description", "describe the DUT"),
    ({"dut_description": "x" * 5000}, "dut_description", "at most 4000"),
    ({"dut_quantity": 0}, "dut_quantity", "must be 1 to 1000, got 0"),
    ({"dut_quantity": 2.5}, "dut_quantity", "must be a whole number"),
    ({"window_start": datetime(2030, 1, 1)}, "window_start", "not a timezone-aware time"),
    ({"window_end": hour(-1)}, "window_end", "must be after window_start"),
    ({"window_start": hour(-72), "window_end": hour(-48)}, "window_end", "is in the past"),
    ({"window_end": hour(0) + timedelta(days=400)}, "window_end", "at most 366 days"),
    ({"catalogue_entry_id": 424242}, "catalogue_entry_id", "no active catalogue entry"),
]


def test_bad_booking_input_names_the_field(db: Database, lab: Lab) -> None:
    for change, field, reason in BAD_INPUT:
        fields = {"catalogue_entry_id": lab.entry_id, "dut_description": "BB-LNA-N78-02",
                  "dut_quantity": 2, "window_start": hour(0), "window_end": hour(4)} | change
        with pytest.raises(InvalidInput) as info, db.session() as s:
            request_booking(s, organisation_id=lab.org_a, user_id=lab.customer_a, **fields)
        assert (info.value.field, reason in info.value.reason) == (field, True), info.value
    with db.session() as s:
        assert list_bookings(s, organisation_id=lab.org_a) == []  # nothing half-written


def test_inactive_catalogue_entries_and_benches_are_not_offered(db: Database, lab: Lab) -> None:
    with db.session() as s:
        s.execute(update(CatalogueEntry).where(CatalogueEntry.id == lab.entry_id)
                  .values(active=False))
    with db.session() as s:
        assert "fixture service" not in [e.name for e in list_catalogue(s)]
        assert "fixture service" in [e.name for e in list_catalogue(s, include_inactive=True)]
        assert "fixture-bench" in [b.name for b in list_benches(s)]
    with pytest.raises(InvalidInput, match="catalogue_entry_id: no active"), db.session() as s:
        request_booking(s, organisation_id=lab.org_a, user_id=lab.customer_a,
                        catalogue_entry_id=lab.entry_id, dut_description="PA", dut_quantity=1,
                        window_start=hour(0), window_end=hour(1))


def test_times_come_back_as_utc(db: Database, lab: Lab) -> None:
    cet = datetime(2030, 6, 1, 10, 0, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    with db.session() as s:
        booking = request_booking(s, organisation_id=lab.org_a, user_id=lab.customer_a,
                                  catalogue_entry_id=lab.entry_id, dut_description="PA",
                                  dut_quantity=1, window_start=cet,
                                  window_end=cet + timedelta(hours=2))
        booking_id = booking.id
    with db.session() as s:
        stored = s.get(Booking, booking_id)
        assert stored.requested_start == datetime(2030, 6, 1, 10, 0, tzinfo=UTC)
        assert stored.requested_start.tzinfo is UTC and stored.created_at.tzinfo is UTC
