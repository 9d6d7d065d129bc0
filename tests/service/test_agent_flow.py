"""The whole flow on one machine: a real uvicorn server on a loopback port and a real
``benchbot agent`` process on the built-in simulated bench (the full flow on SQLite and
PostgreSQL; cancel, kill and Ctrl-C on one database each -- their database side runs on both
in test_agent_jobs.py -- and `benchbot serve` with its own agents).

Booked → scheduled → claimed → run with its progress visible through the API → record and
reports uploaded (SHA-256 checked) → booking completed, run downloadable by its customer.
A running job cancelled by the lab aborts through the engine's safe state and its record says
so. An agent killed mid-run (SIGKILL) loses its job to an engineer's decision once the lease
runs out, never back to the queue.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from benchbot.bench import BUILTIN_BENCHES
from benchbot.results.reader import open_record
from benchbot.service.agent_api import AgentSettings
from benchbot.service.agent_tokens import LOCAL_AGENT_LABEL, create_token
from benchbot.service.app import create_app
from benchbot.service.db import Database
from benchbot.service.models import AgentToken, utcnow
from benchbot.service.seed import ADMIN_EMAIL, ADMIN_PASSWORD_ENV
from tests.service._agent_helpers import free_port, person_token, served, wait_for
from tests.service._helpers import ADMIN_PASSWORD, Lab, make_lab

DATA = Path(__file__).resolve().parents[1] / "data"
BENCH = "simulated-keysight"
LEASE_S = 4.0


@dataclass
class Lab4Agents:
    """The service, the people's API tokens, and where things land on disk."""

    url: str
    db: Database
    admin: dict[str, str]
    engineer: dict[str, str]
    customer: dict[str, str]
    tmp: Path
    http: httpx.Client

    def get(self, path: str, who: dict[str, str]) -> Any:
        reply = self.http.get(path, headers=who)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def post(self, path: str, who: dict[str, str], body: dict | None = None) -> Any:
        reply = self.http.post(path, headers=who, json=body)
        assert reply.status_code in (200, 201), reply.text
        return reply.json()


@pytest.fixture
def service(seeded_url: str, db: Database, lab: Lab, tmp_path: Path) -> Iterator[Lab4Agents]:
    app = create_app(seeded_url, data_dir=tmp_path / "data",
                     agents=AgentSettings(lease_s=LEASE_S, sweep_interval_s=0.25))
    with served(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Lab4Agents(url, db, person_token(url, ADMIN_EMAIL, ADMIN_PASSWORD),
                         person_token(url, "engineer@benchbot.local"),
                         person_token(url, "ann@alpha.example"), tmp_path, http)


def _book_now(s: Lab4Agents, plan: Path) -> str:
    """The customer books the plan; the engineer confirms and schedules it on the simulated
    bench from now: the booking's public id."""
    entry = s.post("/api/catalogue", s.admin, {
        "name": plan.stem, "plan_file_name": plan.name, "duration_estimate_min": 10,
        "plan_text": plan.read_text(encoding="utf-8")})
    now = utcnow()
    booking = s.post("/api/bookings", s.customer, {
        "catalogue_entry_id": entry["id"], "dut_description": "BB-PA-N78-01 s/n 17, EVB rev B",
        "dut_quantity": 1, "window_start": now.isoformat(),
        "window_end": (now + timedelta(days=1)).isoformat()})
    s.post(f"/api/bookings/{booking['id']}/confirm", s.engineer)
    bench = next(b for b in s.get("/api/benches", s.engineer) if b["name"] == BENCH)
    scheduled = s.post(f"/api/bookings/{booking['id']}/schedule", s.engineer,
                       {"bench_id": bench["id"], "start": utcnow().isoformat()})
    assert scheduled["status"] == "scheduled" and scheduled["jobs"][0]["state"] == "queued"
    return booking["id"]


@pytest.fixture
def agent(service: Lab4Agents) -> Iterator[subprocess.Popen[str]]:
    """A real agent process for the simulated bench (its output: agent.log)."""
    token = create_token(service.db, bench_name=BENCH, label="test agent").token
    log = (service.tmp / "agent.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "benchbot.cli", "agent", "--bench", BENCH, "--server",
         service.url, "--poll-s", "0.2", "--results-dir", str(service.tmp / "agent")],
        env={**os.environ, "BENCHBOT_AGENT_TOKEN": token}, stdout=log, stderr=log, text=True)
    yield process
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=60)
    log.close()


