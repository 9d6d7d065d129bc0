"""The bench agents' HTTP API over a real uvicorn server, on SQLite and PostgreSQL: who may
call it (a bench token, for that bench's jobs only), uploads checked by SHA-256 and stored in
the run's folder, and the run downloadable by its customer afterwards."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from benchbot.service.agent_api import AgentSettings
from benchbot.service.app import create_app
from benchbot.service.db import Database
from benchbot.service.models import Job, Run
from benchbot.service.run_files import run_directory
from benchbot.service.seed import ADMIN_EMAIL
from tests.service._agent_helpers import (
    BenchAgent,
    add_bench,
    bench_agent,
    booking,
    files_under,
    person_token,
    scheduled_booking,
    served,
    slot_starts_now,
)
from tests.service._helpers import ADMIN_PASSWORD, Lab


@pytest.fixture
def service(seeded_url: str, tmp_path: Path, lab: Lab) -> Iterator[str]:
    """The service on a loopback port (its data dir: tmp_path/data); no local agents."""
    app = create_app(seeded_url, data_dir=tmp_path / "data",
                     agents=AgentSettings(sweep_interval_s=0.2))
    with served(app) as url:
        yield url


def _agent(base_url: str, agent: BenchAgent | None, name: str = "pc/1") -> httpx.Client:
    headers = {"X-Benchbot-Agent": name}
    if agent is not None:
        headers["Authorization"] = f"Bearer {agent.token}"
    return httpx.Client(base_url=f"{base_url}/api/agent", headers=headers, timeout=30)


def _claimed_job(db: Database, lab: Lab, base_url: str) -> tuple[BenchAgent, int, int]:
    """A booking whose slot starts now, claimed and started over HTTP: (agent, job, booking)."""
    agent = bench_agent(db, lab.bench_name)
    booking_id, _ = scheduled_booking(db, lab, 0)
    slot_starts_now(db, booking_id)
    with _agent(base_url, agent) as client:
        reply = client.post("/claim")
        assert reply.status_code == 200, reply.text
        job_id = reply.json()["job_id"]
        assert client.post(f"/jobs/{job_id}/progress",
                           json={"fraction": 0.0, "message": "starting"}).status_code == 204
    return agent, job_id, booking_id


def test_agent_calls_need_a_token_of_that_bench(db: Database, lab: Lab, service: str) -> None:
    agent, job_id, _ = _claimed_job(db, lab, service)
    customer = person_token(service, "ann@alpha.example")
    engineer = person_token(service, "engineer@benchbot.local")
    refusals = {
        "no token": httpx.post(f"{service}/api/agent/claim"),
        "customer's token": httpx.post(f"{service}/api/agent/claim",
                                       headers={**customer, "X-Benchbot-Agent": "pc/1"}),
        "engineer's token": httpx.post(f"{service}/api/agent/jobs/{job_id}/heartbeat",
                                       headers={**engineer, "X-Benchbot-Agent": "pc/1"}),
        "agent token, other scheme": httpx.post(
            f"{service}/api/agent/claim",
            headers={"Authorization": f"Token {agent.token}", "X-Benchbot-Agent": "pc/1"}),
    }
    with httpx.Client(base_url=service) as browser:  # a customer's browser session (cookie)
        login = browser.post("/api/auth/login", json={"email": "ann@alpha.example",
                                                      "password": "test-user-password-4567"})
        assert login.status_code == 200
        refusals["customer's session cookie"] = browser.post(
            f"/api/agent/jobs/{job_id}/heartbeat",
            headers={"X-CSRF-Token": login.json()["csrf_token"], "X-Benchbot-Agent": "pc/1"})
    assert {k: r.status_code for k, r in refusals.items()} == dict.fromkeys(refusals, 401)
    assert "bench agent token" in refusals["no token"].json()["detail"]
    with _agent(service, agent, name="") as client:
        reply = client.post(f"/jobs/{job_id}/heartbeat")
        assert reply.status_code == 422 and reply.json()["field"] == "X-Benchbot-Agent"


def test_another_benchs_job_answers_like_a_missing_one(db: Database, lab: Lab,
                                                       service: str) -> None:
    agent, job_id, _ = _claimed_job(db, lab, service)
    add_bench(db, "other-bench", ["vna"])
    other = bench_agent(db, "other-bench")
    with _agent(service, other) as client:
        theirs = client.post(f"/jobs/{job_id}/heartbeat")
        missing = client.post("/jobs/999999/heartbeat")
        assert client.post("/claim").status_code == 204  # nothing of its own is due
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == {"detail": f"no job {job_id}"}
    with _agent(service, agent, name="pc/2") as client:  # same bench, not the claiming process
        reply = client.post(f"/jobs/{job_id}/heartbeat")
        assert reply.status_code == 409 and "claimed by" in reply.json()["detail"]
    with _agent(service, agent) as client:
        beat = client.post(f"/jobs/{job_id}/heartbeat").json()
        assert beat["cancel_requested"] is False and beat["lease_s"] == 30.0


def _upload(client: httpx.Client, job_id: int, record: bytes, digest: str,
            with_reports: bool = True) -> httpx.Response:
    files = {"record": ("run.h5", record, "application/x-hdf5")}
    headers = {"X-Record-SHA256": digest}
    if with_reports:
        files["report_html"] = ("run_report.html", b"<html>report</html>", "text/html")
        headers["X-Report-Html-SHA256"] = hashlib.sha256(b"<html>report</html>").hexdigest()
    return client.post(f"/jobs/{job_id}/upload", files=files, headers=headers,
                       data={"status": "completed", "verdict": "pass"})


def test_uploads_are_checked_stored_and_downloadable(db: Database, lab: Lab, service: str,
                                                     tmp_path: Path) -> None:
    agent, job_id, booking_id = _claimed_job(db, lab, service)
    record = b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4096  # ~1 MiB standing in for a record
    digest = hashlib.sha256(record).hexdigest()
    data_dir = tmp_path / "data"
    with _agent(service, agent) as client:
        bad = _upload(client, job_id, record, hashlib.sha256(b"other").hexdigest())
        assert bad.status_code == 422 and bad.json()["field"] == "X-Record-SHA256"
        assert "corrupted in transit" in bad.json()["detail"]
        missing = _upload(client, job_id, record, "")
        assert missing.status_code == 422 and missing.json()["field"] == "X-Record-SHA256"
        assert files_under(data_dir) == []  # nothing kept of a refused upload
        finish = client.post(f"/jobs/{job_id}/finish", json={"status": "completed",
                                                             "verdict": "pass"})
        assert finish.status_code == 409 and "upload the record" in finish.json()["detail"]

        stored = _upload(client, job_id, record, digest)
        assert stored.status_code == 200, stored.text
        run_id = stored.json()["run_public_id"]
        assert stored.json()["files"] == ["record.h5", "report.html"]
        again = _upload(client, job_id, record, digest, with_reports=False)
        assert again.status_code == 200 and again.json()["run_public_id"] == run_id
        finish = client.post(f"/jobs/{job_id}/finish", json={"status": "completed",
                                                             "verdict": "pass"})
        assert finish.json() == {"job_state": "completed", "booking_status": "completed",
                                 "reason": "run completed, verdict pass"}
        assert client.post(f"/jobs/{job_id}/heartbeat").status_code == 409  # closed: stop
    folder = run_directory(data_dir.resolve(), lab.org_a, run_id)
    assert (folder / "record.h5").read_bytes() == record
    assert files_under(data_dir) == [f"runs/{lab.org_a}/{run_id}/record.h5",
                                     f"runs/{lab.org_a}/{run_id}/report.html"]
    with db.session() as session:
        run = session.scalars(select(Run)).one()
        assert (run.record_sha256, run.record_size_bytes, run.status, run.verdict) == (
            digest, len(record), "completed", "pass")
        assert session.get(Job, job_id).state == "completed"
    assert booking(db, booking_id).status == "completed"

    customer = person_token(service, "ann@alpha.example")
    download = httpx.get(f"{service}/api/runs/{run_id}/record", headers=customer)
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == digest
    other = person_token(service, "bob@beta.example")
    assert httpx.get(f"{service}/api/runs/{run_id}/record", headers=other).status_code == 404


def test_admins_create_agent_tokens_others_may_not(lab: Lab, service: str) -> None:
    admin = person_token(service, ADMIN_EMAIL, ADMIN_PASSWORD)
    created = httpx.post(f"{service}/api/agent/tokens", headers=admin,
                         json={"bench": lab.bench_name, "label": "bench PC 7"})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    claim = httpx.post(f"{service}/api/agent/claim",
                       headers={"Authorization": f"Bearer {token}", "X-Benchbot-Agent": "pc/7"})
    assert claim.status_code == 204
    for email in ("engineer@benchbot.local", "ann@alpha.example"):
        refused = httpx.post(f"{service}/api/agent/tokens",
                             headers=person_token(service, email), json={"bench": lab.bench_name})
        assert refused.status_code == 403
    unknown = httpx.post(f"{service}/api/agent/tokens", headers=admin,
                         json={"bench": "no-such-bench"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "bench"


@pytest.mark.parametrize("kind", ["sqlite"], indirect=True)  # the CLI's side: one database
def test_agent_token_command_and_an_agent_the_service_refuses(seeded_url: str, lab: Lab,
                                                              service: str) -> None:
    made = subprocess.run(
        [sys.executable, "-m", "benchbot.cli", "agent-token", "--bench", lab.bench_name,
         "--label", "bench PC 3", "--database", seeded_url],
        capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("bba_") and "shown only now" in made.stderr
    claim = httpx.post(f"{service}/api/agent/claim", headers={
        "Authorization": f"Bearer {token}", "X-Benchbot-Agent": "pc/3"})
    assert claim.status_code == 204
    refused = subprocess.run(
        [sys.executable, "-m", "benchbot.cli", "agent", "--bench", "simulated-keysight",
         "--server", service, "--token", token + "x"],
        capture_output=True, text=True, timeout=60)
    assert refused.returncode == 3  # EXIT_INVALID: the service refuses the token
    assert "refused by the service" in refused.stderr and "401" in refused.stderr
