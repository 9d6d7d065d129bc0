"""Results an agent uploads: the HDF5 record and the HTML/PDF reports of a job's run.

Each file is streamed to a staging folder under the data dir while its SHA-256 is computed,
compared with the digest the agent sent (a mismatch refuses the whole upload, nothing kept),
then moved into the run's folder (:mod:`benchbot.service.run_files`: ``runs/<organisation
id>/<run public id>/``, fixed file names) and a :class:`~benchbot.service.models.Run` row
written, in one transaction. An upload repeated with the same record (the agent retrying after
a lost reply) answers the run already stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, get_args

from benchbot.service import audit
from benchbot.service.agent_jobs import (
    HELD_STATES,
    LeaseLost,
    agent_job,
    checked_agent_id,
    checked_outcome,
    lease_problem,
)
from benchbot.service.agent_tokens import BenchAgentIdentity
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput, StateConflict
from benchbot.service.models import Run, utcnow
from benchbot.service.run_files import (
    RUN_FILE_NAMES,
    RUNS_FOLDER,
    RunFileKind,
    relative_run_file,
    run_directory,
)
from benchbot.service.states import JobState

CHUNK_BYTES = 1 << 20
MAX_RECORD_BYTES = 8 << 30
"""An HDF5 record with IQ captures is large, but not this large."""
MAX_REPORT_BYTES = 200 << 20
INCOMING = ".incoming"
UPLOAD_FIELDS: tuple[RunFileKind, ...] = get_args(RunFileKind)
#: job states in which the agent that held the job may still hand in its results
UPLOAD_STATES = (*HELD_STATES, JobState.NEEDS_DECISION)


@dataclass(frozen=True)
class StagedFile:
    """An uploaded file in the staging folder, with its digest and size."""

    field: RunFileKind
    path: Path
    sha256: str
    size_bytes: int


def staging_folder(data_dir: Path) -> Path:
    """A new, empty staging folder (on the data dir's file system, so files move by rename)."""
    folder = data_dir / RUNS_FOLDER / INCOMING / secrets.token_hex(8)
    folder.mkdir(parents=True)
    return folder


def stage(folder: Path, field: str, stream: BinaryIO, expected_sha256: str | None
          ) -> StagedFile:
    """Copy ``stream`` into ``folder`` computing its SHA-256; InvalidInput naming the field
    if no digest was given, the file is too large or its digest differs."""
    if field not in UPLOAD_FIELDS:
        raise InvalidInput(field, f"not an upload field (give {', '.join(UPLOAD_FIELDS)})")
    expected = (expected_sha256 or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise InvalidInput(sha256_header(field), "give the file's SHA-256 (64 hex digits)")
    limit = MAX_RECORD_BYTES if field == "record" else MAX_REPORT_BYTES
    digest, size = hashlib.sha256(), 0
    path = folder / RUN_FILE_NAMES[field]
    with path.open("wb") as out:
        while chunk := stream.read(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise InvalidInput(field, f"larger than {limit >> 20} MiB")
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != expected:
        raise InvalidInput(sha256_header(field), f"the {field} received has SHA-256 "
                           f"{digest.hexdigest()}, not {expected} (corrupted in transit?)")
    return StagedFile(field, path, expected, size)


def sha256_header(field: str) -> str:
    """The request header carrying a file's SHA-256: X-Record-SHA256, X-Report-Html-SHA256…"""
    return "X-" + "-".join(part.capitalize() for part in field.split("_")) + "-SHA256"


def store_run(db: Database, agent: BenchAgentIdentity, agent_id: str, job_id: int, *,
              files: Iterable[StagedFile], status: str, verdict: str, data_dir: Path,
              now: datetime | None = None) -> Run:
    """Move the staged files into the run's folder and write the run row (one per job). The
    agent must hold the job, or have held it when it went to needs_decision."""
    at = now or utcnow()
    agent_id = checked_agent_id(agent_id)
    run_status, run_verdict = checked_outcome(status, verdict)
    staged = {f.field: f for f in files}
    if "record" not in staged:
        raise InvalidInput("record", "the HDF5 record is required")
    record = staged["record"]
    moved: Path | None = None
    try:
        with db.write_session() as session:
            job = agent_job(session, agent, agent_id, job_id)
            if job.state in HELD_STATES:
                lease_problem(session, job, at)  # an expired lease: needs_decision now
            if job.state not in UPLOAD_STATES:
                raise LeaseLost(f"job {job.id} is {job.state!r}: its results are closed")
            if job.run is not None:
                return _same_run(job.run, record)
            run = Run(job_id=job.id, status=run_status.value, verdict=run_verdict.value,
                      record_sha256=record.sha256, record_size_bytes=record.size_bytes,
                      created_at=at, updated_at=at)
            session.add(run)
            session.flush()
            organisation_id = job.booking.organisation_id
            moved = run_directory(data_dir, organisation_id, run.public_id)
            moved.mkdir(parents=True)
            paths = {field: relative_run_file(organisation_id, run.public_id, field)
                     for field in staged}
            for field, f in staged.items():
                f.path.replace(data_dir / paths[field])
            run.record_path = paths["record"]
            run.report_html_path = paths.get("report_html")
            run.report_pdf_path = paths.get("report_pdf")
            audit.record(session, action="run.upload", user=None,
                         organisation_id=job.booking.organisation_id, object_type="run",
                         object_id=run.id, at=at,
                         detail={"job_id": job.id, "agent": agent_id,
                                 "record_sha256": record.sha256,
                                 "files": {k: f.size_bytes for k, f in staged.items()}})
            return run
    except BaseException:
        if moved is not None:
            shutil.rmtree(moved, ignore_errors=True)
        raise


def _same_run(run: Run, record: StagedFile) -> Run:
    if run.record_sha256 != record.sha256:
        raise StateConflict(f"job {run.job_id} already has run {run.public_id} with another "
                            f"record (SHA-256 {run.record_sha256})")
    return run
