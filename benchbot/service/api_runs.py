"""``/api/runs``: a customer's runs (lab staff: everyone's), their HDF5 record and reports.

A file is served only after the run was found through the caller's scope
(:func:`queries.find_run`), and only from that run's own folder
(:func:`run_files.resolve_run_file`); every download is audited. Another organisation's run
answers 404 exactly like a missing one.
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from benchbot.service import audit, queries
from benchbot.service.api_deps import Caller, DataDir, Db, scope_of
from benchbot.service.api_models import RunOut, error_responses
from benchbot.service.api_views import run_out
from benchbot.service.auth import Principal
from benchbot.service.db import Database
from benchbot.service.errors import NotFound
from benchbot.service.models import Run, User
from benchbot.service.run_files import MEDIA_TYPES, RunFileKind, resolve_run_file

router = APIRouter(prefix="/api/runs", tags=["runs"])

RunPublicId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                  description="the run's public id")]
_HTML_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                "font-src data:; sandbox")


def _file_responses(media_type: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {media_type.split(";")[0]: {}}, "description": "the file"},
            **error_responses(401, 404, 422)}


@router.get("", response_model=list[RunOut], responses=error_responses(401))
def list_runs(principal: Caller, db: Db, data_dir: DataDir) -> list[RunOut]:
    """Runs, newest first: the caller's organisation's (lab staff: every organisation's)."""
    with db.session() as session:
        return [run_out(r, data_dir) for r in
                queries.find_runs(session, scope=scope_of(principal))]


@router.get("/{run_id}", response_model=RunOut, responses=error_responses(401, 404, 422))
def get_run(run_id: RunPublicId, principal: Caller, db: Db, data_dir: DataDir) -> RunOut:
    """One run: status, verdict, and which files are there to download."""
    with db.session() as session:
        return run_out(queries.find_run(session, scope=scope_of(principal), public_id=run_id),
                       data_dir)


@router.get("/{run_id}/record", response_class=FileResponse,
            responses=_file_responses(MEDIA_TYPES["record"]))
def download_record(run_id: RunPublicId, principal: Caller, db: Db,
                    data_dir: DataDir) -> FileResponse:
    """The run's HDF5 record (readable with plain h5py; docs/record-format.md)."""
    path = _download(db, principal, data_dir, run_id, "record")
    return FileResponse(path, media_type=MEDIA_TYPES["record"], filename=f"{run_id}.h5")


@router.get("/{run_id}/report.html", response_class=FileResponse,
            responses=_file_responses(MEDIA_TYPES["report_html"]))
def download_report_html(run_id: RunPublicId, principal: Caller, db: Db,
                         data_dir: DataDir) -> FileResponse:
    """The run's report as one self-contained HTML page (shown sandboxed)."""
    path = _download(db, principal, data_dir, run_id, "report_html")
    return FileResponse(path, media_type=MEDIA_TYPES["report_html"],
                        headers={"Content-Security-Policy": _HTML_POLICY,
                                 "X-Content-Type-Options": "nosniff"})


@router.get("/{run_id}/report.pdf", response_class=FileResponse,
            responses=_file_responses(MEDIA_TYPES["report_pdf"]))
def download_report_pdf(run_id: RunPublicId, principal: Caller, db: Db,
                        data_dir: DataDir) -> FileResponse:
    """The run's A4 PDF report."""
    path = _download(db, principal, data_dir, run_id, "report_pdf")
    return FileResponse(path, media_type=MEDIA_TYPES["report_pdf"],
                        filename=f"{run_id}_report.pdf")


def _stored_path(run: Run, kind: RunFileKind) -> str | None:
    return {"record": run.record_path, "report_html": run.report_html_path,
            "report_pdf": run.report_pdf_path}[kind]


def _download(db: Database, principal: Principal, data_dir: FsPath, run_id: str,
              kind: RunFileKind) -> FsPath:
    """The file, found through the caller's scope and audited; NotFound if the run is not
    the caller's to see or the file is not (yet) there."""
    with db.write_session() as session:
        run = queries.find_run(session, scope=scope_of(principal), public_id=run_id)
        organisation_id = run.job.booking.organisation_id
        path = resolve_run_file(data_dir, organisation_id, run.public_id,
                                _stored_path(run, kind))
        if path is None:
            raise NotFound(f"{kind.replace('_', ' ')} of run", run_id)
        audit.record(session, action="run.download", user=session.get(User, principal.user_id),
                     organisation_id=organisation_id, object_type="run", object_id=run.id,
                     detail={"run": run.public_id, "file": kind})
        return path