def _watch(s: Lab4Agents, booking_id: str, done: Callable[[list[dict]], bool]) -> list[dict]:
    """The booking as its customer sees it, polled until ``done(what was seen)``."""
    seen: list[dict] = []

    def reached() -> bool:
        seen.append(s.get(f"/api/bookings/{booking_id}", s.customer))
        return done(seen)

    wait_for(reached, timeout_s=120, every_s=0.1)
    return seen


def _ended(seen: list[dict]) -> bool:
    return seen[-1]["status"] in ("completed", "failed", "cancelled")


def _running(seen: list[dict]) -> list[dict]:
    """The job as seen while the run was measuring (progress between start and end)."""
    return [b["jobs"][-1] for b in seen if b["status"] == "running"
            and 0 < (b["jobs"][-1]["progress_fraction"] or 0) < 1]


def _agent_log(s: Lab4Agents) -> str:
    return (s.tmp / "agent.log").read_text(encoding="utf-8")


def test_booking_to_downloadable_run(service: Lab4Agents,
                                     agent: subprocess.Popen[str]) -> None:
    s = service
    booking_id = _book_now(s, DATA / "agent_plan.yaml")
    seen = _watch(s, booking_id, _ended)
    final = seen[-1]
    assert final["status"] == "completed", _agent_log(s)
    running = _running(seen)
    assert running, "no progress seen while the run measured"
    assert {j["progress_step"] for j in running} == {"centre"}
    fractions = [j["progress_fraction"] for j in running]
    assert fractions == sorted(fractions)
    (job,) = final["jobs"]
    assert job["state"] == "completed" and job["run_id"]

    run = s.get(f"/api/runs/{job['run_id']}", s.customer)
    assert (run["status"], run["verdict"], run["booking_id"]) == ("completed", "pass",
                                                                  booking_id)
    assert run["record_available"] and run["report_html_available"] \
        and run["report_pdf_available"]
    record = httpx.get(f"{s.url}/api/runs/{run['id']}/record", headers=s.customer)
    assert hashlib.sha256(record.content).hexdigest() == run["record_sha256"]
    (local,) = (s.tmp / "agent").rglob("*.h5")  # what the agent measured, on the bench PC
    assert hashlib.sha256(local.read_bytes()).hexdigest() == run["record_sha256"]
    assert open_record(local).status == "completed"
    pdf = httpx.get(f"{s.url}/api/runs/{run['id']}/report.pdf", headers=s.customer)
    html = httpx.get(f"{s.url}/api/runs/{run['id']}/report.html", headers=s.customer)
    assert pdf.content.startswith(b"%PDF") and b"agent-short-sweep" in html.content
    assert agent.poll() is None  # the agent goes on pulling


@pytest.mark.parametrize("kind", ["sqlite"], indirect=True)  # the database side: test_agent_jobs
def test_cancel_aborts_the_run_through_the_safe_state(service: Lab4Agents,
                                                      agent: subprocess.Popen[str]) -> None:
    s = service
    booking_id = _book_now(s, DATA / "agent_long_plan.yaml")
    _watch(s, booking_id, lambda seen: bool(_running(seen)))
    s.post(f"/api/bookings/{booking_id}/cancel", s.engineer,
           {"reason": "the customer's DUT was recalled"})
    seen = _watch(s, booking_id, _ended)
    final = seen[-1]
    assert final["status"] == "cancelled", _agent_log(s)
    (job,) = final["jobs"]
    assert job["state"] == "aborted" and job["cancel_requested"] and job["run_id"]
    run = s.get(f"/api/runs/{job['run_id']}", s.customer)
    assert (run["status"], run["verdict"]) == ("aborted", "aborted")
    path = s.tmp / "aborted.h5"
    path.write_bytes(httpx.get(f"{s.url}/api/runs/{run['id']}/record",
                               headers=s.customer).content)
    summary = open_record(path)
    assert summary.status == "aborted"
    events = [e["message"] for e in summary.events]
    assert "run aborted: cancelled by the lab (booking cancel)" in events
    for role in ("signal_generator", "dc_supply"):
        assert f"safe state: {role} outputs off (read back)" in events
    assert summary.steps[0].status == "aborted"
    assert agent.poll() is None


