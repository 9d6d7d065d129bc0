"""Administration: customer organisations, users, the service catalogue and the audit log.

``GET /api/catalogue`` is the lab's public offer (no sign-in); everything else here is for
lab admins. Catalogue plans are validated as benchbot plans and their capabilities derived.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from sqlalchemy import select

from benchbot.service import admin, queries
from benchbot.service.api_deps import Admin, Db
from benchbot.service.api_models import (
    MAX_DB_INT,
    AuditEntryOut,
    CatalogueEntryAdminOut,
    CatalogueEntryIn,
    CatalogueEntryOut,
    CatalogueEntryPatch,
    OrganisationIn,
    OrganisationOut,
    UserCreatedOut,
    UserIn,
    UserOut,
    UserPatch,
    error_responses,
)
from benchbot.service.api_views import audit_out, user_out
from benchbot.service.errors import NotFound
from benchbot.service.models import AuditEntry, Organisation, User

router = APIRouter(tags=["administration"])

DbIdPath = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
OptionalDbId = Annotated[int | None, Query(ge=1, le=MAX_DB_INT)]


# --- catalogue -------------------------------------------------------------------------------

@router.get("/api/catalogue", response_model=list[CatalogueEntryOut], tags=["catalogue"])
def catalogue(db: Db) -> list[CatalogueEntryOut]:
    """The services that can be booked (active catalogue entries); no sign-in needed."""
    with db.session() as session:
        return [CatalogueEntryOut.model_validate(e) for e in queries.list_catalogue(session)]


@router.get("/api/catalogue/entries", response_model=list[CatalogueEntryAdminOut],
            tags=["catalogue"], responses=error_responses(401, 403))
def catalogue_entries(principal: Admin, db: Db) -> list[CatalogueEntryAdminOut]:
    """Every catalogue entry with its plan, inactive ones included."""
    with db.session() as session:
        return [CatalogueEntryAdminOut.model_validate(e)
                for e in admin.list_catalogue_entries(session)]


@router.post("/api/catalogue", response_model=CatalogueEntryAdminOut, tags=["catalogue"],
             status_code=status.HTTP_201_CREATED, responses=error_responses(401, 403, 409, 422))
def create_catalogue_entry(body: CatalogueEntryIn, principal: Admin, db: Db
                           ) -> CatalogueEntryAdminOut:
    """A new bookable service: the plan must be a valid benchbot plan; the bench
    capabilities it needs are derived from it."""
    entry = admin.create_catalogue_entry(db, actor_id=principal.user_id, **body.model_dump())
    return CatalogueEntryAdminOut.model_validate(entry)


@router.patch("/api/catalogue/{entry_id}", response_model=CatalogueEntryAdminOut,
              tags=["catalogue"], responses=error_responses(401, 403, 404, 409, 422))
def update_catalogue_entry(entry_id: DbIdPath, body: CatalogueEntryPatch, principal: Admin,
                           db: Db) -> CatalogueEntryAdminOut:
    """Change an entry's description, plan, duration, or withdraw it (``active: false``)."""
    entry = admin.update_catalogue_entry(db, actor_id=principal.user_id, entry_id=entry_id,
                                         changes=body.model_dump(exclude_unset=True))
    return CatalogueEntryAdminOut.model_validate(entry)


# --- organisations and users -------------------------------------------------------------

@router.get("/api/organisations", response_model=list[OrganisationOut],
            responses=error_responses(401, 403))
def list_organisations(principal: Admin, db: Db) -> list[OrganisationOut]:
    with db.session() as session:
        return [OrganisationOut.model_validate(o) for o in admin.list_organisations(session)]


@router.post("/api/organisations", response_model=OrganisationOut,
             status_code=status.HTTP_201_CREATED, responses=error_responses(401, 403, 409, 422))
def create_organisation(body: OrganisationIn, principal: Admin, db: Db) -> OrganisationOut:
    """A new customer organisation."""
    return OrganisationOut.model_validate(
        admin.create_organisation(db, actor_id=principal.user_id, name=body.name))


@router.get("/api/users", response_model=list[UserOut], responses=error_responses(401, 403, 422))
def list_users(principal: Admin, db: Db, organisation_id: OptionalDbId = None) -> list[UserOut]:
    with db.session() as session:
        return [user_out(u) for u in admin.list_users(session, organisation_id)]


@router.post("/api/users", response_model=UserCreatedOut, status_code=status.HTTP_201_CREATED,
             responses=error_responses(401, 403, 409, 422))
def create_user(body: UserIn, principal: Admin, db: Db) -> UserCreatedOut:
    """A new user: customers in a customer organisation, engineers and admins in the lab.
    Without ``password`` a random one is generated and shown only in this answer."""
    user, generated = admin.create_user(db, actor_id=principal.user_id, email=body.email,
                                        role=body.role, organisation_id=body.organisation_id,
                                        display_name=body.display_name, password=body.password)
    with db.session() as session:
        fresh = session.get(User, user.id)
        assert fresh is not None
        return UserCreatedOut(**user_out(fresh).model_dump(), initial_password=generated)


@router.patch("/api/users/{user_id}", response_model=UserOut,
              responses=error_responses(401, 403, 404, 409, 422))
def update_user(user_id: DbIdPath, body: UserPatch, principal: Admin, db: Db) -> UserOut:
    """Rename or (de)activate a user; deactivating ends their sessions and tokens."""
    admin.update_user(db, actor_id=principal.user_id, user_id=user_id,
                      display_name=body.display_name, active=body.active)
    with db.session() as session:
        fresh = session.get(User, user_id)
        if fresh is None:
            raise NotFound("user", user_id)
        return user_out(fresh)


# --- audit -------------------------------------------------------------------------------------

@router.get("/api/audit", response_model=list[AuditEntryOut],
            responses=error_responses(401, 403, 422))
def audit_log(principal: Admin, db: Db,
              action: Annotated[str | None, Query(max_length=100, pattern=r"^[a-z_.]+$")] = None,
              organisation_id: OptionalDbId = None,
              before_id: OptionalDbId = None,
              limit: Annotated[int, Query(ge=1, le=queries.MAX_LIST)] = 100
              ) -> list[AuditEntryOut]:
    """Who did what, newest first; filter by ``action`` (e.g. ``booking.cancel``, or a prefix
    ending in a dot: ``login.``) and organisation; page back with ``before_id``."""
    query = select(AuditEntry)
    if action is not None:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True)
                            if action.endswith(".") else AuditEntry.action == action)
    if organisation_id is not None:
        query = query.where(AuditEntry.organisation_id == organisation_id)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    with db.session() as session:
        entries = list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
        users = {row.id: row.email for row in session.execute(select(User.id, User.email))}
        organisations = {row.id: row.name for row in
                         session.execute(select(Organisation.id, Organisation.name))}
        return [audit_out(e, users, organisations) for e in entries]

