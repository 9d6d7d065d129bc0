"""What every server-rendered page shares: the Jinja2 templates and their filters, the signed-in
caller (optional), HTML error pages, and form fields parsed with a reason per field.

Pages reuse the API's authentication dependencies (:mod:`api_deps`): the session cookie, the
CSRF check of every state-changing request (the ``csrf_token`` form field) and the role
guards. :class:`PageRoute` turns their refusals -- and the domain's -- into HTML pages with the
API's status codes (401 becomes a redirect to the sign-in page for a GET), so a customer
typing another organisation's booking into the address bar gets the same 404 page as for a
booking that does not exist. Times are shown in UTC and say so; form times are read as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from benchbot.service.api_deps import SESSION_COOKIE
from benchbot.service.auth import (
    CsrfRefused,
    LoginLocked,
    LoginRefused,
    NotAuthenticated,
    Principal,
    authenticate,
)
from benchbot.service.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
from benchbot.service.states import SessionKind

PACKAGE_DIR = Path(__file__).parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Every page: not cached (it shows one person's data), no inline or foreign scripts (style
attributes place the calendar's blocks), never framed."""
FORM_TIME = "%Y-%m-%dT%H:%M"
"""A ``<input type="datetime-local">`` value (read as UTC)."""


# --- templates --------------------------------------------------------------------------------

def utc_text(value: datetime | None, with_zone: bool = True) -> str:
    """``2026-03-02 14:05 UTC`` (an empty string for None)."""
    if value is None:
        return ""
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return f"{text} UTC" if with_zone else text


def form_time(value: datetime | None) -> str:
    """A UTC time as a ``datetime-local`` input value."""
    return "" if value is None else value.astimezone(UTC).strftime(FORM_TIME)


def duration_text(minutes: float) -> str:
    """``45 min``, ``2 h 30 min``, ``3 d 4 h``."""
    total = int(round(minutes))
    days, rest = divmod(total, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def size_text(size_bytes: int | None) -> str:
    """``1.3 MB`` (decimal units, as file managers show them)."""
    if size_bytes is None:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} B"


def percent_text(fraction: float | None) -> str:
    return "" if fraction is None else f"{100 * fraction:.0f} %"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(utc=utc_text, form_time=form_time, duration=duration_text,
                       size=size_text, percent=percent_text, label=label_text)
    return env


def label_text(value: object) -> str:
    """A status or kind for people: ``needs_decision`` → ``needs decision``."""
    return str(value).replace("_", " ")


templates = Jinja2Templates(env=_environment())


def caller_or_none(request: Request) -> Principal | None:
    """The browser session's caller, or None (no cookie, or an ended session)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return authenticate(request.app.state.db, cookie, kind=SessionKind.BROWSER,
                            settings=request.app.state.auth_settings)
    except NotAuthenticated:
        return None


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           me: Principal | None = None, status_code: int = 200) -> Response:
    """The page ``template`` for the caller ``me`` (their navigation and CSRF token)."""
    values = {"me": me, "csrf_token": None if me is None else me.csrf_token,
              "path": request.url.path, "now": datetime.now(UTC), **(context or {})}
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    """After a POST: see the result with a GET (303)."""
    return RedirectResponse(url, status_code=303)


# --- errors as pages --------------------------------------------------------------------------

_ERROR_TITLES = {401: "Sign in needed", 403: "Not allowed", 404: "Not found",
                 409: "Not possible now", 422: "Invalid request", 429: "Too many attempts"}


def error_page(request: Request, status_code: int, message: str) -> Response:
    """The HTML error page (``error.html``) with the status, its title and ``message``, for the
    signed-in caller if any (their navigation)."""
    return render(request, "error.html", {"status": status_code, "message": message,
                                          "title": _ERROR_TITLES.get(status_code, "Error")},
                  me=caller_or_none(request), status_code=status_code)


def _status_of(exc: ServiceError) -> int:
    for kind, status in ((NotAuthenticated, 401), (LoginRefused, 401), (LoginLocked, 429),
                         (PermissionDenied, 403), (NotFound, 404), (InvalidInput, 422)):
        if isinstance(exc, kind):
            return status
    return 409


_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect: no scheme,
    no ``//host``, no backslash or whitespace a browser would drop)."""
    if not target or not _LOCAL_PATH.fullmatch(target):
        return "/"
    return target


class PageRoute(APIRoute):
    """A page: refusals become HTML pages with the API's status codes; an unauthenticated GET
    is sent to the sign-in page and comes back afterwards."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except NotAuthenticated as exc:
                if request.method == "GET":
                    here = request.url.path + (f"?{request.url.query}" if request.url.query
                                               else "")
                    return RedirectResponse(f"/login?next={quote(here, safe='')}",
                                            status_code=303)
                return error_page(request, 401, f"{exc}. Sign in again and repeat the action.")
            except CsrfRefused:
                return error_page(request, 403, "the form came without this session's "
                                  "security (CSRF) token, so nothing was changed: reload the "
                                  "page and send it again")
            except ServiceError as exc:
                return error_page(request, _status_of(exc), str(exc))
            except RequestValidationError as exc:
                reasons = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: "
                                    f"{e.get('msg', 'invalid')}" for e in exc.errors())
                return error_page(request, 422, reasons or "invalid request")

        return page_handler


# --- form fields ------------------------------------------------------------------------------

class FormErrors(dict[str, str]):
    """Field name → reason, shown next to the field; ``entered``: what was typed, shown
    again in the refused form."""

    def __init__(self, entered: Mapping[str, str] | None = None, **reasons: str) -> None:
        super().__init__(**reasons)
        self.entered = dict(entered or {})

    def add(self, exc: InvalidInput) -> None:
        self.setdefault(exc.field, exc.reason)

    @property
    def status_code(self) -> int:
        """422 for fields at fault, 409 for a refusal of the whole action (``form``)."""
        return 409 if "form" in self else 422

    @contextmanager
    def refusals(self) -> Iterator[None]:
        """Collect a refused action: InvalidInput next to its field, any other ServiceError
        (a state conflict) for the whole form; NotFound and PermissionDenied are not the
        form's business and become their error page."""
        try:
            yield
        except InvalidInput as exc:
            self.add(exc)
        except (NotFound, PermissionDenied):
            raise
        except ServiceError as exc:
            self["form"] = str(exc)


def form_int(field: str, text: str, *, low: int, high: int) -> int:
    """A whole number from a form field in ``[low, high]``; InvalidInput naming the field."""
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidInput(field, f"give a whole number ({low} to {high})") from None
    if not low <= value <= high:
        raise InvalidInput(field, f"must be {low} to {high}, got {value}")
    return value


def form_utc(field: str, text: str) -> datetime:
    """A ``datetime-local`` value (``YYYY-MM-DDTHH:MM``, seconds allowed) read as UTC."""
    value = text.strip()
    if not value:
        raise InvalidInput(field, "give a date and time (UTC)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, f"{value!r} is not a date and time (YYYY-MM-DD HH:MM, "
                           "UTC)") from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return parsed.replace(tzinfo=UTC)


def week_start(day: datetime) -> datetime:
    """Monday 00:00 UTC of the week holding ``day``."""
    midnight = day.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=midnight.weekday())
