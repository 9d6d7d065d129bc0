"""The booking service's server-rendered pages (Jinja2 templates, a small CSS file, a few lines
of JavaScript that refresh a running booking's progress; every page works without it).

Everyone: sign in and out. Customers: the catalogue, the booking form, their bookings with
status, bench, slot and live progress, and the run's report (HTML, PDF) and data (HDF5
record), downloaded through the API's tenancy-scoped ``/api/runs/...`` endpoints. Lab staff:
:mod:`pages_lab`; admins: :mod:`pages_admin`.

Every lookup goes through the API's scoped queries with the caller's scope, so another
organisation's booking is the same 404 page as a missing one; every form carries the session's
CSRF token, checked by the API's authentication dependency before the page's code runs (the
sign-in form, before any session exists, by a double-submit cookie).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request, Response, routing

from benchbot.plan import PlanError, parse_plan
from benchbot.service import auth, queries, scheduling
from benchbot.service.api_auth import clear_cookie, cookie_secure, current_session_id
from benchbot.service.api_bookings import public_errors
from benchbot.service.api_deps import SESSION_COOKIE, Caller, Customer, Db, Settings, scope_of
from benchbot.service.api_views import booking_detail_out, run_out
from benchbot.service.auth import CsrfRefused, LoginLocked, LoginRefused, Principal
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput
from benchbot.service.models import CatalogueEntry
from benchbot.service.pages_admin import router as admin_router
from benchbot.service.pages_kit import (
    STATIC_DIR,
    FormErrors,
    PageRoute,
    caller_or_none,
    form_int,
    form_utc,
    redirect,
    render,
    safe_next,
)
from benchbot.service.pages_lab import router as lab_router
from benchbot.service.states import BookingStatus, SessionKind

__all__ = ["STATIC_DIR", "route_keys", "router"]

router = APIRouter(route_class=PageRoute, include_in_schema=False)
LOGIN_CSRF_COOKIE = "benchbot_login_csrf"
PublicId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Text = Annotated[str, Form()]
OPEN_STATUSES = (BookingStatus.REQUESTED, BookingStatus.CONFIRMED, BookingStatus.SCHEDULED,
                 BookingStatus.RUNNING)
NOTICES = {
    "booked": "Booking sent: the lab confirms and schedules it; its status is shown here.",
    "cancel": "Cancelled (a running job is asked to stop; its bench goes to its safe state).",
    "signed-out": "Signed out.",
}


# --- signing in and out -----------------------------------------------------------------------

@router.get("/")
def home(request: Request) -> Response:
    """The caller's start page: customers their bookings, lab staff the queue."""
    me = caller_or_none(request)
    if me is None:
        return redirect("/login")
    return redirect("/lab/queue" if me.is_staff else "/bookings")


@router.get("/login")
def login_form(request: Request, settings: Settings, next: str = "/", done: str = ""
               ) -> Response:
    token = secrets.token_urlsafe(32)
    response = _login_page(request, token, safe_next(next), FormErrors(), "",
                           notice=NOTICES.get(done, ""))
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path="/login", httponly=True,
                        samesite="strict", secure=cookie_secure(request, settings))
    return response


