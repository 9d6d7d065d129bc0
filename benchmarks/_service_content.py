"""A booking service database with a lab's worth of history, for the load benchmark.

The database is migrated and seeded by the service's own code (lab, admin, the built-in
benches, the catalogue of shipped plans); then customer organisations, their users and a
year of bookings are written through the ORM in one transaction: completed, failed and
cancelled bookings with their jobs, runs and audit entries in the past, scheduled ones
(queued jobs) in the future, requested and confirmed ones waiting. Slots never overlap on a
bench (the database's own guard checks it). Finally one booking per bench is scheduled now
and claimed through the service's domain functions by a "load generator" agent holding a
bench agent token, so the agent heartbeat can be driven over HTTP.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from benchbot.service import agent_jobs, agent_tokens, queries, scheduling
from benchbot.service.db import Database
from benchbot.service.decisions import decide_lost_job
from benchbot.service.models import (
    AuditEntry,
    Bench,
    Booking,
    CatalogueEntry,
    Job,
    Organisation,
    Run,
    User,
    new_public_id,
    utcnow,
)
from benchbot.service.passwords import hash_password
from benchbot.service.seed import ADMIN_EMAIL, ADMIN_PASSWORD_ENV, seed_if_empty
from benchbot.service.states import BookingStatus, JobState, OrganisationKind, UserRole

ADMIN_PASSWORD = "load-benchmark-admin-0123"
USER_PASSWORD = "load-benchmark-user-4567"
AGENT_LABEL = "load generator"
CLAIM_LEASE_S = 3600.0
"""The seeded claim's lease: long enough for the server to start and the clients to sign in;
the first heartbeat over HTTP shortens it to the service's own lease (30 s)."""

# share of the history in each status (the rest of the bookings are requested)
_PAST = ((BookingStatus.COMPLETED, 0.60), (BookingStatus.FAILED, 0.04),
         (BookingStatus.CANCELLED, 0.10))
_FUTURE = ((BookingStatus.SCHEDULED, 0.12), (BookingStatus.CONFIRMED, 0.05))
_VERDICTS = ("pass",) * 8 + ("marginal", "fail")


@dataclass(frozen=True)
class ContentSize:
    """How much history to write."""

    organisations: int
    users_per_organisation: int
    bookings: int


@dataclass(frozen=True)
class Customer:
    email: str
    organisation_index: int


@dataclass(frozen=True)
class HeldJob:
    """A running job held by the load generator's agent on one bench: heartbeat it with
    ``Authorization: Bearer <token>`` and ``X-Benchbot-Agent: <agent_name>``."""

    bench: str
    job_id: int
    token: str
    agent_name: str


@dataclass(frozen=True)
class Content:
    """What the load generator needs to know about the seeded database."""

    customers: list[Customer]
    booking_ids_by_organisation: list[list[str]]
    catalogue_entry_ids: list[int]
    held_jobs: list[HeldJob]
    bookings_total: int


def seed_content(url: str, size: ContentSize, seed: int = 7) -> Content:
    """Migrate and seed the empty database at ``url``, then write the history (see module)."""
    rng = random.Random(seed)
    db = Database(url)
    try:
        db.upgrade()
        seed_if_empty(db, environ={ADMIN_PASSWORD_ENV: ADMIN_PASSWORD})
        with db.write_session() as session:
            history = _History(session, size, rng)
            content = history.write()
        held = [job for job in (_hold_running_job(db, bench, rng) for bench in history.benches)
                if job is not None]
        return Content(content.customers, content.booking_ids_by_organisation,
                       content.catalogue_entry_ids, held, content.bookings_total + len(held))
    finally:
        db.dispose()


