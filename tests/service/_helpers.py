"""Shared pieces of the booking-service tests: passwords, a small lab, times."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import select
from sqlalchemy.orm import aliased

from benchbot.service.db import Database
from benchbot.service.models import Bench, Booking, CatalogueEntry, Organisation, User
from benchbot.service.passwords import hash_password
from benchbot.service.states import OrganisationKind, UserRole

ADMIN_PASSWORD = "test-admin-password-0123"
USER_PASSWORD = "test-user-password-4567"


@cache
def user_password_hash() -> str:
    """One argon2id hash shared by the factories' users (each costs 64 MiB and ~50 ms)."""
    return hash_password(USER_PASSWORD)


@dataclass(frozen=True)
class Lab:
    """Ids the scheduling tests need: an engineer, two customer organisations with a user
    each, a bench of its own capability and a catalogue entry needing it."""

    engineer_id: int
    org_a: int
    customer_a: int
    org_b: int
    customer_b: int
    bench_id: int
    bench_name: str
    entry_id: int
    duration_min: int


def make_lab(db: Database, capability: str = "test_fixture_x", duration_min: int = 30) -> Lab:
    with db.session() as s:
        lab_org = s.scalars(select(Organisation).where(
            Organisation.kind == OrganisationKind.LAB.value)).one()
        engineer = User(organisation=lab_org, email="engineer@benchbot.local",
                        password_hash=user_password_hash(), role=UserRole.ENGINEER.value)
        a = Organisation(name="Alpha RF Ltd", kind=OrganisationKind.CUSTOMER.value)
        b = Organisation(name="Beta Microwave GmbH", kind=OrganisationKind.CUSTOMER.value)
        ua = User(organisation=a, email="ann@alpha.example", password_hash=user_password_hash(),
                  role=UserRole.CUSTOMER.value)
        ub = User(organisation=b, email="bob@beta.example", password_hash=user_password_hash(),
                  role=UserRole.CUSTOMER.value)
        bench = Bench(name="fixture-bench", capabilities=["vna", capability], instruments={})
        entry = CatalogueEntry(name="fixture service", plan_file_name="fixture.yaml",
                               plan_text="schema: benchbot.plan/1\n",
                               required_capabilities=[capability],
                               duration_estimate_min=duration_min)
        s.add_all([engineer, a, b, ua, ub, bench, entry])
        s.flush()
        return Lab(engineer.id, a.id, ua.id, b.id, ub.id, bench.id, bench.name, entry.id,
                   duration_min)


def hour(offset_h: float, base: datetime | None = None) -> datetime:
    """A whole-hour UTC time ``offset_h`` hours after the start of tomorrow (or ``base``)."""
    start = base or (datetime.now(UTC) + timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    return start + timedelta(hours=offset_h)


def new_booking(db: Database, lab: Lab, window_start: datetime, window_end: datetime, *,
                quantity: int = 1, customer_b: bool = False, confirm: bool = True) -> int:
    """A customer's booking of the lab's fixture service (confirmed by the engineer)."""
    from benchbot.service.queries import request_booking
    from benchbot.service.scheduling import confirm_booking

    org, user = (lab.org_b, lab.customer_b) if customer_b else (lab.org_a, lab.customer_a)
    with db.session() as s:
        booking_id = request_booking(
            s, organisation_id=org, user_id=user, catalogue_entry_id=lab.entry_id,
            dut_description="BB-PA-N78-01 on EVB rev B", dut_quantity=quantity,
            window_start=window_start, window_end=window_end).id
    if confirm:
        confirm_booking(db, actor_id=lab.engineer_id, booking_id=booking_id)
    return booking_id


def all_at_once(target: Callable[..., None], args: Iterable[tuple[object, ...]]) -> None:
    """``target(*a)`` for each ``a`` of ``args``, each in its own thread; returns when all have
    ended (the targets release themselves together, e.g. on a barrier)."""
    threads = [threading.Thread(target=target, args=a) for a in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def overlapping_slots(db: Database) -> list[tuple[int, int]]:
    """Pairs of slot-holding bookings (scheduled, running) that overlap on one bench: a
    double booking. Empty if there is none."""
    a, b = aliased(Booking), aliased(Booking)
    holding = ("scheduled", "running")
    with db.session() as s:
        return [tuple(row) for row in s.execute(select(a.id, b.id).where(
            a.id < b.id, a.scheduled_bench_id == b.scheduled_bench_id,
            a.status.in_(holding), b.status.in_(holding),
            a.scheduled_start < b.scheduled_end, b.scheduled_start < a.scheduled_end))]
