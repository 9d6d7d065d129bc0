"""What every API request needs: the database, the caller (cookie session or bearer token),
the CSRF check, role guards and the caller's :class:`~benchbot.service.queries.Scope`.

The caller is taken from ``Authorization: Bearer <token>`` if the header is there (any other
scheme is refused), else from the session cookie. A request authenticated by the cookie that
may change state (any method but GET, HEAD, OPTIONS) must carry the session's CSRF token in the
``X-CSRF-Token`` header or a ``csrf_token`` form field, else 403 -- checked here, before the
route runs, so no route can forget it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPBearer

from benchbot.service.auth import (
    AuthSettings,
    NotAuthenticated,
    Principal,
    authenticate,
    check_csrf,
)
from benchbot.service.db import Database
from benchbot.service.errors import PermissionDenied
from benchbot.service.queries import Scope
from benchbot.service.states import SessionKind

SESSION_COOKIE = "benchbot_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# only for the OpenAPI document (the two ways to authenticate); parsed below
_cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                              description="browser session (POST /api/auth/login); state-"
                                          "changing requests also need X-CSRF-Token")
_bearer_scheme = HTTPBearer(auto_error=False, description="API token (POST /api/auth/tokens)")


async def database(request: Request) -> Database:
    return request.app.state.db


async def auth_settings(request: Request) -> AuthSettings:
    return request.app.state.auth_settings


async def data_dir(request: Request) -> Path:
    return request.app.state.data_dir


# The dependencies that only read or compare are ``async def``: FastAPI runs a plain ``def``
# dependency in its thread pool, a hand-off that cost more than the work (benchmarks/
# service_load.py). Anything that touches the database stays in the thread pool.
Db = Annotated[Database, Depends(database)]
Settings = Annotated[AuthSettings, Depends(auth_settings)]
DataDir = Annotated[Path, Depends(data_dir)]


async def current_principal(request: Request, db: Db, settings: Settings,
                            _cookie: Annotated[str | None, Depends(_cookie_scheme)],
                            _bearer: Annotated[object, Depends(_bearer_scheme)]) -> Principal:
    """The authenticated caller (401 otherwise), CSRF-checked for a cookie session's
    state-changing request (403)."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("the Authorization header must be 'Bearer <API token>'")
        return await run_in_threadpool(authenticate, db, token.strip(),
                                       kind=SessionKind.API_TOKEN, settings=settings)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("not signed in: log in (POST /api/auth/login) or send an API "
                               "token")
    principal = await run_in_threadpool(authenticate, db, cookie, kind=SessionKind.BROWSER,
                                        settings=settings)
    if request.method not in SAFE_METHODS:
        check_csrf(principal, await _presented_csrf_token(request))
    return principal


async def _presented_csrf_token(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in _FORM_TYPES:
        try:
            value = (await request.form()).get(CSRF_FORM_FIELD)
        except Exception:  # noqa: BLE001 - a malformed form carries no token
            return None
        return value if isinstance(value, str) else None
    return None


Caller = Annotated[Principal, Depends(current_principal)]


async def require_staff(principal: Caller) -> Principal:
    if not principal.is_staff:
        raise PermissionDenied(f"a {principal.role} may not do this: lab engineers and admins "
                               "only")
    return principal


async def require_admin(principal: Caller) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied(f"a {principal.role} may not do this: lab admins only")
    return principal


async def require_customer(principal: Caller) -> Principal:
    if principal.is_staff:
        raise PermissionDenied("bookings are made by customers (lab staff schedule them)")
    return principal


Staff = Annotated[Principal, Depends(require_staff)]
Admin = Annotated[Principal, Depends(require_admin)]
Customer = Annotated[Principal, Depends(require_customer)]


def scope_of(principal: Principal) -> Scope:
    """What the caller may see: the whole lab for staff, else their organisation."""
    if principal.is_staff:
        return Scope.whole_lab()
    return Scope.organisation(principal.organisation_id)