class _History:
    """Writes organisations, users and bookings (with jobs, runs, audit) in one session."""

    def __init__(self, session: Session, size: ContentSize, rng: random.Random) -> None:
        self.session, self.size, self.rng = session, size, rng
        self.now = utcnow().replace(microsecond=0)
        self.benches: list[Bench] = list(session.scalars(select(Bench).order_by(Bench.name)))
        self.entries: list[CatalogueEntry] = list(session.scalars(
            select(CatalogueEntry).order_by(CatalogueEntry.id)))
        self.admin = session.scalars(select(User).where(User.email == ADMIN_EMAIL)).one()
        self.past_cursor = {b.id: self.now - timedelta(hours=1) for b in self.benches}
        self.future_cursor = {b.id: self.now + timedelta(days=1) for b in self.benches}

    def write(self) -> Content:
        password_hash = hash_password(USER_PASSWORD)  # one argon2id hash for every user
        organisations, users, customers = [], [], []
        for o in range(self.size.organisations):
            org = Organisation(name=f"Customer {o + 1:02d} RF GmbH",
                               kind=OrganisationKind.CUSTOMER.value,
                               created_at=self.now - timedelta(days=400))
            organisations.append(org)
            for u in range(self.size.users_per_organisation):
                email = f"user{u + 1:02d}@customer{o + 1:02d}.example"
                users.append(User(organisation=org, email=email, password_hash=password_hash,
                                  role=UserRole.CUSTOMER.value, display_name=f"User {u + 1}",
                                  created_at=org.created_at))
                customers.append(Customer(email, o))
        self.session.add_all([*organisations, *users])
        self.session.flush()
        ids: list[list[str]] = [[] for _ in organisations]
        bookings = []
        for i in range(self.size.bookings):
            o = i % len(organisations)
            creator = users[o * self.size.users_per_organisation
                            + self.rng.randrange(self.size.users_per_organisation)]
            booking = self._booking(organisations[o], creator, self._status())
            bookings.append(booking)
            ids[o].append(booking.public_id)
        self.session.flush()
        for booking in bookings:
            self._jobs_runs_audit(booking)
        self.session.flush()
        usable = [e.id for e in self.entries if self._capable(e)]
        return Content(customers, ids, usable, [], len(bookings))

    def _status(self) -> BookingStatus:
        x, edge = self.rng.random(), 0.0
        for status, share in (*_PAST, *_FUTURE):
            edge += share
            if x < edge:
                return status
        return BookingStatus.REQUESTED

    def _capable(self, entry: CatalogueEntry) -> list[Bench]:
        return [b for b in self.benches
                if set(entry.required_capabilities) <= set(b.capabilities)]

    def _booking(self, org: Organisation, creator: User, status: BookingStatus) -> Booking:
        entry = self.rng.choice([e for e in self.entries if self._capable(e)])
        quantity = self.rng.choice((1, 1, 1, 2, 3, 5))
        duration = scheduling.booking_duration(entry.duration_estimate_min, quantity)
        bench = self.rng.choice(self._capable(entry))
        slot: tuple[datetime, datetime] | None = None
        if status in (BookingStatus.COMPLETED, BookingStatus.FAILED):
            end = self.past_cursor[bench.id]
            slot = (end - duration, end)
            self.past_cursor[bench.id] = end - duration - timedelta(
                minutes=self.rng.randrange(0, 240))
        elif status is BookingStatus.SCHEDULED:
            start = self.future_cursor[bench.id]
            slot = (start, start + duration)
            self.future_cursor[bench.id] = start + duration + timedelta(
                minutes=self.rng.randrange(0, 240))
        if slot is not None:
            created = slot[0] - timedelta(days=self.rng.uniform(2, 30))
            window = (slot[0] - timedelta(days=1), slot[1] + timedelta(days=7))
        else:
            created = self.now - timedelta(days=self.rng.uniform(0.01, 300 if status is
                                                                 BookingStatus.CANCELLED else 5))
            start = self.now + timedelta(days=self.rng.uniform(3, 30))
            window = (start, start + timedelta(days=14))
        booking = Booking(
            public_id=new_public_id(), organisation=org, created_by=creator,
            catalogue_entry=entry, dut_quantity=quantity,
            dut_description=f"{entry.name} DUT, lot {self.rng.randrange(1000, 9999)}, "
                            f"{quantity} pcs",
            requested_start=window[0], requested_end=window[1],
            scheduled_bench=bench if slot else None,
            scheduled_start=slot[0] if slot else None, scheduled_end=slot[1] if slot else None,
            status=status.value, created_at=created, updated_at=created,
            status_reason="customer withdrew" if status is BookingStatus.CANCELLED else None)
        if status not in (BookingStatus.REQUESTED, BookingStatus.CANCELLED):
            booking.confirmed_at = created + timedelta(hours=2)
        if slot is not None:
            booking.scheduled_at = created + timedelta(hours=3)
            booking.updated_at = booking.scheduled_at
        if status in (BookingStatus.COMPLETED, BookingStatus.FAILED) and slot is not None:
            booking.started_at, booking.ended_at = slot
            booking.updated_at = slot[1]
        if status is BookingStatus.CANCELLED:
            booking.cancelled_at = booking.updated_at = created + timedelta(hours=1)
        self.session.add(booking)
        return booking

    def _jobs_runs_audit(self, b: Booking) -> None:
        actions = ["booking.request"]
        if b.confirmed_at is not None:
            actions.append("booking.confirm")
        if b.scheduled_at is not None:
            actions.append("booking.schedule")
        if b.status == BookingStatus.CANCELLED:
            actions.append("booking.cancel")
        for action in actions:
            self.session.add(AuditEntry(
                at=b.created_at, user_id=b.created_by_user_id if action == "booking.request"
                else self.admin.id, organisation_id=b.organisation_id, action=action,
                object_type="booking", object_id=b.id, detail={}))
        if b.scheduled_bench_id is None or b.scheduled_at is None:
            return
        job = Job(booking_id=b.id, bench_id=b.scheduled_bench_id, created_at=b.scheduled_at,
                  state=JobState.QUEUED.value)
        if b.status in (BookingStatus.COMPLETED, BookingStatus.FAILED):
            ok = b.status == BookingStatus.COMPLETED
            job.state = (JobState.COMPLETED if ok else JobState.FAILED).value
            job.agent_id = f"1:bench-pc-{b.scheduled_bench_id}/4711"
            job.claimed_at, job.started_at, job.ended_at = (b.started_at, b.started_at,
                                                            b.ended_at)
            job.progress_fraction, job.progress_updated_at = (1.0 if ok else 0.4), b.ended_at
            job.progress_step = "done" if ok else "power_sweep"
            job.run = Run(public_id=new_public_id(), status="completed" if ok else "error",
                          verdict=self.rng.choice(_VERDICTS) if ok else "error",
                          record_path=f"record-{b.id}.h5", record_sha256="0" * 64,
                          record_size_bytes=self.rng.randrange(200_000, 5_000_000),
                          report_html_path=f"report-{b.id}.html",
                          report_pdf_path=f"report-{b.id}.pdf", created_at=b.ended_at,
                          updated_at=b.ended_at)
        self.session.add(job)


