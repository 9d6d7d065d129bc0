"""Scheduling on SQLite and PostgreSQL: earliest slot on a capable bench, explicit slots,
reschedule, cancel, refused transitions, and the database's own no-double-booking guard."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from benchbot.service.db import Database
from benchbot.service.errors import (
    BenchBooked,
    IllegalTransition,
    InvalidInput,
    NoSlot,
    NotFound,
    PermissionDenied,
    StateConflict,
)
from benchbot.service.models import AuditEntry, Bench, Booking, CatalogueEntry, Job
from benchbot.service.scheduling import (
    cancel_booking,
    confirm_booking,
    is_overlap_violation,
    reschedule_booking,
    schedule_booking,
)
from benchbot.service.states import BookingStatus
from tests.service._helpers import Lab, hour, new_booking

BOOKED = re.compile(r"bench fixture-bench is booked from \d{4}-\d\d-\d\d \d\d:\d\d to "
                    r"\d{4}-\d\d-\d\d \d\d:\d\d UTC by booking \d+")


def _booking(db: Database, booking_id: int) -> Booking:
    with db.session() as s:
        return s.get(Booking, booking_id)


def _jobs(db: Database, booking_id: int) -> list[Job]:
    with db.session() as s:
        return list(s.scalars(select(Job).where(Job.booking_id == booking_id)))


def test_schedule_takes_the_earliest_slot_in_the_window(db: Database, lab: Lab) -> None:
    first = new_booking(db, lab, hour(2), hour(8), quantity=2)
    booked = schedule_booking(db, actor_id=lab.engineer_id, booking_id=first)
    assert (booked.status, booked.scheduled_bench_id) == ("scheduled", lab.bench_id)
    assert (booked.scheduled_start, booked.scheduled_end) == (hour(2), hour(3))  # 2 × 30 min
    second = schedule_booking(db, actor_id=lab.engineer_id,
                              booking_id=new_booking(db, lab, hour(0), hour(8)))
    assert (second.scheduled_start, second.scheduled_end) == (hour(0), hour(0.5))
    third = schedule_booking(db, actor_id=lab.engineer_id,
                             booking_id=new_booking(db, lab, hour(1.75), hour(8), quantity=3))
    assert third.scheduled_start == hour(3)  # [1.75, 3.25) would overlap the first: after it
    (job,) = _jobs(db, first)
    assert (job.state, job.bench_id) == ("queued", lab.bench_id)
    stored = _booking(db, first)
    assert stored.scheduled_start == hour(2) and stored.scheduled_start.tzinfo is UTC
    assert stored.confirmed_at is not None and stored.scheduled_at is not None


def test_a_full_window_schedules_after_it(db: Database, lab: Lab) -> None:
    schedule_booking(db, actor_id=lab.engineer_id,
                     booking_id=new_booking(db, lab, hour(0), hour(1), quantity=2))
    late = schedule_booking(db, actor_id=lab.engineer_id,
                            booking_id=new_booking(db, lab, hour(0), hour(1)))
    assert late.scheduled_start == hour(1)


def test_only_capable_benches_are_used(db: Database, lab: Lab) -> None:
    with db.session() as s:
        entry = s.get(CatalogueEntry, lab.entry_id)
        entry.required_capabilities = ["test_fixture_x", "smu"]
    booking = new_booking(db, lab, hour(0), hour(4))
    with pytest.raises(NoSlot, match="no active bench has all of: test_fixture_x, smu"):
        schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking)
    with db.session() as s:
        gan = s.scalars(select(Bench).where(Bench.name == "simulated-gan")).one().id
    with pytest.raises(InvalidInput, match="bench_id: bench simulated-gan lacks test_fixture_x"):
        schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking, bench_id=gan)


def test_seeded_catalogue_schedules_on_a_seeded_bench(db: Database, lab: Lab) -> None:
    with db.session() as s:
        entry = s.scalars(select(CatalogueEntry).where(
            CatalogueEntry.plan_file_name == "lna_n78.yaml")).one()
        booking = Booking(organisation_id=lab.org_a, created_by_user_id=lab.customer_a,
                          catalogue_entry_id=entry.id, dut_description="LNA", dut_quantity=1,
                          requested_start=hour(0), requested_end=hour(5), status="confirmed")
        s.add(booking)
        s.flush()
        booking_id = booking.id
    booked = schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking_id)
    with db.session() as s:
        assert s.get(Bench, booked.scheduled_bench_id).name == "simulated-network"


def test_an_explicit_slot_that_is_taken_names_the_booking_in_the_way(db: Database, lab: Lab
                                                                     ) -> None:
    first = schedule_booking(db, actor_id=lab.engineer_id,
                             booking_id=new_booking(db, lab, hour(0), hour(4)))
    other = new_booking(db, lab, hour(0), hour(4))
    with pytest.raises(BenchBooked) as info:
        schedule_booking(db, actor_id=lab.engineer_id, booking_id=other, start=hour(0.25))
    assert _names_booking(info.value, first.id)
    assert _booking(db, other).status == "confirmed"  # nothing changed
    ok = schedule_booking(db, actor_id=lab.engineer_id, booking_id=other, start=hour(0.5))
    assert (ok.scheduled_start, ok.scheduled_end) == (hour(0.5), hour(1))  # back to back


def _names_booking(exc: BenchBooked, booking_id: int) -> bool:
    return bool(BOOKED.fullmatch(str(exc))) and str(exc).endswith(f"by booking {booking_id}")


def test_reschedule_moves_the_booking_and_its_queued_job(db: Database, lab: Lab) -> None:
    booking = new_booking(db, lab, hour(0), hour(4))
    schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking)
    moved = reschedule_booking(db, actor_id=lab.engineer_id, booking_id=booking, start=hour(6))
    assert (moved.status, moved.scheduled_start, moved.scheduled_end) == (
        "scheduled", hour(6), hour(6.5))
    (job,) = _jobs(db, booking)
    assert job.state == "queued"
    blocker = schedule_booking(db, actor_id=lab.engineer_id,
                               booking_id=new_booking(db, lab, hour(0), hour(4)))
    with pytest.raises(BenchBooked, match=f"by booking {blocker.id}$"):
        reschedule_booking(db, actor_id=lab.engineer_id, booking_id=booking, start=hour(0))
    with db.session() as s:
        s.execute(update(Job).where(Job.booking_id == booking).values(state="claimed"))
    with pytest.raises(StateConflict, match="is 'claimed': only a queued job can move"):
        reschedule_booking(db, actor_id=lab.engineer_id, booking_id=booking, start=hour(9))
    with pytest.raises(StateConflict, match="only a scheduled booking can be rescheduled"):
        reschedule_booking(db, actor_id=lab.engineer_id,
                           booking_id=new_booking(db, lab, hour(0), hour(4)))


def test_cancel_frees_the_slot_and_aborts_the_queued_job(db: Database, lab: Lab) -> None:
    booking = new_booking(db, lab, hour(0), hour(4))
    schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking)
    cancelled = cancel_booking(db, actor_id=lab.engineer_id, booking_id=booking,
                               reason="DUTs did not arrive")
    assert cancelled.status == "cancelled" and cancelled.cancelled_at is not None
    assert [j.state for j in _jobs(db, booking)] == ["aborted"]
    again = schedule_booking(db, actor_id=lab.engineer_id,
                             booking_id=new_booking(db, lab, hour(0), hour(4)))
    assert again.scheduled_start == hour(0)  # the cancelled booking holds no slot
    with pytest.raises(IllegalTransition, match="cannot go from 'cancelled' to 'cancelled'"):
        cancel_booking(db, actor_id=lab.engineer_id, booking_id=booking, reason="twice")
    with pytest.raises(InvalidInput, match="reason: say why"):
        cancel_booking(db, actor_id=lab.engineer_id, booking_id=again.id, reason="  ")


def test_cancel_of_a_running_booking_asks_its_job_to_abort(db: Database, lab: Lab) -> None:
    booking = new_booking(db, lab, hour(0), hour(4))
    schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking)
    with db.session() as s:
        s.get(Booking, booking).change_status(BookingStatus.RUNNING)
        s.scalars(select(Job).where(Job.booking_id == booking)).one().state = "running"
    result = cancel_booking(db, actor_id=lab.engineer_id, booking_id=booking, reason="stop")
    assert result.status == "running"
    (job,) = _jobs(db, booking)
    assert (job.state, job.cancel_requested) == ("running", True)


def test_customers_cancel_only_their_own_and_never_schedule(db: Database, lab: Lab) -> None:
    booking = new_booking(db, lab, hour(0), hour(4))
    with pytest.raises(PermissionDenied, match="only engineers and admins schedule"):
        schedule_booking(db, actor_id=lab.customer_a, booking_id=booking)
    with pytest.raises(NotFound, match=f"no booking {booking}"):
        cancel_booking(db, actor_id=lab.customer_b, booking_id=booking, reason="not mine")
    done = cancel_booking(db, actor_id=lab.customer_a, booking_id=booking, reason="changed plan")
    assert done.status == "cancelled"


def test_illegal_transitions_are_refused_with_from_and_to(db: Database, lab: Lab) -> None:
    requested = new_booking(db, lab, hour(0), hour(4), confirm=False)
    with pytest.raises(IllegalTransition,
                       match=f"booking {requested}: cannot go from 'requested' to 'scheduled'"):
        schedule_booking(db, actor_id=lab.engineer_id, booking_id=requested)
    confirm_booking(db, actor_id=lab.engineer_id, booking_id=requested)
    with pytest.raises(IllegalTransition, match="from 'confirmed' to 'confirmed'"):
        confirm_booking(db, actor_id=lab.engineer_id, booking_id=requested)
    schedule_booking(db, actor_id=lab.engineer_id, booking_id=requested)
    with pytest.raises(IllegalTransition, match="from 'scheduled' to 'scheduled'"):
        schedule_booking(db, actor_id=lab.engineer_id, booking_id=requested)
    assert _booking(db, requested).status == "scheduled"
    with db.session() as s:
        actions = s.scalars(select(AuditEntry.action).where(
            AuditEntry.object_id == requested).order_by(AuditEntry.id)).all()
    assert actions == ["booking.request", "booking.confirm", "booking.schedule"]


def test_explicit_start_must_be_aware_and_not_past(db: Database, lab: Lab) -> None:
    booking = new_booking(db, lab, hour(0), hour(4))
    with pytest.raises(InvalidInput, match="start: .* has no time zone"):
        schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking,
                         start=datetime(2030, 1, 1, 8, 0))
    with pytest.raises(InvalidInput, match="start: .* is in the past"):
        schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking,
                         start=datetime.now(UTC) - timedelta(hours=2))


# --- the database's own guard, without the scheduling code ---------------------------------

def _force_slot(db: Database, booking_id: int, bench_id: int, start: datetime, end: datetime,
                status: str = "scheduled") -> None:
    with db.session() as s:
        s.execute(update(Booking).where(Booking.id == booking_id).values(
            status=status, scheduled_bench_id=bench_id, scheduled_start=start,
            scheduled_end=end))


def test_the_database_refuses_overlapping_slots_itself(db: Database, lab: Lab) -> None:
    a, b, c = (new_booking(db, lab, hour(0), hour(4)) for _ in range(3))
    _force_slot(db, a, lab.bench_id, hour(1), hour(2))
    with pytest.raises(IntegrityError) as info:
        _force_slot(db, b, lab.bench_id, hour(1.5), hour(2.5))
    assert is_overlap_violation(info.value)
    with pytest.raises(IntegrityError) as info:  # inside, and as running
        _force_slot(db, b, lab.bench_id, hour(1.2), hour(1.4), status="running")
    assert is_overlap_violation(info.value)
    _force_slot(db, b, lab.bench_id, hour(2), hour(3))  # touching is fine
    _force_slot(db, c, lab.bench_id, hour(1), hour(2), status="completed")  # history is not
    with db.session() as s:
        other = s.scalars(select(Bench).where(Bench.name == "simulated-gan")).one().id
    _force_slot(db, c, other, hour(1), hour(2))  # another bench: fine


def test_an_insert_overlapping_is_refused_too(db: Database, lab: Lab) -> None:
    a = new_booking(db, lab, hour(0), hour(4))
    _force_slot(db, a, lab.bench_id, hour(1), hour(2))
    with pytest.raises(IntegrityError) as info, db.session() as s:
        s.add(Booking(organisation_id=lab.org_b, created_by_user_id=lab.customer_b,
                      catalogue_entry_id=lab.entry_id, dut_description="x", dut_quantity=1,
                      requested_start=hour(0), requested_end=hour(4), status="scheduled",
                      scheduled_bench_id=lab.bench_id, scheduled_start=hour(0),
                      scheduled_end=hour(1.01)))
    assert is_overlap_violation(info.value)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Booking)) == 1


def test_check_constraints_refuse_incoherent_rows(db: Database, lab: Lab) -> None:
    a = new_booking(db, lab, hour(0), hour(4))
    with pytest.raises(IntegrityError, match="slotted_status_has_slot"), db.session() as s:
        s.execute(update(Booking).where(Booking.id == a).values(status="scheduled"))
    with pytest.raises(IntegrityError, match="ck_bookings_status"), db.session() as s:
        s.execute(update(Booking).where(Booking.id == a).values(status="done"))


def test_naive_times_never_reach_the_database(db: Database, lab: Lab) -> None:
    with pytest.raises(Exception, match="naive datetime"), db.session() as s:
        s.get(Booking, new_booking(db, lab, hour(0), hour(4))).requested_start = \
            datetime(2030, 1, 1)
