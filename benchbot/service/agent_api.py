"""The bench agents' HTTP API, ``/api/agent``: claim a job, heartbeat, progress, upload the
results, finish. Outbound from the bench PC only; no database credentials leave the service.

Every call carries ``Authorization: Bearer bba_…`` (a bench agent token: one bench's jobs,
nothing else; :mod:`benchbot.service.agent_tokens`) and ``X-Benchbot-Agent`` (the agent
process's name, e.g. ``benchpc-3/4711``): a job is held by the agent process that claimed it,
and only that process may report on it. A person's session or token is no agent token: 401.
Another bench's job answers 404 like a missing one. A job this agent no longer holds (lease
expired, cancelled before it started, closed) answers 409: the agent stops and never runs it
again. The rules behind the answers: :mod:`benchbot.service.agent_jobs`.

:func:`background` runs, for the app's lifetime, the sweeper (lost leases → needs_decision,
due jobs queued) and, in the default ``benchbot serve`` set-up, a local agent process for each
built-in simulated bench (:mod:`benchbot.service.local_agents`).
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from benchbot.service import agent_jobs, agent_tokens, agent_uploads
from benchbot.service.agent_jobs import DEFAULT_LEASE_S
from benchbot.service.agent_tokens import BenchAgentIdentity
from benchbot.service.api_deps import Admin, DataDir, Db
from benchbot.service.api_models import ErrorOut
from benchbot.service.db import Database
from benchbot.service.local_agents import LocalAgents

log = logging.getLogger(__name__)

AGENT_HEADER = "X-Benchbot-Agent"


@dataclass(frozen=True)
class AgentSettings:
    """The agent side of the service: lease length, sweep period, and the local agents
    (``local_agent_server_url`` None: none started)."""

    lease_s: float = DEFAULT_LEASE_S
    sweep_interval_s: float = 5.0
    local_agent_server_url: str | None = None
    local_agent_poll_s: float = 2.0


# --- request and response bodies ------------------------------------------------------------

class ClaimedJobOut(BaseModel):
    job_id: int
    booking_public_id: str
    bench: str
    catalogue_entry: str
    plan_file_name: str
    plan_text: str
    dut_description: str
    dut_quantity: int
    scheduled_start: datetime
    scheduled_end: datetime
    lease_until: datetime
    lease_s: float = Field(description="heartbeat well within this (every third of it)")


class HeartbeatOut(BaseModel):
    lease_until: datetime
    lease_s: float
    cancel_requested: bool = Field(description="abort through the safe state, then finish "
                                   "with status aborted")


class ProgressIn(BaseModel):
    step: str | None = Field(None, max_length=agent_jobs.MAX_STEP_CHARS)
    fraction: float | None = Field(None, ge=0.0, le=1.0, description="of the whole plan")
    message: str | None = Field(None, max_length=agent_jobs.MAX_MESSAGE_CHARS)


class FinishIn(BaseModel):
    status: str = Field(description="the record's final status: completed, error or aborted")
    verdict: str = Field(description="pass, marginal or fail (completed); error; aborted")
    error: str | None = Field(None, max_length=agent_jobs.MAX_MESSAGE_CHARS)


class FinishOut(BaseModel):
    job_state: str
    booking_status: str
    reason: str | None


class UploadOut(BaseModel):
    run_public_id: str
    record_sha256: str
    record_size_bytes: int
    files: list[str]


class AgentTokenIn(BaseModel):
    bench: str = Field(min_length=1, max_length=100, description="the bench's name")
    label: str = Field("", max_length=agent_tokens.MAX_LABEL_CHARS,
                       description="where it is used, e.g. the bench PC's name")


class AgentTokenOut(BaseModel):
    token_id: int
    bench: str
    token: str = Field(description="shown only in this answer (stored as its SHA-256)")


_ERRORS: dict[int | str, dict] = {
    401: {"model": ErrorOut, "description": "no valid bench agent token"},
    404: {"model": ErrorOut, "description": "no such job of this bench"},
    409: {"model": ErrorOut, "description": "the job is no longer this agent's: stop"},
    422: {"model": ErrorOut, "description": "bad input (names the field)"},
}


# --- who is calling -------------------------------------------------------------------------

@dataclass(frozen=True)
class AgentCall:
    identity: BenchAgentIdentity
    agent_id: str
    db: Database
    settings: AgentSettings


def _agent_call(request: Request,
                authorization: Annotated[str | None, Header()] = None,
                x_benchbot_agent: Annotated[str | None, Header(alias=AGENT_HEADER)] = None
                ) -> AgentCall:
    db: Database = request.app.state.db
    scheme, _, token = (authorization or "").partition(" ")
    identity = None
    if scheme.lower() == "bearer" and token.strip():
        with db.session() as session:
            identity = agent_tokens.identify(session, token.strip())
    if identity is None:
        raise HTTPException(401, "give a bench agent token: Authorization: Bearer bba_… "
                            "(benchbot agent-token --bench NAME)",
                            headers={"WWW-Authenticate": "Bearer"})
    name = agent_jobs.checked_agent_id(x_benchbot_agent, AGENT_HEADER)
    agent_id = f"{identity.token_id}:{name}"[:agent_jobs.MAX_AGENT_ID_CHARS]
    return AgentCall(identity, agent_id, db, request.app.state.agent_settings)


Agent = Annotated[AgentCall, Depends(_agent_call)]
router = APIRouter(prefix="/api/agent", tags=["bench agents"], responses=_ERRORS)


# --- endpoints ------------------------------------------------------------------------------

@router.post("/claim", response_model=ClaimedJobOut,
             responses={204: {"description": "no due job for this bench (or it is busy)"}})
def claim(agent: Agent) -> ClaimedJobOut | Response:
    """Claim the bench's oldest queued job whose slot has started: the job, its plan and its
    DUT; 204 if there is none. The claim holds a lease of ``lease_s``."""
    job = agent_jobs.claim_next_job(agent.db, agent.identity, agent.agent_id,
                                    agent.settings.lease_s)
    if job is None:
        return Response(status_code=204)
    return ClaimedJobOut(
        job_id=job.job_id, booking_public_id=job.booking_public_id, bench=job.bench_name,
        catalogue_entry=job.catalogue_entry, plan_file_name=job.plan_file_name,
        plan_text=job.plan_text, dut_description=job.dut_description,
        dut_quantity=job.dut_quantity, scheduled_start=job.scheduled_start,
        scheduled_end=job.scheduled_end, lease_until=job.lease_until,
        lease_s=agent.settings.lease_s)


@router.post("/jobs/{job_id}/heartbeat", response_model=HeartbeatOut)
def heartbeat(job_id: int, agent: Agent) -> HeartbeatOut:
    """Extend the lease; says whether the booking's cancel was requested. 409: the lease is
    lost (or the job closed): stop."""
    beat = agent_jobs.heartbeat(agent.db, agent.identity, agent.agent_id, job_id,
                                agent.settings.lease_s)
    return HeartbeatOut(lease_until=beat.lease_until, lease_s=agent.settings.lease_s,
                        cancel_requested=beat.cancel_requested)


@router.post("/jobs/{job_id}/progress", status_code=204)
def progress(job_id: int, body: ProgressIn, agent: Agent) -> Response:
    """The run's progress (step, fraction of the plan, message). The first report, sent before
    the bench is touched, marks the job and its booking running."""
    agent_jobs.report_progress(agent.db, agent.identity, agent.agent_id, job_id,
                               step=body.step, fraction=body.fraction, message=body.message)
    return Response(status_code=204)


@router.post("/jobs/{job_id}/finish", response_model=FinishOut)
def finish(job_id: int, body: FinishIn, agent: Agent) -> FinishOut:
    """Close the job with the run's outcome (upload the record first when it completed)."""
    done = agent_jobs.finish_job(agent.db, agent.identity, agent.agent_id, job_id,
                                 status=body.status, verdict=body.verdict, error=body.error)
    return FinishOut(job_state=done.job_state, booking_status=done.booking_status,
                     reason=done.reason)


