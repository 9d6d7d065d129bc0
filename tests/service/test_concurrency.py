"""No double booking under concurrent clients, on SQLite and PostgreSQL.

50 clients, each a thread with its own engine and connection, released together by a
barrier, all schedule bookings whose requested windows overlap on one bench: most ask for the
earliest slot, some for one exact start. The database must end with no two slot-holding
bookings overlapping, and every client must get a slot or a clear error.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from benchbot.service.db import Database
from benchbot.service.errors import BenchBooked, ServiceError
from benchbot.service.models import Booking
from benchbot.service.scheduling import is_overlap_violation, schedule_booking
from tests.service._helpers import Lab, all_at_once, hour, overlapping_slots

N_CLIENTS = 50
N_EXACT = 10  # clients asking for exactly the window's start; the others take the earliest
BOOKED = re.compile(r"bench fixture-bench is booked from \d{4}-\d\d-\d\d \d\d:\d\d to "
                    r"\d{4}-\d\d-\d\d \d\d:\d\d UTC by booking \d+")


def _confirmed_bookings(db: Database, lab: Lab, n: int) -> list[int]:
    with db.session() as s:
        bookings = [Booking(organisation_id=(lab.org_a, lab.org_b)[i % 2],
                            created_by_user_id=(lab.customer_a, lab.customer_b)[i % 2],
                            catalogue_entry_id=lab.entry_id, dut_description=f"DUT {i}",
                            dut_quantity=1, requested_start=hour(0), requested_end=hour(2),
                            status="confirmed") for i in range(n)]
        s.add_all(bookings)
        s.flush()
        return [b.id for b in bookings]


def _run_clients(url: str, work: list, barrier_parties: int) -> list[object]:
    """Run each ``work[i](db)`` in its own thread with its own Database; results by index."""
    results: list[object] = [None] * len(work)
    barrier = threading.Barrier(barrier_parties)

    def client(i: int) -> None:
        db = Database(url, pool_size=1, max_overflow=1)
        try:
            with db.engine.connect():  # open the client's connection before the start
                pass
            barrier.wait()
            results[i] = work[i](db)
        except Exception as exc:  # noqa: BLE001 - the test judges every outcome
            results[i] = exc
        finally:
            db.dispose()

    all_at_once(client, ((i,) for i in range(len(work))))
    return results


def test_fifty_concurrent_clients_never_double_book(db: Database, lab: Lab) -> None:
    ids = _confirmed_bookings(db, lab, N_CLIENTS)
    exact = set(ids[:N_EXACT])

    def job(booking_id: int):
        start = hour(0) if booking_id in exact else None
        return lambda client_db: schedule_booking(
            client_db, actor_id=lab.engineer_id, booking_id=booking_id, start=start)

    results = _run_clients(db.url.render_as_string(False), [job(i) for i in ids], N_CLIENTS)

    unexpected = [r for r in results if isinstance(r, Exception)
                  and not isinstance(r, ServiceError)]
    assert unexpected == []
    refused = {i: r for i, r in zip(ids, results, strict=True) if isinstance(r, ServiceError)}
    assert all(isinstance(r, BenchBooked) and BOOKED.fullmatch(str(r))
               for r in refused.values()), refused
    assert set(refused) <= exact  # the earliest-slot clients all got one
    assert len(refused) >= N_EXACT - 1  # at most one exact start can win
    assert overlapping_slots(db) == []
    with db.session() as s:
        slots = s.execute(select(Booking.id, Booking.scheduled_start, Booking.scheduled_end)
                          .where(Booking.status == "scheduled")
                          .order_by(Booking.scheduled_start)).all()
    assert {row.id for row in slots} == set(ids) - set(refused)
    step = timedelta(minutes=lab.duration_min)  # the earliest slots tile the calendar
    assert [(row.scheduled_start, row.scheduled_end) for row in slots] == [
        (hour(0) + k * step, hour(0) + (k + 1) * step) for k in range(len(slots))]


def test_the_guard_holds_against_raw_concurrent_writes(db: Database, lab: Lab) -> None:
    """Without the scheduling code: 50 plain UPDATEs of the same slot at once, each in its own
    transaction; the database lets exactly one through."""
    ids = _confirmed_bookings(db, lab, N_CLIENTS)

    def job(booking_id: int):
        def write(client_db: Database) -> str:
            with client_db.session() as s:
                s.execute(update(Booking).where(Booking.id == booking_id).values(
                    status="scheduled", scheduled_bench_id=lab.bench_id,
                    scheduled_start=hour(0), scheduled_end=hour(1)))
            return "written"
        return write

    results = _run_clients(db.url.render_as_string(False), [job(i) for i in ids], N_CLIENTS)
    assert results.count("written") == 1
    refused = [r for r in results if r != "written"]
    assert all(isinstance(r, IntegrityError) and is_overlap_violation(r) for r in refused), \
        {type(r).__name__ for r in refused}
    assert overlapping_slots(db) == []
    with db.session() as s:
        assert s.execute(text("SELECT count(*) FROM bookings WHERE status = 'scheduled'")
                         ).scalar() == 1
