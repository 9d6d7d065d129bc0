"""The job queue as bench agents see it, on SQLite and PostgreSQL: atomic claims under racing
agents, due slots, leases that expire into an engineer's decision (never back to the queue),
cancel, the outcomes of a finished run, agent tokens."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy import select

from benchbot.service import agent_jobs
from benchbot.service.agent_jobs import (
    LeaseLost,
    claim_next_job,
    finish_job,
    heartbeat,
    queue_due_jobs,
    report_progress,
    sweep,
)
from benchbot.service.agent_tokens import (
    TOKEN_PREFIX,
    create_token,
    identify,
    revoke_token,
)
from benchbot.service.auth import secret_sha256
from benchbot.service.db import Database
from benchbot.service.decisions import decide_lost_job
from benchbot.service.errors import InvalidInput, StateConflict
from benchbot.service.models import AgentToken, AuditEntry, Job
from benchbot.service.scheduling import cancel_booking
from benchbot.service.states import JobState
from tests.service._agent_helpers import (
    BenchAgent,
    add_bench,
    after,
    bench_agent,
    booking,
    scheduled_booking,
)
from tests.service._helpers import Lab, all_at_once, hour

LEASE_S = 30.0


def _job(db: Database, job_id: int) -> Job:
    with db.session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _open_job_id(db: Database, booking_id: int) -> int:
    with db.session() as session:
        return session.scalars(select(Job.id).where(
            Job.booking_id == booking_id, Job.state == JobState.QUEUED.value)).one()


def _start(db: Database, agent: BenchAgent, name: str, job_id: int, at: datetime) -> None:
    report_progress(db, agent.identity, name, job_id, step=None, fraction=0.0,
                    message="starting", now=at)


def test_racing_agents_claim_each_job_exactly_once(db: Database, lab: Lab) -> None:
    """Four agents per bench on three benches claim at once, round after round: each round
    hands out exactly one job per bench (a bench runs one job at a time), oldest slot first,
    and no job twice."""
    benches = {lab.bench_name: lab.bench_id}
    for name in ("fixture-bench-2", "fixture-bench-3"):
        benches[name] = add_bench(db, name, ["vna", "test_fixture_x"])
    slots = {name: [scheduled_booking(db, lab, h, bench_id)[0] for h in (0, 1)]
             for name, bench_id in benches.items()}
    agents = {name: bench_agent(db, name) for name in benches}
    at = hour(3)  # every slot above has started
    claimed: list[int] = []
    for round_ in range(3):
        round_claims = _race(db, agents, at)
        if round_ == 2:
            assert round_claims == []  # every job handed out: nothing left to claim
            break
        assert sorted(bench for bench, _, _ in round_claims) == sorted(agents)
        for bench, name, job_id in round_claims:
            job = _job(db, job_id)
            assert (job.state, job.agent_id, job.bench_id) == ("claimed", name, benches[bench])
            assert job.booking_id == slots[bench][round_]  # the oldest slot first
            finish_job(db, agents[bench].identity, name, job_id, status="error",
                       verdict="error", error="test: bench released", now=at)
            claimed.append(job_id)
    assert len(claimed) == len(set(claimed)) == 6


def _race(db: Database, agents: dict[str, BenchAgent], at: datetime
          ) -> list[tuple[str, str, int]]:
    """Four agents per bench claim at the same moment: (bench, agent, job) of each win."""
    barrier, lock = threading.Barrier(4 * len(agents)), threading.Lock()
    wins: list[tuple[str, str, int]] = []

    def claim(bench: str, name: str) -> None:
        barrier.wait()
        job = claim_next_job(db, agents[bench].identity, name, LEASE_S, now=at)
        if job is not None:
            with lock:
                wins.append((bench, name, job.job_id))

    all_at_once(claim, ((bench, f"{bench}/agent-{i}") for bench in agents for i in range(4)))
    return wins


def test_a_job_is_handed_out_once_its_slot_has_started(db: Database, lab: Lab) -> None:
    agent = bench_agent(db, lab.bench_name)
    booking_id, start = scheduled_booking(db, lab, 2)
    assert claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=after(start, -60)) is None
    job = claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=start)
    assert job is not None and job.booking_id == booking_id
    assert job.plan_text == "schema: benchbot.plan/1\n"
    assert job.booking_public_id == booking(db, booking_id).public_id
    assert booking(db, booking_id).status == "scheduled"  # running once the agent starts
    _start(db, agent, "pc/1", job.job_id, after(start, 1))
    assert booking(db, booking_id).status == "running"
    assert _job(db, job.job_id).state == "running"


def test_an_expired_lease_waits_for_a_decision_and_never_requeues(db: Database,
                                                                  lab: Lab) -> None:
    agent = bench_agent(db, lab.bench_name)
    first, start = scheduled_booking(db, lab, 0)
    second, _ = scheduled_booking(db, lab, 1)
    job = claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=start)
    assert job is not None and job.booking_id == first
    _start(db, agent, "pc/1", job.job_id, after(start, 1))
    beat = heartbeat(db, agent.identity, "pc/1", job.job_id, LEASE_S, now=after(start, 10))
    assert beat.lease_until == after(start, 10 + LEASE_S) and not beat.cancel_requested

    late = after(start, 90)  # second's slot has started too
    assert sweep(db, after(start, 39)) == ([], [])  # within the lease: nothing
    assert sweep(db, late) == ([job.job_id], [])
    lost = _job(db, job.job_id)
    assert lost.state == "needs_decision" and "lease expired" in (lost.state_reason or "")
    assert booking(db, first).status == "running"
    told = booking(db, first).status_reason or ""  # the customer's words: no lab internals
    assert "engineer" in told and "pc/1" not in told and str(job.job_id) not in told
    # never handed out again, and the bench stays busy (the DUT may still be powered)
    assert claim_next_job(db, agent.identity, "pc/2", LEASE_S, now=late) is None
    for call in (lambda: heartbeat(db, agent.identity, "pc/1", job.job_id, LEASE_S, now=late),
                 lambda: _start(db, agent, "pc/1", job.job_id, late),
                 lambda: finish_job(db, agent.identity, "pc/1", job.job_id, status="completed",
                                    verdict="pass", now=late)):
        with pytest.raises(LeaseLost, match="needs_decision"):
            call()
    assert _job(db, job.job_id).state == "needs_decision"
    with db.session() as session:
        assert session.scalars(select(AuditEntry.action).where(
            AuditEntry.object_id == job.job_id, AuditEntry.object_type == "job")).all() == [
            "job.claim", "job.lost"]

    retried, new = decide_lost_job(db, actor_id=lab.engineer_id, job_id=job.job_id,
                                   decision="retry", reason="DUT found unpowered", now=late)
    assert retried.state == "lost" and new is not None
    again = claim_next_job(db, agent.identity, "pc/2", LEASE_S, now=late)
    assert again is not None and again.job_id == new.id and again.booking_id == first
    assert _job(db, new.id).retry_of_job_id == job.job_id
    assert _open_job_id(db, second) != new.id  # the second booking waits its turn


def test_a_late_heartbeat_finds_its_lease_lost(db: Database, lab: Lab) -> None:
    """Between the lease's end and the next sweep, the agent's own call ends the lease."""
    agent = bench_agent(db, lab.bench_name)
    _, start = scheduled_booking(db, lab, 0)
    job = claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=start)
    assert job is not None
    with pytest.raises(LeaseLost, match="the lease expired at"):
        heartbeat(db, agent.identity, "pc/1", job.job_id, LEASE_S, now=after(start, 31))
    assert _job(db, job.job_id).state == "needs_decision"  # committed, not rolled back


def test_another_agent_process_cannot_report_on_the_job(db: Database, lab: Lab) -> None:
    agent = bench_agent(db, lab.bench_name)
    _, start = scheduled_booking(db, lab, 0)
    job = claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=start)
    assert job is not None
    with pytest.raises(LeaseLost, match="claimed by pc/1"):
        heartbeat(db, agent.identity, "pc/2", job.job_id, LEASE_S, now=start)
    with pytest.raises(InvalidInput, match="agent: name the agent process"):
        heartbeat(db, agent.identity, " ", job.job_id, LEASE_S, now=start)


def test_cancel_of_a_running_job_reaches_the_agent(db: Database, lab: Lab) -> None:
    agent = bench_agent(db, lab.bench_name)
    booking_id, start = scheduled_booking(db, lab, 0)
    job = claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=start)
    assert job is not None
    _start(db, agent, "pc/1", job.job_id, start)
    report_progress(db, agent.identity, "pc/1", job.job_id, step="sweep", fraction=0.25,
                    message="step 1/1 sweep", now=after(start, 2))
    cancel_booking(db, actor_id=lab.customer_a, booking_id=booking_id, reason="wrong DUT",
                   now=after(start, 3))
    assert booking(db, booking_id).status == "running"  # until the agent has aborted
    assert heartbeat(db, agent.identity, "pc/1", job.job_id, LEASE_S,
                     now=after(start, 4)).cancel_requested
    done = finish_job(db, agent.identity, "pc/1", job.job_id, status="aborted",
                      verdict="aborted", error="cancelled by the lab", now=after(start, 5))
    assert (done.job_state, done.booking_status) == ("aborted", "cancelled")
    assert "safe state" in (booking(db, booking_id).status_reason or "")
    stored = _job(db, job.job_id)
    assert (stored.progress_step, stored.progress_fraction) == ("sweep", 0.25)
    assert stored.lease_until is None


def test_the_outcome_of_a_run_closes_job_and_booking(db: Database, lab: Lab) -> None:
    agent = bench_agent(db, lab.bench_name)

    def started(hour_: float) -> int:
        _, start = scheduled_booking(db, lab, hour_)
        job = claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=start)
        assert job is not None
        _start(db, agent, "pc/1", job.job_id, start)
        return job.job_id

    def finish(job_id: int, status: str, verdict: str) -> tuple[str, str]:
        at = after(_job(db, job_id).claimed_at, 5)  # within the lease
        done = finish_job(db, agent.identity, "pc/1", job_id, status=status, verdict=verdict,
                          error="Ctrl-C on the bench PC", now=at)
        return done.job_state, done.booking_status

    completed = started(0)  # the upload itself is the HTTP tests'
    with pytest.raises(StateConflict, match="upload the record before finishing"):
        finish(completed, "completed", "pass")
    assert finish(completed, "error", "error") == ("failed", "failed")
    # aborted without a cancel: an engineer decides (the booking stays running)
    assert finish(started(1), "aborted", "aborted") == ("needs_decision", "running")


@pytest.mark.parametrize(("status", "verdict", "field"), [
    ("completed", "error", "verdict"), ("aborted", "pass", "verdict"),
    ("running", "pass", "status"), ("done", "pass", "status")])
def test_an_outcome_that_does_not_hold_together_is_refused(status: str, verdict: str,
                                                           field: str) -> None:
    with pytest.raises(InvalidInput, match=f"^{field}: "):
        agent_jobs.checked_outcome(status, verdict)


def test_progress_is_checked(db: Database, lab: Lab) -> None:
    agent = bench_agent(db, lab.bench_name)
    _, start = scheduled_booking(db, lab, 0)
    job = claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=start)
    assert job is not None
    for fraction in (1.5, -0.1, float("nan")):
        with pytest.raises(InvalidInput, match="fraction: must be between 0 and 1"):
            report_progress(db, agent.identity, "pc/1", job.job_id, step=None,
                            fraction=fraction, message=None, now=start)
    with pytest.raises(InvalidInput, match="step: at most 200 characters"):
        report_progress(db, agent.identity, "pc/1", job.job_id, step="x" * 201, fraction=None,
                        message=None, now=start)


def test_a_due_scheduled_booking_without_a_job_gets_one(db: Database, lab: Lab) -> None:
    """A scheduled booking whose job was closed (not by a cancel) is queued again when its
    slot starts, linked to the previous job; one with an open job never is."""
    booking_id, start = scheduled_booking(db, lab, 0)
    other_id, _ = scheduled_booking(db, lab, 1)
    closed = _open_job_id(db, booking_id)
    with db.session() as session:
        session.get(Job, closed).change_state(JobState.ABORTED, start, "test")
    assert queue_due_jobs(db, after(start, -1)) == []
    (queued,) = queue_due_jobs(db, after(start, 3600 * 2))  # both slots started
    job = _job(db, queued)
    assert (job.booking_id, job.state, job.retry_of_job_id) == (booking_id, "queued", closed)
    assert _open_job_id(db, other_id) != queued
    assert queue_due_jobs(db, after(start, 3600 * 2)) == []


def test_agent_tokens_are_stored_hashed_and_can_be_revoked(db: Database, lab: Lab) -> None:
    with pytest.raises(InvalidInput, match="bench: no active bench 'no-such-bench'"):
        create_token(db, bench_name="no-such-bench")
    new = create_token(db, bench_name=lab.bench_name, label="bench PC 3")
    assert new.token.startswith(TOKEN_PREFIX) and len(new.token) > 40
    with db.session() as session:
        (row,) = session.scalars(select(AgentToken)).all()
        assert row.token_sha256 == secret_sha256(new.token) != new.token
        identity = identify(session, new.token)
        assert identity is not None and identity.bench_name == lab.bench_name
        assert identify(session, new.token[:-1]) is None
        assert identify(session, new.token[len(TOKEN_PREFIX):]) is None  # prefix required
    revoke_token(db, new.token_id)
    with db.session() as session:
        assert identify(session, new.token) is None
    local = create_token(db, bench_name=lab.bench_name, label="local", revoke_label=True)
    again = create_token(db, bench_name=lab.bench_name, label="local", revoke_label=True)
    with db.session() as session:
        assert identify(session, local.token) is None  # replaced by the newer one
        assert identify(session, again.token) is not None


def test_a_claimed_job_that_never_started(db: Database, lab: Lab) -> None:
    """Refused on the bench before it was touched: job and booking failed. Cancelled between
    claim and start: the booking is cancelled at once and the agent's start is refused."""
    agent = bench_agent(db, lab.bench_name)
    refused_id, start = scheduled_booking(db, lab, 0)
    job = claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=start)
    assert job is not None
    done = finish_job(db, agent.identity, "pc/1", job.job_id, status="error", verdict="error",
                      error="refused: supply voltage above the DUT's limit", now=start)
    assert (done.job_state, done.booking_status) == ("failed", "failed")
    assert "supply voltage" in (booking(db, refused_id).status_reason or "")

    cancelled_id, start = scheduled_booking(db, lab, 1)
    job = claim_next_job(db, agent.identity, "pc/1", LEASE_S, now=start)
    assert job is not None and job.booking_id == cancelled_id
    cancel_booking(db, actor_id=lab.customer_a, booking_id=cancelled_id, reason="not needed",
                   now=start)
    with pytest.raises(LeaseLost, match="is 'aborted': stop and do not run it again"):
        _start(db, agent, "pc/1", job.job_id, after(start, 1))
    assert booking(db, cancelled_id).status == "cancelled"
