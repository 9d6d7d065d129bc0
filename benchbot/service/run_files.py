"""Where a run's files live on the service's disk, and which of them may be served.

Each run has its own folder ``<data dir>/runs/<organisation id>/<run public id>/`` holding the
HDF5 record and the reports under fixed names (:data:`RUN_FILE_NAMES`). The agent's upload
writes them there (:func:`run_file_path`) and stores in the run's row the path relative to
the data folder (:func:`relative_run_file`). Serving starts from a scoped query (the caller
must see the run) and :func:`resolve_run_file` then refuses any stored path outside that
run's own folder, so neither a crafted id nor a bad row can reach another organisation's file.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Literal

RunFileKind = Literal["record", "report_html", "report_pdf"]

RUN_FILE_NAMES: dict[RunFileKind, str] = {
    "record": "record.h5",
    "report_html": "report.html",
    "report_pdf": "report.pdf",
}
MEDIA_TYPES: dict[RunFileKind, str] = {
    "record": "application/x-hdf5",
    "report_html": "text/html; charset=utf-8",
    "report_pdf": "application/pdf",
}
RUNS_FOLDER = "runs"
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def run_directory(data_dir: Path, organisation_id: int, run_public_id: str) -> Path:
    """``<data dir>/runs/<organisation id>/<run public id>/`` (not created here)."""
    return data_dir / _relative_directory(organisation_id, run_public_id)


def run_file_path(data_dir: Path, organisation_id: int, run_public_id: str,
                  kind: RunFileKind) -> Path:
    """Where the run's ``kind`` file is written."""
    return run_directory(data_dir, organisation_id, run_public_id) / RUN_FILE_NAMES[kind]


def relative_run_file(organisation_id: int, run_public_id: str, kind: RunFileKind) -> str:
    """The path to store in the run's row (``record_path``, ``report_html_path``, ...):
    relative to the data folder, with forward slashes."""
    return str(_relative_directory(organisation_id, run_public_id) / RUN_FILE_NAMES[kind])


def resolve_run_file(data_dir: Path, organisation_id: int, run_public_id: str,
                     stored: str | None) -> Path | None:
    """The file a run's row names, if it lies inside that run's own folder and exists; else
    None. ``stored`` may be relative to the data folder (as written by the upload) or
    absolute."""
    if not stored:
        return None
    folder = run_directory(data_dir, organisation_id, run_public_id).resolve()
    path = Path(stored)
    candidate = (path if path.is_absolute() else data_dir / path).resolve()
    if not candidate.is_relative_to(folder) or not candidate.is_file():
        return None
    return candidate


def _relative_directory(organisation_id: int, run_public_id: str) -> PurePosixPath:
    if isinstance(organisation_id, bool) or not isinstance(organisation_id, int) \
            or organisation_id < 1:
        raise ValueError(f"organisation id must be a positive int, got {organisation_id!r}")
    if not _PUBLIC_ID.fullmatch(run_public_id):
        raise ValueError(f"not a run public id: {run_public_id!r}")
    return PurePosixPath(RUNS_FOLDER) / str(organisation_id) / run_public_id
