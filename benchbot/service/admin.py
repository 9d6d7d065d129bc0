"""The administrators' operations: customer organisations, users, catalogue entries.

Each checks that the actor is an active admin of the lab and audits what it changed in the same
transaction. A catalogue entry's plan must parse as a benchbot plan
(:func:`benchbot.plan.parse_plan`); the capabilities a bench needs to run it are derived from
the plan (:func:`benchbot.service.capabilities.plan_capabilities`), never typed in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from benchbot.bench import BUILTIN_BENCHES, builtin_bench_path, load_bench
from benchbot.plan import PlanError, parse_plan
from benchbot.service import audit
from benchbot.service.auth import normalise_email, revoke_user_sessions
from benchbot.service.capabilities import plan_capabilities
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput, NotFound, PermissionDenied, StateConflict
from benchbot.service.models import CatalogueEntry, Organisation, User, utcnow
from benchbot.service.passwords import generate_password, hash_password
from benchbot.service.states import OrganisationKind, UserRole


def _admin(session: Session, actor_id: int) -> User:
    actor = session.get(User, actor_id)
    if actor is None or not actor.active or actor.role != UserRole.ADMIN \
            or actor.organisation.kind != OrganisationKind.LAB:
        raise PermissionDenied("only the lab's admins manage organisations, users and the "
                               "catalogue")
    return actor


# --- organisations and users ------------------------------------------------------------------

def list_organisations(session: Session) -> list[Organisation]:
    return list(session.scalars(select(Organisation).order_by(Organisation.name)))


def create_organisation(db: Database, *, actor_id: int, name: str,
                        now: datetime | None = None) -> Organisation:
    """A new customer organisation (the lab exists once, from the first start)."""
    at = now or utcnow()
    name = name.strip()
    if not name:
        raise InvalidInput("name", "give the organisation's name")
    with db.write_session() as session:
        actor = _admin(session, actor_id)
        taken = session.scalar(select(func.count()).select_from(Organisation).where(
            func.lower(Organisation.name) == name.lower()))
        if taken:
            raise StateConflict(f"an organisation named {name!r} exists already")
        org = Organisation(name=name, kind=OrganisationKind.CUSTOMER.value, created_at=at)
        session.add(org)
        session.flush()
        audit.record(session, action="organisation.create", user=actor,
                     organisation_id=org.id, object_type="organisation", object_id=org.id,
                     at=at, detail={"name": name})
        return org


def list_users(session: Session, organisation_id: int | None = None) -> list[User]:
    query = select(User).order_by(User.email)
    if organisation_id is not None:
        query = query.where(User.organisation_id == organisation_id)
    return list(session.scalars(query))


def create_user(db: Database, *, actor_id: int, email: str, role: UserRole,
                organisation_id: int, display_name: str = "", password: str | None = None,
                now: datetime | None = None) -> tuple[User, str | None]:
    """A new user; customers belong to a customer organisation, engineers and admins to the
    lab. Returns the user and the generated password (None when one was given)."""
    at = now or utcnow()
    address = normalise_email(email)
    generated = None if password is not None else generate_password()
    password_hash = hash_password(password if password is not None else generated or "",
                                  "password")
    with db.write_session() as session:
        actor = _admin(session, actor_id)
        org = session.get(Organisation, organisation_id)
        if org is None:
            raise InvalidInput("organisation_id", f"no organisation {organisation_id}")
        wanted = OrganisationKind.CUSTOMER if role == UserRole.CUSTOMER else OrganisationKind.LAB
        if org.kind != wanted:
            raise InvalidInput("role", f"a {role} belongs to "
                               + ("a customer organisation" if wanted is
                                  OrganisationKind.CUSTOMER else "the lab"))
        if session.scalar(select(func.count()).select_from(User).where(User.email == address)):
            raise StateConflict(f"a user with e-mail {address} exists already")
        user = User(organisation_id=org.id, email=address, password_hash=password_hash,
                    role=UserRole(role).value, display_name=display_name.strip(),
                    created_at=at)
        session.add(user)
        session.flush()
        audit.record(session, action="user.create", user=actor, organisation_id=org.id,
                     object_type="user", object_id=user.id, at=at,
                     detail={"email": address, "role": user.role,
                             "password": "generated" if generated else "given"})
        return user, generated


def update_user(db: Database, *, actor_id: int, user_id: int, display_name: str | None = None,
                active: bool | None = None, now: datetime | None = None) -> User:
    """Rename or (de)activate a user; deactivation ends every session and token at once."""
    at = now or utcnow()
    with db.write_session() as session:
        actor = _admin(session, actor_id)
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("user", user_id)
        changes: dict[str, object] = {}
        if display_name is not None and display_name.strip() != user.display_name:
            user.display_name = changes["display_name"] = display_name.strip()
        if active is not None and active != user.active:
            if user.id == actor.id and not active:
                raise StateConflict("an admin cannot deactivate their own account")
            user.active = changes["active"] = active
            if not active:
                changes["sessions_ended"] = revoke_user_sessions(session, user.id,
                                                                 "user deactivated", at)
        if changes:
            audit.record(session, action="user.update", user=actor,
                         organisation_id=user.organisation_id, object_type="user",
                         object_id=user.id, at=at, detail=changes)
        return user


# --- catalogue --------------------------------------------------------------------------------

def plan_requirements(plan_text: str, file_name: str) -> list[str]:
    """The capabilities a bench needs to run the plan; InvalidInput naming ``plan_text`` with
    every problem if it is not a valid benchbot plan."""
    try:
        plan = parse_plan(plan_text, source=file_name)
    except PlanError as exc:
        raise InvalidInput("plan_text", f"not a valid benchbot plan: {exc}") from None
    bench = None
    if plan.bench in BUILTIN_BENCHES:
        bench = load_bench(builtin_bench_path(plan.bench))
    try:
        return plan_capabilities(plan, bench)
    except ValueError as exc:
        raise InvalidInput("plan_text", str(exc)) from None


def list_catalogue_entries(session: Session) -> list[CatalogueEntry]:
    """Every entry, inactive ones included (the admins' view)."""
    return list(session.scalars(select(CatalogueEntry).order_by(CatalogueEntry.name)))


def create_catalogue_entry(db: Database, *, actor_id: int, name: str, description: str,
                           plan_file_name: str, plan_text: str, duration_estimate_min: int,
                           now: datetime | None = None) -> CatalogueEntry:
    """A new bookable service from a plan (validated, its capabilities derived)."""
    at = now or utcnow()
    name = name.strip()
    if not name:
        raise InvalidInput("name", "give the service's name")
    required = plan_requirements(plan_text, plan_file_name)
    with db.write_session() as session:
        actor = _admin(session, actor_id)
        if session.scalar(select(func.count()).select_from(CatalogueEntry)
                          .where(CatalogueEntry.name == name)):
            raise StateConflict(f"a catalogue entry named {name!r} exists already")
        entry = CatalogueEntry(name=name, description=description.strip(),
                               plan_file_name=plan_file_name, plan_text=plan_text,
                               required_capabilities=required,
                               duration_estimate_min=duration_estimate_min,
                               created_at=at, updated_at=at)
        session.add(entry)
        session.flush()
        audit.record(session, action="catalogue.create", user=actor,
                     organisation_id=actor.organisation_id, object_type="catalogue_entry",
                     object_id=entry.id, at=at,
                     detail={"name": name, "required_capabilities": required,
                             "duration_estimate_min": duration_estimate_min})
        return entry


def update_catalogue_entry(db: Database, *, actor_id: int, entry_id: int,
                           changes: dict[str, object], now: datetime | None = None
                           ) -> CatalogueEntry:
    """Change an entry's description, plan (re-validated, capabilities derived anew),
    duration or availability (``active``)."""
    at = now or utcnow()
    allowed = {"description", "plan_file_name", "plan_text", "duration_estimate_min", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(sorted(unknown)[0], "cannot be changed")
    with db.write_session() as session:
        actor = _admin(session, actor_id)
        entry = session.get(CatalogueEntry, entry_id)
        if entry is None:
            raise NotFound("catalogue entry", entry_id)
        values = {k: v for k, v in changes.items() if v is not None}
        if "plan_text" in values or "plan_file_name" in values:
            text = str(values.get("plan_text", entry.plan_text))
            values["required_capabilities"] = plan_requirements(
                text, str(values.get("plan_file_name", entry.plan_file_name)))
        for key, value in values.items():
            setattr(entry, key, value)
        entry.updated_at = at
        audit.record(session, action="catalogue.update", user=actor,
                     organisation_id=actor.organisation_id, object_type="catalogue_entry",
                     object_id=entry.id, at=at,
                     detail={k: v for k, v in values.items() if k != "plan_text"}
                     | ({"plan_text": "changed"} if "plan_text" in values else {}))
        return entry