@router.post("/jobs/{job_id}/upload", response_model=UploadOut)
def upload(
    job_id: int, agent: Agent, data_dir: DataDir,
    record: Annotated[UploadFile, File(description="the closed HDF5 record")],
    status: Annotated[str, Form(description="the record's status")],
    verdict: Annotated[str, Form(description="the record's verdict")],
    report_html: Annotated[UploadFile | None, File(description="HTML report")] = None,
    report_pdf: Annotated[UploadFile | None, File(description="PDF report")] = None,
    record_sha256: Annotated[str | None, Header(alias="X-Record-SHA256")] = None,
    report_html_sha256: Annotated[str | None, Header(alias="X-Report-Html-SHA256")] = None,
    report_pdf_sha256: Annotated[str | None, Header(alias="X-Report-Pdf-SHA256")] = None,
) -> UploadOut:
    """The run's record and reports, each checked against the SHA-256 in its header, stored
    in the run's folder; the run row is written. Repeating the same upload is harmless."""
    parts = [("record", record, record_sha256), ("report_html", report_html, report_html_sha256),
             ("report_pdf", report_pdf, report_pdf_sha256)]
    folder = agent_uploads.staging_folder(data_dir)
    try:
        staged = [agent_uploads.stage(folder, field, part.file, digest)
                  for field, part, digest in parts if part is not None]
        run = agent_uploads.store_run(agent.db, agent.identity, agent.agent_id, job_id,
                                      files=staged, status=status, verdict=verdict,
                                      data_dir=data_dir)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    stored = [p for p in (run.record_path, run.report_html_path, run.report_pdf_path) if p]
    return UploadOut(run_public_id=run.public_id, record_sha256=run.record_sha256 or "",
                     record_size_bytes=run.record_size_bytes or 0,
                     files=[Path(p).name for p in stored])


