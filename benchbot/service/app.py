"""The booking service's web application (FastAPI; OpenAPI at ``/openapi.json``).

:func:`create_app` returns the ASGI app; at startup it migrates the database to head and, if
it is empty, seeds it (the generated admin password is announced once). This first version
serves ``/health`` and the read-only catalogue and bench listings; authenticated and
organisation-scoped endpoints build on :mod:`benchbot.service.queries`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from benchbot.service import queries
from benchbot.service.db import Database, database_url
from benchbot.service.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceError,
)
from benchbot.service.seed import SeedReport, seed_if_empty


def _print_admin_password(report: SeedReport) -> None:
    print(f"benchbot serve: created admin {report.admin_email} with the initial password "
          f"{report.admin_password} (shown only now; change it after the first login)",
          file=sys.stderr, flush=True)


class HealthOut(BaseModel):
    status: str
    database: str
    migration_revision: str | None
    head_revision: str | None


class CatalogueEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    plan_file_name: str
    required_capabilities: list[str]
    duration_estimate_min: int


class BenchOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    capabilities: list[str]
    instruments: dict[str, Any]


def create_app(database_url_or_path: str | Path | None = None, *,
               plans_dir: Path | None = None,
               announce_admin_password: Callable[[SeedReport], None] = _print_admin_password
               ) -> FastAPI:
    """The app on ``database_url_or_path`` (None: the default SQLite file under the working
    folder; a path: an SQLite file; a ``postgresql+psycopg://`` URL). The URL is checked now
    (InvalidInput); the database is opened, migrated and seeded when the app starts."""
    url = database_url(database_url_or_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(url)
        try:
            db.upgrade()
            report = seed_if_empty(db, plans_dir=plans_dir)
            if report is not None and report.admin_password is not None:
                announce_admin_password(report)
            app.state.db = db
            yield
        finally:
            db.dispose()

    app = FastAPI(title="benchbot booking service", version="0.1.0", lifespan=lifespan)
    app.add_exception_handler(ServiceError, _service_error)
    _routes(app)
    return app


def _session(request: Request) -> Iterator[Session]:
    db: Database = request.app.state.db
    with db.session() as session:
        yield session


DbSession = Annotated[Session, Depends(_session)]


def _routes(app: FastAPI) -> None:
    @app.get("/health", response_model=HealthOut, tags=["service"])
    def health(request: Request) -> HealthOut:
        """The database kind and its migration revision (and the newest this build ships)."""
        db: Database = request.app.state.db
        current, head = db.current_revision(), db.head_revision()
        return HealthOut(status="ok" if current == head else "migration pending",
                         database=db.kind, migration_revision=current, head_revision=head)

    @app.get("/api/catalogue", response_model=list[CatalogueEntryOut], tags=["catalogue"])
    def catalogue(session: DbSession) -> list[Any]:
        """The services that can be booked (active catalogue entries)."""
        return queries.list_catalogue(session)

    @app.get("/api/benches", response_model=list[BenchOut], tags=["benches"])
    def benches(session: DbSession) -> list[Any]:
        """The lab's active benches with their capabilities and instruments."""
        return queries.list_benches(session)


def _service_error(_: Request, exc: Exception) -> JSONResponse:
    status = (404 if isinstance(exc, NotFound) else 403 if isinstance(exc, PermissionDenied)
              else 422 if isinstance(exc, InvalidInput) else 409)
    body: dict[str, Any] = {"detail": str(exc)}
    if isinstance(exc, InvalidInput):
        body["field"] = exc.field
    return JSONResponse(status_code=status, content=body)