@router.post("/login")
def login(request: Request, db: Db, settings: Settings, email: Text = "", password: Text = "",
          csrf_token: Text = "", next: Text = "/") -> Response:
    """Sign in from the form: the session cookie, then the page asked for."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        raise CsrfRefused("missing or wrong CSRF token: reload the sign-in page and try again")
    errors = FormErrors()
    if not email.strip():
        errors["email"] = "give your e-mail address"
    if not password:
        errors["password"] = "give your password"
    status = 422
    if not errors:
        try:
            issued = auth.login(db, email=email, password=password, kind=SessionKind.BROWSER,
                                settings=settings,
                                name=request.headers.get("user-agent", "")[:200],
                                replaces_session_id=current_session_id(request, db, settings))
        except InvalidInput as exc:
            errors.add(exc)
        except LoginRefused as exc:
            errors["form"], status = str(exc), 401
        except LoginLocked as exc:
            errors["form"], status = str(exc), 429
        else:
            response = redirect(safe_next(next))
            response.set_cookie(SESSION_COOKIE, issued.secret,
                                max_age=int(settings.session_absolute.total_seconds()),
                                path="/", httponly=True, samesite="lax",
                                secure=cookie_secure(request, settings))
            response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
            return response
    return _login_page(request, expected, safe_next(next), errors, email, status_code=status)


def _login_page(request: Request, token: str, next_path: str, errors: FormErrors, email: str,
                *, notice: str = "", status_code: int = 200) -> Response:
    return render(request, "login.html", {"login_csrf": token, "next": next_path,
                                          "errors": errors, "email": email, "notice": notice},
                  me=caller_or_none(request), status_code=status_code)


@router.post("/logout")
def logout(request: Request, me: Caller, db: Db, settings: Settings) -> Response:
    auth.logout(db, me)
    response = redirect("/login?done=signed-out")
    clear_cookie(response, request, settings)
    return response


# --- the catalogue and the booking form -------------------------------------------------------

@lru_cache(maxsize=64)
def plan_summary(plan_text: str) -> tuple[str, tuple[tuple[str, str, tuple[str, ...]], ...]]:
    """What a catalogue plan measures: (DUT kind, ((step, kind, limited metrics), ...))."""
    try:
        plan = parse_plan(plan_text, "catalogue entry")
    except PlanError:
        return "", ()
    steps = tuple((step.name, step.kind, tuple(sorted(getattr(step, "limits", None) or {})))
                  for step in plan.steps)
    return plan.dut.kind, steps


@router.get("/catalogue")
def catalogue(request: Request, db: Db) -> Response:
    """The bookable services: plan, what it measures, duration estimate per DUT."""
    with db.session() as session:
        entries = [(e, *plan_summary(e.plan_text)) for e in queries.list_catalogue(session)]
    return render(request, "catalogue.html", {"entries": entries}, me=caller_or_none(request))


@router.get("/book")
def booking_form(request: Request, me: Customer, db: Db,
                 entry: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> Response:
    start = (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    values = {"catalogue_entry_id": str(entry or ""), "dut_description": "",
              "dut_quantity": "1", "window_start": start.strftime("%Y-%m-%dT%H:%M"),
              "window_end": (start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")}
    return _booking_page(request, me, db, values, FormErrors())


@router.post("/book")
def book(request: Request, me: Customer, db: Db, catalogue_entry_id: Text = "",
         dut_description: Text = "", dut_quantity: Text = "", window_start: Text = "",
         window_end: Text = "") -> Response:
    """Send the booking (status requested); every field at fault is named next to it."""
    values = {"catalogue_entry_id": catalogue_entry_id, "dut_description": dut_description,
              "dut_quantity": dut_quantity, "window_start": window_start,
              "window_end": window_end}
    errors = FormErrors()
    parsed: dict[str, object] = {}
    for field, parse in (
            ("catalogue_entry_id", lambda t: form_int("catalogue_entry_id", t, low=1,
                                                      high=2**31 - 1)),
            ("dut_quantity", lambda t: form_int("dut_quantity", t, low=1,
                                                high=queries.MAX_DUT_QUANTITY)),
            ("window_start", lambda t: form_utc("window_start", t)),
            ("window_end", lambda t: form_utc("window_end", t))):
        try:
            parsed[field] = parse(values[field])
        except InvalidInput as exc:
            errors.add(exc)
    if "catalogue_entry_id" in errors:
        errors["catalogue_entry_id"] = "choose a service from the catalogue"
    if not dut_description.strip():
        errors["dut_description"] = "describe the DUT (part number, package, bias)"
    if not errors:
        try:
            with db.write_session() as session:
                booking = queries.request_booking(
                    session, organisation_id=me.organisation_id, user_id=me.user_id,
                    dut_description=dut_description, **parsed)  # type: ignore[arg-type]
                public_id = booking.public_id
            return redirect(f"/bookings/{public_id}?done=booked")
        except InvalidInput as exc:
            errors.add(exc)
    return _booking_page(request, me, db, values, errors, status_code=422)


def _booking_page(request: Request, me: Principal, db: Database, values: dict[str, str],
                  errors: FormErrors, status_code: int = 200) -> Response:
    with db.session() as session:
        entries: list[CatalogueEntry] = queries.list_catalogue(session)
    return render(request, "book.html", {"entries": entries, "values": values, "errors": errors,
                                         "max_quantity": queries.MAX_DUT_QUANTITY},
                  me=me, status_code=status_code)


# --- bookings ---------------------------------------------------------------------------------

@router.get("/bookings")
def bookings(request: Request, me: Caller, db: Db) -> Response:
    """The caller's organisation's bookings (lab staff: everyone's), newest first."""
    with db.session() as session:
        rows = [booking_detail_out(b) for b in
                queries.find_bookings(session, scope=scope_of(me), limit=200)]
    return render(request, "bookings.html", {"bookings": rows}, me=me)


def _booking_view(db: Database, me: Principal, public_id: str, data_dir: FsPath
                  ) -> dict[str, object]:
    with db.session() as session:
        booking = booking_detail_out(queries.find_booking(session, scope=scope_of(me),
                                                          public_id=public_id))
        runs = {job.run_id: run_out(queries.find_run(session, scope=scope_of(me),
                                                     public_id=job.run_id), data_dir)
                for job in booking.jobs if job.run_id}  # type: ignore[arg-type]
    live = booking.status in OPEN_STATUSES
    return {"booking": booking, "runs": runs, "live": live,
            "job": booking.jobs[-1] if booking.jobs else None,
            "cancellable": live and not any(j.cancel_requested for j in booking.jobs)}


@router.get("/bookings/{booking_id}")
def booking_page(request: Request, booking_id: PublicId, me: Caller, db: Db, done: str = ""
                 ) -> Response:
    """One booking: status, bench and slot, the running job's progress, the run's files."""
    view = _booking_view(db, me, booking_id, request.app.state.data_dir)
    return render(request, "booking.html", {**view, "notice": NOTICES.get(done, ""),
                                            "errors": FormErrors()}, me=me)


@router.get("/bookings/{booking_id}/live")
def booking_live(request: Request, booking_id: PublicId, me: Caller, db: Db) -> Response:
    """The changing part of the booking page (the page's script fetches it every few s)."""
    view = _booking_view(db, me, booking_id, request.app.state.data_dir)
    return render(request, "booking_live.html", view, me=me)


@router.post("/bookings/{booking_id}/cancel")
def cancel(request: Request, booking_id: PublicId, me: Caller, db: Db, reason: Text = ""
           ) -> Response:
    """Cancel one's own booking (staff: any): a running one's job is asked to abort."""
    with db.session() as session:
        booking = queries.find_booking(session, scope=scope_of(me), public_id=booking_id)
    if not reason.strip():
        errors = FormErrors(reason="say why (the lab sees it)")
        view = _booking_view(db, me, booking_id, request.app.state.data_dir)
        return render(request, "booking.html", {**view, "notice": "", "errors": errors},
                      me=me, status_code=422)
    with public_errors(db, booking):
        scheduling.cancel_booking(db, actor_id=me.user_id, booking_id=booking.id,
                                  reason=reason.strip())
    return redirect(f"/bookings/{booking_id}?done=cancel")


router.include_router(lab_router)
router.include_router(admin_router)


def route_keys() -> set[tuple[str, str]]:
    """Every (method, path) of the pages (their role and tenancy rules:
    tests/service/test_pages.py)."""
    return {(method, context.path) for context in routing.iter_route_contexts(router.routes)
            for method in (getattr(context, "methods", None) or set()) - {"HEAD"}}
