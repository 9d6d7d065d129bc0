"""The admins' pages: customer organisations and users (lists and create forms) and the audit
log. Engineers and customers get the 403 page. The operations are :mod:`admin`'s, audited in
the same transaction as the change; a generated initial password is shown once, on the page
that answers the form, and never again.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from benchbot.service import admin
from benchbot.service.api_admin import audit_log
from benchbot.service.api_deps import Admin, Db
from benchbot.service.api_models import MAX_DB_INT
from benchbot.service.auth import Principal
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput, StateConflict
from benchbot.service.pages_kit import FormErrors, PageRoute, form_int, redirect, render
from benchbot.service.queries import MAX_LIST
from benchbot.service.states import UserRole

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Text = Annotated[str, Form()]
EMAIL = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+$")
ACTION_FILTER = re.compile(r"^[a-z_.]{1,100}$")
AUDIT_PAGE = 100


# --- organisations ----------------------------------------------------------------------------

@router.get("/admin/organisations")
def organisations(request: Request, me: Admin, db: Db, done: str = "") -> Response:
    notice = "Organisation created." if done == "created" else ""
    return _organisations_page(request, me, db, FormErrors(), {}, notice=notice)


def _organisations_page(request: Request, me: Principal, db: Database, errors: FormErrors,
                        values: dict[str, str], *, notice: str = "", status_code: int = 200
                        ) -> Response:
    with db.session() as session:
        rows = [(o, len(o.users)) for o in admin.list_organisations(session)]
    return render(request, "admin_organisations.html", {
        "organisations": rows, "errors": errors, "values": values, "notice": notice},
        me=me, status_code=status_code)


@router.post("/admin/organisations")
def create_organisation(request: Request, me: Admin, db: Db, name: Text = "") -> Response:
    errors = FormErrors()
    try:
        if len(name) > 200 or "\x00" in name:
            raise InvalidInput("name", "at most 200 characters")
        admin.create_organisation(db, actor_id=me.user_id, name=name)
    except InvalidInput as exc:
        errors.add(exc)
    except StateConflict as exc:
        errors["name"] = str(exc)
    if errors:
        return _organisations_page(request, me, db, errors, {"name": name}, status_code=422)
    return redirect("/admin/organisations?done=created")


# --- users ------------------------------------------------------------------------------------

@router.get("/admin/users")
def users(request: Request, me: Admin, db: Db) -> Response:
    return _users_page(request, me, db, FormErrors(), {"role": "customer"})


def _users_page(request: Request, me: Principal, db: Database, errors: FormErrors,
                values: dict[str, str], *, created: dict[str, str] | None = None,
                status_code: int = 200) -> Response:
    with db.session() as session:
        rows = admin.list_users(session)
        people = [(u, u.organisation.name) for u in rows]
        orgs = admin.list_organisations(session)
    return render(request, "admin_users.html", {
        "users": people, "organisations": orgs, "roles": [r.value for r in UserRole],
        "errors": errors, "values": values, "created": created}, me=me,
        status_code=status_code)


@router.post("/admin/users")
def create_user(request: Request, me: Admin, db: Db, email: Text = "", display_name: Text = "",
                role: Text = "", organisation_id: Text = "", password: Text = "") -> Response:
    """A new user; without a password a random one is generated and shown on this page only."""
    values = {"email": email, "display_name": display_name, "role": role,
              "organisation_id": organisation_id}
    errors = FormErrors()
    try:
        if not EMAIL.match(email.strip()) or len(email) > 320:
            raise InvalidInput("email", "give an e-mail address (name@domain)")
        if role not in {r.value for r in UserRole}:
            raise InvalidInput("role", "choose customer, engineer or admin")
        org = form_int("organisation_id", organisation_id, low=1, high=MAX_DB_INT)
        if len(display_name) > 200:
            raise InvalidInput("display_name", "at most 200 characters")
        user, generated = admin.create_user(
            db, actor_id=me.user_id, email=email, role=UserRole(role), organisation_id=org,
            display_name=display_name, password=password or None)
    except InvalidInput as exc:
        errors.add(exc)
    except StateConflict as exc:
        errors["email"] = str(exc)
    if errors:
        return _users_page(request, me, db, errors, values, status_code=422)
    created = {"email": user.email, "password": generated or ""}
    return _users_page(request, me, db, FormErrors(), {"role": "customer"}, created=created,
                       status_code=201)


# --- the audit log ----------------------------------------------------------------------------

@router.get("/admin/audit")
def audit(request: Request, me: Admin, db: Db, action: str = "",
          before: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None) -> Response:
    """Who did what, newest first (100 a page); filter by action, or a prefix ending in '.'."""
    errors = FormErrors()
    wanted = action.strip() or None
    if wanted is not None and not ACTION_FILTER.match(wanted):
        errors["action"] = "lower-case letters, '_' and '.' only (e.g. booking. or login.failure)"
        wanted = None
    entries = audit_log(principal=me, db=db, action=wanted, organisation_id=None,
                        before_id=before, limit=min(AUDIT_PAGE, MAX_LIST))
    older = entries[-1].id if len(entries) == AUDIT_PAGE else None
    return render(request, "admin_audit.html", {
        "entries": entries, "action": action, "errors": errors, "older": older}, me=me,
        status_code=422 if errors else 200)