@pytest.mark.parametrize("kind", ["postgresql"], indirect=True)  # both: test_agent_jobs
def test_a_killed_agent_leaves_its_job_to_an_engineer(service: Lab4Agents,
                                                      agent: subprocess.Popen[str]) -> None:
    s = service
    booking_id = _book_now(s, DATA / "agent_long_plan.yaml")
    before = _watch(s, booking_id, lambda seen: bool(_running(seen)))
    agent.send_signal(signal.SIGKILL)
    agent.wait(timeout=30)
    after = _watch(s, booking_id, lambda seen: seen[-1]["jobs"][-1]["state"] != "running")
    assert after[-1]["jobs"][-1]["state"] == "needs_decision"
    assert after[-1]["status"] == "running"
    states = [b["jobs"][-1]["state"] for b in before + after]
    assert "queued" not in states[states.index("running"):]  # never back to the queue
    (job,) = s.get("/api/jobs?state=needs_decision", s.engineer)
    assert "lease expired" in job["state_reason"] and job["bench"] == BENCH
    # not handed out again: another agent of the bench finds nothing to do
    token = create_token(s.db, bench_name=BENCH, label="second agent").token
    claim = httpx.post(f"{s.url}/api/agent/claim", headers={
        "Authorization": f"Bearer {token}", "X-Benchbot-Agent": "pc/2"})
    assert claim.status_code == 204
    decided = s.post(f"/api/jobs/{job['id']}/decision", s.engineer,
                     {"decision": "fail", "reason": "DUT found powered: fixture inspected"})
    assert decided["job"]["state"] == "lost" and decided["booking"]["status"] == "failed"


@pytest.mark.parametrize("kind", ["sqlite"], indirect=True)  # the agent's side: one database
def test_ctrl_c_on_the_agent_aborts_safely_and_reports(service: Lab4Agents,
                                                       agent: subprocess.Popen[str]) -> None:
    s = service
    booking_id = _book_now(s, DATA / "agent_long_plan.yaml")
    _watch(s, booking_id, lambda seen: bool(_running(seen)))
    agent.send_signal(signal.SIGINT)
    assert agent.wait(timeout=120) == 5, _agent_log(s)  # EXIT_ABORTED, after reporting
    (job,) = s.get("/api/jobs?state=needs_decision", s.engineer)
    assert job["booking_id"] == booking_id and "agent stopped (Ctrl-C" in job["state_reason"]
    assert "record uploaded" in job["state_reason"]
    booking = s.get(f"/api/bookings/{booking_id}", s.customer)
    assert booking["status"] == "running"  # until an engineer decides
    run = s.get(f"/api/runs/{booking['jobs'][-1]['run_id']}", s.customer)
    assert (run["status"], run["verdict"]) == ("aborted", "aborted")
    (local,) = (s.tmp / "agent").rglob("*.h5")
    events = [e["message"] for e in open_record(local).events]
    assert "safe state: dc_supply outputs off (read back)" in events


def test_benchbot_serve_runs_its_own_agents(tmp_path: Path) -> None:
    """`benchbot serve` as a lab starts it: an agent per built-in simulated bench, so a
    booking runs with nothing else started; stopping the service stops them and revokes
    their tokens."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "benchbot.cli", "serve", "--port", str(port)], cwd=tmp_path,
        env={**os.environ, ADMIN_PASSWORD_ENV: ADMIN_PASSWORD}, stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.log").open("w"))
    try:
        wait_for(lambda: _answers(url), timeout_s=60, every_s=0.1)
        db = Database(tmp_path / "results" / "service" / "benchbot.sqlite3")
        make_lab(db)
        with httpx.Client(base_url=url, timeout=30) as http:
            s = Lab4Agents(url, db, person_token(url, ADMIN_EMAIL, ADMIN_PASSWORD),
                           person_token(url, "engineer@benchbot.local"),
                           person_token(url, "ann@alpha.example"), tmp_path, http)
            booking_id = _book_now(s, DATA / "agent_plan.yaml")
            final = _watch(s, booking_id, _ended)[-1]
        assert final["status"] == "completed", (tmp_path / "serve.log").read_text()
        with db.session() as session:
            tokens = session.scalars(select(AgentToken)).all()
        assert {t.label for t in tokens} == {LOCAL_AGENT_LABEL}
        assert len(tokens) == len(BUILTIN_BENCHES) and all(t.revoked_at is None for t in tokens)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    with db.session() as session:
        assert all(t.revoked_at is not None for t in session.scalars(select(AgentToken)))
    db.dispose()
    agents = [line for line in (tmp_path / "serve.log").read_text().splitlines()
              if "pulling from" in line]
    assert len(agents) == len(BUILTIN_BENCHES)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