@router.post("/tokens", response_model=AgentTokenOut, status_code=201,
             responses={403: {"model": ErrorOut, "description": "admins only"}})
def create_agent_token(body: AgentTokenIn, principal: Admin, db: Db) -> AgentTokenOut:
    """A new token for a bench's agent (admins; a person's session, not an agent token). The
    token appears only in this answer."""
    new = agent_tokens.create_token(db, bench_name=body.bench, label=body.label,
                                    actor_id=principal.user_id)
    return AgentTokenOut(token_id=new.token_id, bench=new.bench_name, token=new.token)


# --- background work for the app's lifetime --------------------------------------------------

class Sweeper:
    """Every ``interval_s``: lost leases → needs_decision, due jobs queued."""

    def __init__(self, db: Database, interval_s: float) -> None:
        self._db, self._interval_s = db, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="benchbot-job-sweeper",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                lost, queued = agent_jobs.sweep(self._db)
            except Exception:  # the database may be briefly unreachable: try next period
                log.exception("job sweeper: sweep failed")
                continue
            for job_id in lost:
                log.warning("job %s: agent lost (lease expired): waits for a decision", job_id)
            for job_id in queued:
                log.info("job %s queued (its slot has started)", job_id)


class QuietClaimPolls(logging.Filter):
    """Keeps the agents' empty claims (204, one per agent every few seconds) out of the
    server's access log; everything else stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and len(args) == 5
                    and args[2] == f"{router.prefix}/claim" and args[4] == 204)


@contextmanager
def background(db: Database, settings: AgentSettings, data_dir: Path) -> Iterator[None]:
    """The sweeper, and the local agents if configured (working under ``data_dir``/agents),
    while the app runs."""
    sweeper = Sweeper(db, settings.sweep_interval_s)
    local = None
    if settings.local_agent_server_url is not None:
        local = LocalAgents(db, settings.local_agent_server_url, data_dir / "agents",
                            settings.local_agent_poll_s)
    quiet, access_log = QuietClaimPolls(), logging.getLogger("uvicorn.access")
    access_log.addFilter(quiet)
    sweeper.start()
    try:
        if local is not None:
            local.start()
        yield
    finally:
        if local is not None:
            local.stop()
        sweeper.stop()
        access_log.removeFilter(quiet)
