"""The booking service's tables as SQLAlchemy 2.x typed ORM classes.

Times are timezone-aware UTC everywhere (:class:`UtcDateTime` refuses naive datetimes and
returns aware ones, also from SQLite). Status columns hold the values of
:mod:`benchbot.service.states`, guarded by CHECK constraints; status changes go through
:meth:`Booking.change_status` / :meth:`Job.change_state`, which call the one transition check.
The "no double booking" constraint (PostgreSQL exclusion constraint, SQLite triggers) lives in
the migrations, since it is DDL the ORM cannot express for both databases.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from benchbot.service.states import (
    OPEN_JOB_STATES,
    SLOTTED_STATUSES,
    BookingStatus,
    JobState,
    OrganisationKind,
    RunStatus,
    RunVerdict,
    SessionKind,
    UserRole,
    check_transition,
    sql_in,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


def new_public_id() -> str:
    """A random public id for a booking or a run (22 characters, 128 random bits): what the
    API shows instead of the sequential key, so ids cannot be enumerated or guessed."""
    return secrets.token_urlsafe(16)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime: naive input is refused (it is ambiguous), aware input is
    converted to UTC; SQLite stores it as naive UTC text (one fixed format, so text order is
    time order, which the overlap triggers rely on) and it comes back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give a timezone-aware time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JsonDocument,
                           list[str]: JsonDocument}


def _one_of(column: str, values: tuple[Any, ...], name: str) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({sql_in(values)})", name=name)


class Organisation(Base):
    """A customer SME, or the lab itself (exactly one organisation of kind ``lab``)."""

    __tablename__ = "organisations"
    __table_args__ = (
        _one_of("kind", tuple(OrganisationKind), "kind"),
        Index("uq_organisations_one_lab", "kind", unique=True,
              sqlite_where=text("kind = 'lab'"), postgresql_where=text("kind = 'lab'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organisation")


class User(Base):
    """A person: customers belong to a customer organisation, engineers and admins to the lab.
    ``email`` is stored lower-case and unique; ``password_hash`` is an argon2id hash."""

    __tablename__ = "users"
    __table_args__ = (_one_of("role", tuple(UserRole), "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="users")

    @property
    def is_staff(self) -> bool:
        """Engineers and admins (the lab's people) schedule and run bookings."""
        return self.role in (UserRole.ENGINEER, UserRole.ADMIN)


class CatalogueEntry(Base):
    """A bookable service: a test plan, the bench capabilities it needs, and its duration
    estimate per DUT (minutes)."""

    __tablename__ = "catalogue_entries"
    __table_args__ = (CheckConstraint("duration_estimate_min > 0", name="duration_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    plan_file_name: Mapped[str] = mapped_column(String(255))
    plan_text: Mapped[str] = mapped_column(Text)
    required_capabilities: Mapped[list[str]] = mapped_column(default=list)
    duration_estimate_min: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Bench(Base):
    """A bench: its capabilities (instrument classes, e.g. ``vna``) and instrument inventory
    (role → driver, resource, capabilities) as JSON."""

    __tablename__ = "benches"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    capabilities: Mapped[list[str]] = mapped_column(default=list)
    instruments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Booking(Base):
    """A customer's request for a catalogue service on their DUTs, and where and when it runs.

    The requested window is the customer's wish; the scheduled bench and slot are the lab's
    answer. Two slot-holding bookings (scheduled, running) never overlap on one bench: the
    database refuses it (see the initial migration).
    """

    __tablename__ = "bookings"
    __table_args__ = (
        Index("uq_bookings_public_id", "public_id", unique=True),
        _one_of("status", tuple(BookingStatus), "status"),
        CheckConstraint("dut_quantity > 0", name="dut_quantity_positive"),
        CheckConstraint("requested_end > requested_start", name="requested_window_order"),
        CheckConstraint(
            "(scheduled_bench_id IS NULL AND scheduled_start IS NULL AND scheduled_end IS NULL)"
            " OR (scheduled_bench_id IS NOT NULL AND scheduled_start IS NOT NULL"
            " AND scheduled_end IS NOT NULL AND scheduled_end > scheduled_start)",
            name="slot_complete"),
        CheckConstraint(f"status NOT IN ({sql_in(SLOTTED_STATUSES)}) "
                        "OR scheduled_bench_id IS NOT NULL", name="slotted_status_has_slot"),
        Index("ix_bookings_bench_slot", "scheduled_bench_id", "scheduled_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), default=new_public_id)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_by_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    catalogue_entry_id: Mapped[int] = mapped_column(ForeignKey("catalogue_entries.id"))
    dut_description: Mapped[str] = mapped_column(Text)
    dut_quantity: Mapped[int] = mapped_column(Integer)
    requested_start: Mapped[datetime]
    requested_end: Mapped[datetime]
    scheduled_bench_id: Mapped[int | None] = mapped_column(ForeignKey("benches.id"))
    scheduled_start: Mapped[datetime | None]
    scheduled_end: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=BookingStatus.REQUESTED.value)
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None]
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    organisation: Mapped[Organisation] = relationship()
    created_by: Mapped[User] = relationship()
    catalogue_entry: Mapped[CatalogueEntry] = relationship()
    scheduled_bench: Mapped[Bench | None] = relationship()
    jobs: Mapped[list[Job]] = relationship(back_populates="booking", order_by="Job.id")

    def change_status(self, new: BookingStatus, now: datetime | None = None,
                      reason: str | None = None) -> None:
        """Move to ``new`` (refused with IllegalTransition unless the state machine allows it)
        and stamp the matching timestamp."""
        check_transition("booking", self.id, self.status, new)
        at = now or utcnow()
        stamp = {BookingStatus.CONFIRMED: "confirmed_at", BookingStatus.SCHEDULED: "scheduled_at",
                 BookingStatus.RUNNING: "started_at", BookingStatus.COMPLETED: "ended_at",
                 BookingStatus.FAILED: "ended_at", BookingStatus.CANCELLED: "cancelled_at"}
        setattr(self, stamp[new], at)
        self.status = new.value
        self.status_reason = reason
        self.updated_at = at


class Job(Base):
    """One scheduled run of a booking on a bench, pulled by that bench's agent. At most one open
    job per booking (a partial unique index); a lost agent's job waits for an engineer."""

    __tablename__ = "jobs"
    __table_args__ = (
        _one_of("state", tuple(JobState), "state"),
        CheckConstraint("progress_fraction IS NULL OR "
                        "(progress_fraction >= 0 AND progress_fraction <= 1)",
                        name="progress_fraction_range"),
        Index("ix_jobs_bench_state", "bench_id", "state"),
        Index("uq_jobs_one_open_per_booking", "booking_id", unique=True,
              sqlite_where=text(f"state IN ({sql_in(OPEN_JOB_STATES)})"),
              postgresql_where=text(f"state IN ({sql_in(OPEN_JOB_STATES)})")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("bookings.id"), index=True)
    bench_id: Mapped[int] = mapped_column(ForeignKey("benches.id"))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    agent_id: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress_fraction: Mapped[float | None] = mapped_column(Float)
    progress_step: Mapped[str | None] = mapped_column(String(200))
    progress_message: Mapped[str | None] = mapped_column(Text)
    progress_updated_at: Mapped[datetime | None]
    retry_of_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    state_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]

    booking: Mapped[Booking] = relationship(back_populates="jobs")
    bench: Mapped[Bench] = relationship()
    run: Mapped[Run | None] = relationship(back_populates="job")

    def change_state(self, new: JobState, now: datetime | None = None,
                     reason: str | None = None) -> None:
        """Move to ``new`` (refused with IllegalTransition unless the state machine allows it)
        and stamp claimed/started/ended."""
        check_transition("job", self.id, self.state, new)
        at = now or utcnow()
        if new is JobState.CLAIMED:
            self.claimed_at = at
        elif new is JobState.RUNNING:
            self.started_at = at
        elif new in (JobState.COMPLETED, JobState.FAILED, JobState.ABORTED, JobState.LOST):
            self.ended_at = at
        self.state = new.value
        self.state_reason = reason


class Run(Base):
    """What a job produced: the HDF5 record (path, SHA-256, size), its reports, verdict and the
    record's status."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("uq_runs_public_id", "public_id", unique=True),
        _one_of("status", tuple(RunStatus), "status"),
        CheckConstraint(f"verdict IS NULL OR verdict IN ({sql_in(tuple(RunVerdict))})",
                        name="verdict"),
        CheckConstraint("record_size_bytes IS NULL OR record_size_bytes >= 0",
                        name="record_size_non_negative"),
        CheckConstraint("record_sha256 IS NULL OR length(record_sha256) = 64",
                        name="record_sha256_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), default=new_public_id)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    record_path: Mapped[str | None] = mapped_column(String(1000))
    record_sha256: Mapped[str | None] = mapped_column(String(64))
    record_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    report_html_path: Mapped[str | None] = mapped_column(String(1000))
    report_pdf_path: Mapped[str | None] = mapped_column(String(1000))
    verdict: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    job: Mapped[Job] = relationship(back_populates="run")


class AuditEntry(Base):
    """Who did what, when: kept when the user or organisation is deleted (ids set NULL)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_organisation_at", "organisation_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str | None] = mapped_column(String(50))
    object_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AgentToken(Base):
    """A bench agent's credential (migration 0003): it may pull and report the jobs of one
    bench, nothing else. Only the SHA-256 of the token is stored (the token is 256 random bits,
    so a fast hash is enough); a revoked token is refused."""

    __tablename__ = "agent_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    bench_id: Mapped[int] = mapped_column(ForeignKey("benches.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    bench: Mapped[Bench] = relationship()


class AuthSession(Base):
    """A signed-in browser session or an API client's bearer token. Only the SHA-256 of the
    secret the client holds is stored; the row ends at ``expires_at`` (absolute), after
    ``idle`` without use (browser sessions), or when revoked (logout, password change)."""

    __tablename__ = "auth_sessions"
    __table_args__ = (_one_of("kind", tuple(SessionKind), "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship()


class LoginThrottle(Base):
    """Consecutive failed logins per e-mail address (also one no account has, so the answer
    does not tell which exist), and until when further attempts are refused unchecked."""

    __tablename__ = "login_throttle"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