def _hold_running_job(db: Database, bench: Bench, rng: random.Random) -> HeldJob | None:
    """Book, confirm and schedule a booking on ``bench`` starting now, and claim and start its
    job as a load-generator agent, through the service's own domain functions. None if no
    catalogue entry fits the bench."""
    now = utcnow()
    with db.write_session() as session:
        entry = next((e for e in session.scalars(select(CatalogueEntry).order_by(
            CatalogueEntry.id)) if set(e.required_capabilities) <= set(bench.capabilities)),
            None)
        if entry is None:
            return None
        customer = session.scalars(select(User).where(
            User.role == UserRole.CUSTOMER.value).order_by(User.id)).first()
        admin = session.scalars(select(User).where(User.email == ADMIN_EMAIL)).one()
        assert customer is not None
        booking = queries.request_booking(
            session, organisation_id=customer.organisation_id, user_id=customer.id,
            catalogue_entry_id=entry.id, dut_description=f"{entry.name} DUT on {bench.name}",
            dut_quantity=1, window_start=now, window_end=now + timedelta(days=2))
        booking_id, admin_id = booking.id, admin.id
    scheduling.confirm_booking(db, actor_id=admin_id, booking_id=booking_id)
    scheduling.schedule_booking(db, actor_id=admin_id, booking_id=booking_id,
                                bench_id=bench.id, start=now - timedelta(seconds=20))
    new = agent_tokens.create_token(db, bench_name=bench.name, label=AGENT_LABEL)
    with db.session() as session:
        identity = agent_tokens.identify(session, new.token)
    assert identity is not None
    agent_name = f"loadgen-{bench.name}/{rng.randrange(1000, 99999)}"
    agent_id = f"{identity.token_id}:{agent_name}"
    claimed = agent_jobs.claim_next_job(db, identity, agent_id, lease_s=CLAIM_LEASE_S)
    if claimed is None:
        raise RuntimeError(f"bench {bench.name}: the job scheduled now was not claimable")
    _start(db, identity, agent_id, claimed.job_id)
    return HeldJob(bench.name, claimed.job_id, new.token, agent_name)


def _start(db: Database, identity: agent_tokens.BenchAgentIdentity, agent_id: str,
           job_id: int) -> None:
    agent_jobs.report_progress(db, identity, agent_id, job_id, step="power_sweep",
                               fraction=0.1, message="load benchmark")


def hold_lost_jobs_again(db: Database, held: list[HeldJob]) -> list[str]:
    """Jobs of ``held`` whose lease ran out (the server answered too late for a whole lease:
    overload) get an engineer's ``retry`` and are claimed again by the same agent; ``held``
    is updated in place. Returns the benches concerned (normally none)."""
    agent_jobs.sweep(db)  # an expired lease becomes needs_decision now
    with db.session() as session:
        admin_id = session.scalars(select(User.id).where(User.email == ADMIN_EMAIL)).one()
        states = {j.id: j.state for j in session.scalars(
            select(Job).where(Job.id.in_([h.job_id for h in held])))}
    renewed = []
    for i, job in enumerate(held):
        if states.get(job.job_id) in (JobState.CLAIMED, JobState.RUNNING):
            continue
        decide_lost_job(db, actor_id=admin_id, job_id=job.job_id, decision="retry",
                        reason="load benchmark: the lease ran out under overload")
        with db.session() as session:
            identity = agent_tokens.identify(session, job.token)
        assert identity is not None
        agent_id = f"{identity.token_id}:{job.agent_name}"
        claimed = agent_jobs.claim_next_job(db, identity, agent_id, lease_s=CLAIM_LEASE_S)
        if claimed is None:
            raise RuntimeError(f"bench {job.bench}: the retried job was not claimable")
        _start(db, identity, agent_id, claimed.job_id)
        held[i] = HeldJob(job.bench, claimed.job_id, job.token, job.agent_name)
        renewed.append(job.bench)
    return renewed

