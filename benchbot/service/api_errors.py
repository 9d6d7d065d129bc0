"""Every refusal as a clear 4xx with an :class:`~benchbot.service.api_models.ErrorOut` body,
never a 500 for bad input.

* 401 not signed in / wrong credentials; 403 role or CSRF; 404 no such object *for this
  caller*; 409 conflicts (an illegal status transition names ``from_status`` and
  ``to_status``; a double booking names the booking in the way); 422 invalid input naming the
  field (``field``: the path in the JSON body, or ``query.NAME`` / ``path.NAME``); 429 login
  throttle (with ``Retry-After``).
* Database refusals that slip past the checks: a constraint (IntegrityError) is a 409, a value
  the column cannot hold (DataError) a 422.
* An unknown URL: under ``/api`` the JSON 404; anywhere else (a page address typed or
  followed in a browser) the HTML 404 page with the signed-in caller's navigation.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from benchbot.service.auth import LoginLocked, LoginRefused, NotAuthenticated
from benchbot.service.errors import (
    DatabaseUnavailable,
    IllegalTransition,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceError,
)
from benchbot.service.pages_kit import error_page
from benchbot.service.scheduling import is_overlap_violation

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(IntegrityError, integrity_error)
    app.add_exception_handler(DataError, data_error)
    app.add_exception_handler(OperationalError, operational_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _status(exc: ServiceError) -> int:
    for kind, status in ((NotAuthenticated, 401), (LoginRefused, 401), (LoginLocked, 429),
                         (PermissionDenied, 403), (NotFound, 404), (InvalidInput, 422),
                         (DatabaseUnavailable, 503)):
        if isinstance(exc, kind):
            return status
    return 409


def service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    status = _status(exc)
    body: dict[str, Any] = {"detail": str(exc)}
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidInput):
        body["field"] = exc.field
        body["errors"] = [{"field": exc.field, "reason": exc.reason}]
    elif isinstance(exc, IllegalTransition):
        body["from_status"], body["to_status"] = exc.current, exc.requested
    elif isinstance(exc, LoginLocked):
        headers["Retry-After"] = str(exc.retry_after_s)
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(status_code=status, content=body, headers=headers)


def is_api_path(path: str) -> bool:
    """Whether ``path`` is the JSON API's (``/api`` and below) rather than a page's."""
    return path == "/api" or path.startswith("/api/")


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, a missing static file, ...): a 404 outside
    ``/api`` is the HTML error page; everything else FastAPI's JSON answer."""
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path
    if exc.status_code == 404 and not is_api_path(path):
        shown = path if len(path) <= 120 else f"{path[:120]}…"
        return await run_in_threadpool(error_page, request, 404, f"there is no page at {shown}")
    return await http_exception_handler(request, exc)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "window", "start")`` → ``window.start``; ``("query", "from")`` →
    ``query.from``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:] or ["body"]
    return ".".join(parts)


def validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": field_path(e.get("loc", ())), "reason": str(e.get("msg", "invalid"))}
              for e in exc.errors()]
    if not errors:
        errors = [{"field": "body", "reason": "invalid request"}]
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
    return JSONResponse(status_code=422, content={"detail": detail, "field": errors[0]["field"],
                                                  "errors": errors})


def integrity_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntegrityError)
    if is_overlap_violation(exc):
        detail = "the bench is already booked in that slot (refused by the database)"
    else:
        detail = "the change conflicts with existing data (refused by the database)"
        log.warning("integrity error answered 409: %s", str(exc.orig).splitlines()[0])
    return JSONResponse(status_code=409, content={"detail": detail})


def data_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DataError)
    log.warning("data error answered 422: %s", str(exc.orig).splitlines()[0])
    return JSONResponse(status_code=422, content={
        "detail": "a value does not fit the database (too long, too large or malformed)",
        "field": "body"})


def operational_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("database error: %s", str(getattr(exc, "orig", exc)).splitlines()[0])
    return JSONResponse(status_code=503, headers={"Retry-After": "1"},
                        content={"detail": "the database is busy or unreachable: try again"})
