"""Shared pieces of the API tests: the app on a seeded database, signed-in clients (a browser
session that sends its CSRF token, or an API token), objects of two organisations, and a real
uvicorn server on a free loopback port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, routing
from fastapi.testclient import TestClient
from sqlalchemy import select

from benchbot.service.app import create_app
from benchbot.service.db import Database
from benchbot.service.models import Booking, Job, Run
from benchbot.service.run_files import relative_run_file, run_file_path
from benchbot.service.scheduling import schedule_booking
from benchbot.service.seed import ADMIN_EMAIL
from tests.service._helpers import ADMIN_PASSWORD, USER_PASSWORD, Lab, hour, new_booking

ENGINEER_EMAIL = "engineer@benchbot.local"
CUSTOMER_A_EMAIL = "ann@alpha.example"
CUSTOMER_B_EMAIL = "bob@beta.example"
ORG_A_NAME = "Alpha RF Ltd"
ORG_B_NAME = "Beta Microwave GmbH"
PASSWORDS = {ADMIN_EMAIL: ADMIN_PASSWORD, ENGINEER_EMAIL: USER_PASSWORD,
             CUSTOMER_A_EMAIL: USER_PASSWORD, CUSTOMER_B_EMAIL: USER_PASSWORD}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class Browser:
    """A browser session: logs in with e-mail and password (cookie) and sends the session's
    CSRF token with state-changing requests unless told not to."""

    def __init__(self, app: FastAPI, email: str, password: str | None = None,
                 base_url: str = "http://testserver") -> None:
        self.client = TestClient(app, base_url=base_url)
        response = self.client.post("/api/auth/login", json={
            "email": email, "password": password or PASSWORDS[email]})
        assert response.status_code == 200, response.text
        self.me = response.json()
        self.csrf_token: str = self.me["csrf_token"]
        self.login_response = response

    @property
    def cookie(self) -> str:
        return self.client.cookies["benchbot_session"]

    def request(self, method: str, url: str, *, csrf: bool = True, **kwargs: Any
                ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if csrf and method.upper() not in SAFE_METHODS:
            headers.setdefault("X-CSRF-Token", self.csrf_token)
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)


def api_token(client: TestClient, email: str, password: str | None = None, **extra: Any) -> str:
    response = client.post("/api/auth/tokens", json={
        "email": email, "password": password or PASSWORDS[email], **extra})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def token_client(app: FastAPI, token: str) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


class Api:
    """The app (started) on a seeded database with the small lab of ``make_lab``, and the
    people signed in on first use (each login costs an argon2id verification): admin,
    engineer, a customer of each organisation."""

    def __init__(self, app: FastAPI, db: Database, lab: Lab, data_dir: Path,
                 anonymous: TestClient) -> None:
        self.app, self.db, self.lab, self.data_dir = app, db, lab, data_dir
        self.anonymous = anonymous

    @cached_property
    def admin(self) -> Browser:
        return Browser(self.app, ADMIN_EMAIL)

    @cached_property
    def engineer(self) -> Browser:
        return Browser(self.app, ENGINEER_EMAIL)

    @cached_property
    def customer_a(self) -> Browser:
        return Browser(self.app, CUSTOMER_A_EMAIL)

    @cached_property
    def customer_b(self) -> Browser:
        return Browser(self.app, CUSTOMER_B_EMAIL)


@contextmanager
def started_api(db: Database, lab: Lab, data_dir: Path, **app_options: Any) -> Iterator[Api]:
    app = create_app(db.url.render_as_string(False), data_dir=data_dir, **app_options)
    with TestClient(app) as anonymous:  # runs the app's lifespan (opens its database)
        yield Api(app, db, lab, data_dir, anonymous)


def public_id(db: Database, booking_id: int) -> str:
    with db.session() as s:
        booking = s.get(Booking, booking_id)
        assert booking is not None
        return booking.public_id


@dataclass(frozen=True)
class OrgObjects:
    """One organisation's booking (scheduled, with a job) and finished run with its files."""

    booking_id: int
    booking_public_id: str
    job_id: int
    run_public_id: str


def booking_with_run(db: Database, lab: Lab, data_dir: Path, *, customer_b: bool,
                     offset_h: float) -> OrgObjects:
    """A scheduled booking whose job finished with a run and its three files on disk (what an
    agent's upload leaves; written here directly)."""
    booking_id = new_booking(db, lab, hour(offset_h), hour(offset_h + 4), customer_b=customer_b)
    schedule_booking(db, actor_id=lab.engineer_id, booking_id=booking_id)
    with db.session() as s:
        booking = s.get(Booking, booking_id)
        assert booking is not None
        job = s.scalars(select(Job).where(Job.booking_id == booking_id)).one()
        run = Run(job_id=job.id, status="completed", verdict="pass", record_sha256="0" * 64,
                  record_size_bytes=10)
        s.add(run)
        s.flush()
        org = booking.organisation_id
        for kind, column in (("record", "record_path"), ("report_html", "report_html_path"),
                             ("report_pdf", "report_pdf_path")):
            path = run_file_path(data_dir, org, run.public_id, kind)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(f"{kind} of {booking.public_id}".encode())
            setattr(run, column, relative_run_file(org, run.public_id, kind))
        return OrgObjects(booking_id, booking.public_id, job.id, run.public_id)


@contextmanager
def uvicorn_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port (the socket is bound first, so no
    other process can take the port); yields the base URL. Bounded start and stop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           limit_concurrency=1000, backlog=256))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        started = threading.Event()
        for _ in range(600):  # up to a minute for the first start (migrate, seed)
            if server.started or not thread.is_alive():
                break
            started.wait(0.1)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, included routers' routes too (FastAPI ≥ 0.16x
    nests them: ``routing.iter_route_contexts`` flattens), checked against the OpenAPI
    document so that a change in FastAPI's internals cannot make the list silently short."""
    iterate = getattr(routing, "iter_route_contexts", None)
    contexts = iterate(app.routes) if iterate is not None else app.routes
    found = {(method, context.path) for context in contexts
             for method in (getattr(context, "methods", None) or set()) - {"HEAD"}
             if getattr(context, "path", None)}
    documented = {(method.upper(), path) for path, operations in app.openapi()["paths"].items()
                  for method in operations}
    assert documented <= found, documented - found
    return found
