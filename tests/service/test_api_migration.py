"""Migration 0002 (sessions, login throttle, public ids) on a database that already holds
bookings and runs, on SQLite and PostgreSQL: existing rows get distinct public ids, the
no-double-booking guard survives, and the downgrade gives the 0001 schema back."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from benchbot.service.db import Database
from benchbot.service.scheduling import is_overlap_violation

ROWS_0001 = [
    "INSERT INTO organisations (id, name, kind, created_at) VALUES (1, 'Lab', 'lab', :t)",
    "INSERT INTO users (id, organisation_id, email, password_hash, role, display_name, active,"
    " created_at) VALUES (1, 1, 'e@lab', 'h', 'engineer', '', :yes, :t)",
    "INSERT INTO benches (id, name, description, capabilities, instruments, active, created_at,"
    " updated_at) VALUES (1, 'b', '', '[]', '{}', :yes, :t, :t)",
    "INSERT INTO catalogue_entries (id, name, description, plan_file_name, plan_text,"
    " required_capabilities, duration_estimate_min, active, created_at, updated_at)"
    " VALUES (1, 'c', '', 'p.yaml', 'x', '[]', 30, :yes, :t, :t)",
    *[f"INSERT INTO bookings (id, organisation_id, created_by_user_id, catalogue_entry_id,"
      f" dut_description, dut_quantity, requested_start, requested_end, scheduled_bench_id,"
      f" scheduled_start, scheduled_end, status, created_at, updated_at) VALUES ({i}, 1, 1, 1,"
      f" 'd', 1, :t, :t2, 1, :s{i}, :e{i}, 'scheduled', :t, :t)" for i in (1, 2)],
    *[f"INSERT INTO jobs (id, booking_id, bench_id, state, cancel_requested, created_at)"
      f" VALUES ({i}, {i}, 1, 'completed', :no, :t)" for i in (1, 2)],
    *[f"INSERT INTO runs (id, job_id, status, created_at, updated_at) VALUES ({i}, {i},"
      f" 'completed', :t, :t)" for i in (1, 2)],
]
TIMES = {"t": "2030-01-01 00:00:00.000000", "t2": "2030-01-02 00:00:00.000000",
         "s1": "2030-01-01 01:00:00.000000", "e1": "2030-01-01 02:00:00.000000",
         "s2": "2030-01-01 02:00:00.000000", "e2": "2030-01-01 03:00:00.000000"}


def test_0002_on_existing_rows_and_back(empty_db: Database) -> None:
    db = empty_db
    db.upgrade("0001")
    flags = {"yes": True, "no": False}
    with db.session() as s:
        for statement in ROWS_0001:
            s.execute(text(statement), TIMES | flags if db.kind == "sqlite" else
                      {k: v.replace(" ", "T") + "+00:00" for k, v in TIMES.items()} | flags)
    db.upgrade("0002")
    with db.engine.connect() as c:
        for table in ("bookings", "runs"):
            ids = c.execute(text(f"SELECT public_id FROM {table}")).scalars().all()
            assert len(ids) == len(set(ids)) == 2 and all(len(i) == 22 for i in ids)
        unique = {ix["name"] for ix in inspect(c).get_indexes("bookings") if ix["unique"]}
        assert "uq_bookings_public_id" in unique
    overlap = ("UPDATE bookings SET scheduled_start = :s1, scheduled_end = :e1 WHERE id = 2")
    params = ({"s1": TIMES["s1"], "e1": TIMES["e1"]} if db.kind == "sqlite" else
              {"s1": "2030-01-01T01:00:00+00:00", "e1": "2030-01-01T02:00:00+00:00"})
    with pytest.raises(IntegrityError) as refused, db.session() as s:
        s.execute(text(overlap), params)
    assert is_overlap_violation(refused.value)  # the guard survived the migration
    db.downgrade("0001")
    tables = set(inspect(db.engine).get_table_names())
    assert {"auth_sessions", "login_throttle"} & tables == set()
    columns = {c["name"] for c in inspect(db.engine).get_columns("bookings")}
    assert "public_id" not in columns
    with db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM runs")).scalar() == 2
