"""The booking service's web application (FastAPI; OpenAPI at ``/openapi.json``).

:func:`create_app` returns the ASGI app; at startup it migrates the database to head and, if
it is empty, seeds it (the generated admin password is announced once). The JSON API lives
under ``/api`` (docs/service.md): authentication (:mod:`api_auth`), bookings
(:mod:`api_bookings`), runs and their files (:mod:`api_runs`), the lab's benches, calendar,
job queue and decisions (:mod:`api_lab`), administration and the audit log
(:mod:`api_admin`). Every refusal is a 4xx with a reason (:mod:`api_errors`). The
server-rendered pages (:mod:`pages`) and their ``/static`` files sit beside the API.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from benchbot.service import (
    agent_api,
    api_admin,
    api_auth,
    api_bookings,
    api_lab,
    api_runs,
    pages,
)
from benchbot.service.agent_api import AgentSettings
from benchbot.service.api_errors import install_error_handlers
from benchbot.service.auth import AuthSettings
from benchbot.service.db import Database, database_url
from benchbot.service.seed import SeedReport, seed_if_empty

DEFAULT_DATA_DIR = Path("results") / "service"
"""Where run files live (``runs/<organisation id>/<run public id>/``), under the working
folder unless ``data_dir`` says otherwise."""


def _print_admin_password(report: SeedReport) -> None:
    print(f"benchbot serve: created admin {report.admin_email} with the initial password "
          f"{report.admin_password} (shown only now; change it after the first login)",
          file=sys.stderr, flush=True)


class HealthOut(BaseModel):
    status: str
    database: str
    migration_revision: str | None
    head_revision: str | None


def create_app(database_url_or_path: str | Path | None = None, *,
               plans_dir: Path | None = None,
               announce_admin_password: Callable[[SeedReport], None] = _print_admin_password,
               data_dir: Path | None = None,
               auth_settings: AuthSettings | None = None,
               agents: AgentSettings | None = None) -> FastAPI:
    """The app on ``database_url_or_path`` (None: the default SQLite file under the working
    folder; a path: an SQLite file; a ``postgresql+psycopg://`` URL). The URL is checked now
    (InvalidInput); the database is opened, migrated and seeded when the app starts.
    ``data_dir``: where run files are kept (default ``results/service`` under the working
    folder); ``auth_settings``: session lifetimes, cookie and login throttle; ``agents``:
    the bench agents' lease, the job sweeper's period, the local agents (default: none)."""
    url = database_url(database_url_or_path)
    files = (data_dir or Path.cwd() / DEFAULT_DATA_DIR).resolve()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(url)
        try:
            db.upgrade()
            report = seed_if_empty(db, plans_dir=plans_dir)
            if report is not None and report.admin_password is not None:
                announce_admin_password(report)
            app.state.db = db
            with agent_api.background(db, app.state.agent_settings, files):  # sweeper, agents
                yield
        finally:
            db.dispose()

    app = FastAPI(title="benchbot booking service", version="0.2.0", lifespan=lifespan,
                  description="Book RF verification runs on the lab's benches. Sign in with "
                  "POST /api/auth/login (a session cookie; send the returned csrf_token as "
                  "X-CSRF-Token with every state-changing request) or use an API token "
                  "(POST /api/auth/tokens; Authorization: Bearer). See docs/service.md.")
    app.state.data_dir = files
    app.state.auth_settings = auth_settings or AuthSettings()
    install_error_handlers(app)
    _health(app)
    for module in (api_auth, api_admin, api_bookings, api_runs, api_lab):
        app.include_router(module.router)
    app.state.agent_settings = agents or AgentSettings()
    app.include_router(agent_api.router)  # the bench agents' /api/agent
    app.include_router(pages.router)  # the server-rendered pages (docs/service.md, Pages)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    return app


def _health(app: FastAPI) -> None:
    @app.get("/health", response_model=HealthOut, tags=["service"])
    def health(request: Request) -> HealthOut:
        """The database kind and its migration revision (and the newest this build ships)."""
        db: Database = request.app.state.db
        current, head = db.current_revision(), db.head_revision()
        return HealthOut(status="ok" if current == head else "migration pending",
                         database=db.kind, migration_revision=current, head_revision=head)
