"""The agent's side of the service's ``/api/agent`` HTTP API (httpx; outbound only).

Three kinds of failure, because the agent answers each differently: :class:`ServiceRefused`
(the token or the agent's request is wrong: stop and say so), :class:`JobLost` (the job is no
longer this agent's: abort it, never run it again) and :class:`ServiceUnreachable` (network
down, service restarting, a 5xx: try again later).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

AGENT_HEADER = "X-Benchbot-Agent"
USER_AGENT = "benchbot-agent"
CHUNK_BYTES = 1 << 20
#: upload form fields → their content type
UPLOAD_TYPES = {"record": "application/x-hdf5", "report_html": "text/html",
                "report_pdf": "application/pdf"}


class ServiceRefused(Exception):
    """The service refuses this agent (bad token, 401/403) or its request (422)."""


class JobLost(Exception):
    """The job is no longer this agent's (404/409): stop, never run it again."""


class ServiceUnreachable(Exception):
    """No answer, or a server error: the call may be tried again."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def upload_header(field: str) -> str:
    """The header carrying a file's SHA-256 (X-Record-SHA256, X-Report-Html-SHA256…)."""
    return "X-" + "-".join(part.capitalize() for part in field.split("_")) + "-SHA256"


class AgentClient:
    """One agent process's connection to the service. Not shared between threads: each thread
    makes its own (:meth:`copy`)."""

    def __init__(self, server_url: str, token: str, agent_name: str, timeout_s: float = 15.0,
                 upload_timeout_s: float = 600.0) -> None:
        self.server_url, self.agent_name = server_url.rstrip("/"), agent_name
        self._token, self._timeout_s, self._upload_timeout_s = token, timeout_s, upload_timeout_s
        self._http = httpx.Client(
            base_url=self.server_url + "/api/agent", timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}", AGENT_HEADER: agent_name,
                     "User-Agent": USER_AGENT})

    def copy(self) -> AgentClient:
        return AgentClient(self.server_url, self._token, self.agent_name, self._timeout_s,
                           self._upload_timeout_s)

    def close(self) -> None:
        self._http.close()

    def claim(self) -> dict[str, Any] | None:
        """The claimed job, or None when the bench has nothing due."""
        response = self._post("/claim", job=False)
        return None if response.status_code == 204 else response.json()

    def heartbeat(self, job_id: int) -> dict[str, Any]:
        return self._post(f"/jobs/{job_id}/heartbeat").json()

    def progress(self, job_id: int, *, step: str | None, fraction: float | None,
                 message: str | None) -> None:
        self._post(f"/jobs/{job_id}/progress",
                   json={"step": step, "fraction": fraction, "message": message})

    def finish(self, job_id: int, *, status: str, verdict: str, error: str | None
               ) -> dict[str, Any]:
        return self._post(f"/jobs/{job_id}/finish",
                          json={"status": status, "verdict": verdict, "error": error}).json()

    def upload(self, job_id: int, files: Mapping[str, Path], *, status: str, verdict: str
               ) -> dict[str, Any]:
        """Send the files (form field → path) with each one's SHA-256 in its header."""
        headers = {upload_header(field): sha256_file(path) for field, path in files.items()}
        with ExitStack() as stack:
            parts = {field: (path.name, stack.enter_context(path.open("rb")), UPLOAD_TYPES[field])
                     for field, path in files.items()}
            return self._post(f"/jobs/{job_id}/upload", files=parts, headers=headers,
                              data={"status": status, "verdict": verdict},
                              timeout=self._upload_timeout_s).json()

    def _post(self, path: str, *, job: bool = True, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.post(path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnreachable(f"{self.server_url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise ServiceUnreachable(f"{self.server_url}{path}: HTTP {response.status_code}")
        if response.status_code in (404, 409) and job:
            raise JobLost(_detail(response))
        if response.status_code >= 400:
            raise ServiceRefused(f"{path}: HTTP {response.status_code}: {_detail(response)}")
        return response


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)
