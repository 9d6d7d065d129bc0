"""Initial schema: organisations, users, catalogue, benches, bookings, jobs, runs, audit log.

No double booking, enforced by the database: two bookings holding a slot (status scheduled or
running) never overlap on one bench. PostgreSQL: an exclusion constraint over
``tstzrange(scheduled_start, scheduled_end)`` (half-open, so back-to-back slots are allowed;
btree_gist provides ``=`` on the bench id). SQLite: BEFORE INSERT / UPDATE triggers that abort
with :data:`OVERLAP_MESSAGE`. The status lists are spelled out here, frozen with this revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OVERLAP_CONSTRAINT = "ex_bookings_no_bench_overlap"
OVERLAP_MESSAGE = "benchbot: bench double booking refused"
_HOLDING = "'scheduled', 'running'"
_OVERLAP_WHERE = f"""
    SELECT RAISE(ABORT, '{OVERLAP_MESSAGE}')
    WHERE EXISTS (
        SELECT 1 FROM bookings AS other
        WHERE other.scheduled_bench_id = NEW.scheduled_bench_id
          AND other.status IN ({_HOLDING})
          AND other.id IS NOT NEW.id
          AND other.scheduled_start < NEW.scheduled_end
          AND NEW.scheduled_start < other.scheduled_end);"""
_SQLITE_TRIGGERS = {
    "trg_bookings_no_overlap_insert": "BEFORE INSERT ON bookings",
    "trg_bookings_no_overlap_update": "BEFORE UPDATE OF scheduled_bench_id, scheduled_start, "
                                      "scheduled_end, status ON bookings",
}


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _fk(column: str, target: str, table: str, ondelete: str | None = None
        ) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], ondelete=ondelete,
                                   name=op.f(f"fk_{table}_{column}_{target}"))


def _check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def upgrade() -> None:
    _create_directory_tables()
    _create_booking_tables()
    _create_no_overlap_guard()


def _create_directory_tables() -> None:
    op.create_table(
        "benches", _id(),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("capabilities", _json(), nullable=False),
        sa.Column("instruments", _json(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"), _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benches")),
        sa.UniqueConstraint("name", name=op.f("uq_benches_name")))
    op.create_table(
        "catalogue_entries", _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("plan_file_name", sa.String(255), nullable=False),
        sa.Column("plan_text", sa.Text(), nullable=False),
        sa.Column("required_capabilities", _json(), nullable=False),
        sa.Column("duration_estimate_min", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"), _time("updated_at"),
        _check("catalogue_entries", "duration_positive", "duration_estimate_min > 0"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_entries")),
        sa.UniqueConstraint("name", name=op.f("uq_catalogue_entries_name")))
    op.create_table(
        "organisations", _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _time("created_at"),
        _check("organisations", "kind", "kind IN ('customer', 'lab')"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("name", name=op.f("uq_organisations_name")))
    op.create_index("uq_organisations_one_lab", "organisations", ["kind"], unique=True,
                    sqlite_where=sa.text("kind = 'lab'"),
                    postgresql_where=sa.text("kind = 'lab'"))
    op.create_table(
        "users", _id(),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _time("created_at"),
        _check("users", "role", "role IN ('customer', 'engineer', 'admin')"),
        _fk("organisation_id", "organisations", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")))
    op.create_index(op.f("ix_users_organisation_id"), "users", ["organisation_id"])
    op.create_table(
        "audit_log", _id(),
        _time("at"),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("object_type", sa.String(50), nullable=True),
        sa.Column("object_id", sa.Integer(), nullable=True),
        sa.Column("detail", _json(), nullable=False),
        _fk("organisation_id", "organisations", "audit_log", ondelete="SET NULL"),
        _fk("user_id", "users", "audit_log", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")))
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"])
    op.create_index("ix_audit_log_organisation_at", "audit_log", ["organisation_id", "at"])


def _create_booking_tables() -> None:
    op.create_table(
        "bookings", _id(),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=False),
        sa.Column("catalogue_entry_id", sa.Integer(), nullable=False),
        sa.Column("dut_description", sa.Text(), nullable=False),
        sa.Column("dut_quantity", sa.Integer(), nullable=False),
        _time("requested_start"), _time("requested_end"),
        sa.Column("scheduled_bench_id", sa.Integer(), nullable=True),
        _time("scheduled_start", True), _time("scheduled_end", True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        _time("created_at"), _time("updated_at"),
        *(_time(name, True) for name in ("confirmed_at", "scheduled_at", "started_at",
                                         "ended_at", "cancelled_at")),
        _check("bookings", "status", "status IN ('requested', 'confirmed', 'scheduled', "
               "'running', 'completed', 'failed', 'cancelled')"),
        _check("bookings", "slotted_status_has_slot", "status NOT IN ('scheduled', 'running', "
               "'completed', 'failed') OR scheduled_bench_id IS NOT NULL"),
        _check("bookings", "slot_complete",
               "(scheduled_bench_id IS NULL AND scheduled_start IS NULL AND scheduled_end IS NULL)"
               " OR (scheduled_bench_id IS NOT NULL AND scheduled_start IS NOT NULL"
               " AND scheduled_end IS NOT NULL AND scheduled_end > scheduled_start)"),
        _check("bookings", "dut_quantity_positive", "dut_quantity > 0"),
        _check("bookings", "requested_window_order", "requested_end > requested_start"),
        _fk("catalogue_entry_id", "catalogue_entries", "bookings"),
        _fk("created_by_user_id", "users", "bookings"),
        _fk("organisation_id", "organisations", "bookings"),
        _fk("scheduled_bench_id", "benches", "bookings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")))
    op.create_index("ix_bookings_bench_slot", "bookings", ["scheduled_bench_id", "scheduled_start"])
    op.create_index(op.f("ix_bookings_organisation_id"), "bookings", ["organisation_id"])
    _create_jobs_and_runs()


def _create_jobs_and_runs() -> None:
    open_states = sa.text("state IN ('queued', 'claimed', 'running', 'needs_decision')")
    op.create_table(
        "jobs", _id(),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("bench_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(200), nullable=True),
        _time("lease_until", True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("progress_fraction", sa.Float(), nullable=True),
        sa.Column("progress_step", sa.String(200), nullable=True),
        sa.Column("progress_message", sa.Text(), nullable=True),
        _time("progress_updated_at", True),
        sa.Column("retry_of_job_id", sa.Integer(), nullable=True),
        sa.Column("state_reason", sa.Text(), nullable=True),
        _time("created_at"),
        *(_time(name, True) for name in ("claimed_at", "started_at", "ended_at")),
        _check("jobs", "state", "state IN ('queued', 'claimed', 'running', 'completed', "
               "'failed', 'aborted', 'lost', 'needs_decision')"),
        _check("jobs", "progress_fraction_range", "progress_fraction IS NULL OR "
               "(progress_fraction >= 0 AND progress_fraction <= 1)"),
        _fk("bench_id", "benches", "jobs"),
        _fk("booking_id", "bookings", "jobs"),
        _fk("retry_of_job_id", "jobs", "jobs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")))
    op.create_index("ix_jobs_bench_state", "jobs", ["bench_id", "state"])
    op.create_index(op.f("ix_jobs_booking_id"), "jobs", ["booking_id"])
    op.create_index("uq_jobs_one_open_per_booking", "jobs", ["booking_id"], unique=True,
                    sqlite_where=open_states, postgresql_where=open_states)
    op.create_table(
        "runs", _id(),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("record_path", sa.String(1000), nullable=True),
        sa.Column("record_sha256", sa.String(64), nullable=True),
        sa.Column("record_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("report_html_path", sa.String(1000), nullable=True),
        sa.Column("report_pdf_path", sa.String(1000), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _time("created_at"), _time("updated_at"),
        _check("runs", "status",
               "status IN ('running', 'completed', 'aborted', 'error', 'interrupted')"),
        _check("runs", "verdict", "verdict IS NULL OR verdict IN "
               "('pass', 'marginal', 'fail', 'error', 'aborted')"),
        _check("runs", "record_sha256_length",
               "record_sha256 IS NULL OR length(record_sha256) = 64"),
        _check("runs", "record_size_non_negative",
               "record_size_bytes IS NULL OR record_size_bytes >= 0"),
        _fk("job_id", "jobs", "runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("job_id", name=op.f("uq_runs_job_id")))


def _create_no_overlap_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            f"ALTER TABLE bookings ADD CONSTRAINT {OVERLAP_CONSTRAINT} EXCLUDE USING gist "
            "(scheduled_bench_id WITH =, tstzrange(scheduled_start, scheduled_end) WITH &&) "
            f"WHERE (status IN ({_HOLDING}))")
        return
    for name, when in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} "
                   f"WHEN NEW.status IN ({_HOLDING}) BEGIN {_OVERLAP_WHERE} END")


def downgrade() -> None:
    """Drop everything ``upgrade`` made, except the btree_gist extension (database-wide, other
    schemas may use it; harmless to keep)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE bookings DROP CONSTRAINT {OVERLAP_CONSTRAINT}")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    for table in ("runs", "jobs", "bookings", "audit_log", "users", "organisations",
                  "catalogue_entries", "benches"):
        op.drop_table(table)  # drops the table's indexes with it
