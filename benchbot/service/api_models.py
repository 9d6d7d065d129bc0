"""Request and response models of the JSON API (they are its OpenAPI document).

Requests forbid unknown fields (a misspelt key is a 422 naming it), every integer is bounded
to what the database stores, every text refuses NUL characters (PostgreSQL cannot store them)
and every time must carry its time zone. Responses show bookings and runs by their random
public ids, never by the sequential keys.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from benchbot.service.states import BookingStatus, JobState, OrganisationKind, UserRole

MAX_DB_INT = 2**31 - 1
NO_NUL = r"^[^\x00]*$"

DbId = Annotated[int, Field(ge=1, le=MAX_DB_INT)]
PublicId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                                description="a booking's or run's public id")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
LongText = Annotated[str, Field(max_length=4000, pattern=NO_NUL)]
Email = Annotated[str, Field(min_length=3, max_length=320,
                             pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]
Password = Annotated[str, Field(min_length=1, max_length=1024, pattern=NO_NUL)]


class In(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- errors ------------------------------------------------------------------------------------

class FieldError(Out):
    field: str = Field(description="the field's path: `dut_quantity`, `query.from`, ...")
    reason: str


class ErrorOut(Out):
    """Every 4xx answer: what was refused and why."""

    detail: str = Field(description="the reason, in words")
    field: str | None = Field(None, description="the field at fault (422)")
    errors: list[FieldError] | None = Field(None, description="every field at fault (422)")
    from_status: str | None = Field(None, description="current status (409, transition)")
    to_status: str | None = Field(None, description="refused status (409, transition)")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these status codes, all with :class:`ErrorOut`."""
    words = {401: "not signed in (no, unknown, expired or revoked session or token)",
             403: "the caller's role may not do this, or a browser session's CSRF token is "
                  "missing", 404: "no such object for this caller",
             409: "conflict: illegal status transition (from/to named), or the bench is "
                  "booked in that slot", 422: "invalid input (the field is named)",
             429: "too many failed logins for this address (see Retry-After)"}
    return {code: {"model": ErrorOut, "description": words[code]} for code in codes}


# --- authentication --------------------------------------------------------------------------

class LoginIn(In):
    email: Email
    password: Password


class TokenIn(LoginIn):
    name: Annotated[str, Field(max_length=200, pattern=NO_NUL)] = Field(
        "", description="what the token is for (shown in the audit log)")
    lifetime_days: int = Field(90, ge=1, le=366)


class PasswordChangeIn(In):
    current_password: Password
    new_password: Password


class MeOut(Out):
    user_id: int
    email: str
    role: UserRole
    organisation_id: int
    organisation_kind: OrganisationKind
    session_kind: Literal["browser", "api_token"]
    expires_at: datetime
    csrf_token: str | None = Field(
        None, description="browser sessions: send it as X-CSRF-Token (or the csrf_token form "
                          "field) with every POST, PUT, PATCH and DELETE")


class TokenOut(Out):
    token: str = Field(description="send as `Authorization: Bearer <token>`; shown only now")
    expires_at: datetime


class PasswordChangedOut(Out):
    sessions_ended: int


# --- catalogue and benches -------------------------------------------------------------------

class CatalogueEntryOut(Out):
    id: int
    name: str
    description: str
    plan_file_name: str
    required_capabilities: list[str]
    duration_estimate_min: int


class CatalogueEntryAdminOut(CatalogueEntryOut):
    active: bool
    plan_text: str
    created_at: datetime
    updated_at: datetime


class CatalogueEntryIn(In):
    name: Name
    description: LongText = ""
    plan_file_name: Annotated[str, Field(min_length=1, max_length=255,
                                         pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*\.ya?ml$")]
    plan_text: Annotated[str, Field(min_length=1, max_length=200_000, pattern=NO_NUL)]
    duration_estimate_min: int = Field(ge=1, le=100_000)


class CatalogueEntryPatch(In):
    description: LongText | None = None
    plan_file_name: Annotated[str, Field(min_length=1, max_length=255,
                                         pattern=r"^[A-Za-z0-9][A-Za-z0-9._ -]*\.ya?ml$")] \
        | None = None
    plan_text: Annotated[str, Field(min_length=1, max_length=200_000, pattern=NO_NUL)] \
        | None = None
    duration_estimate_min: int | None = Field(None, ge=1, le=100_000)
    active: bool | None = None


class BenchOut(Out):
    id: int
    name: str
    description: str
    capabilities: list[str]
    instruments: dict[str, Any] | None = Field(
        None, description="the instrument inventory (lab staff only)")


# --- bookings ----------------------------------------------------------------------------------

class BookingIn(In):
    catalogue_entry_id: DbId
    dut_description: Annotated[str, Field(min_length=1, max_length=4000, pattern=NO_NUL)]
    dut_quantity: int = Field(ge=1, le=1000)
    window_start: AwareDatetime
    window_end: AwareDatetime


class ScheduleIn(In):
    bench_id: DbId | None = Field(None, description="only this bench (default: any capable)")
    start: AwareDatetime | None = Field(None, description="exactly this start (default: the "
                                                          "earliest free slot)")


class CancelIn(In):
    reason: Annotated[str, Field(min_length=1, max_length=2000, pattern=NO_NUL)]


class CatalogueRef(Out):
    id: int
    name: str


class JobProgressOut(Out):
    """A job of a booking as its customer sees it."""

    state: JobState
    bench: str
    progress_fraction: float | None
    progress_step: str | None
    progress_message: str | None
    progress_updated_at: datetime | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    run_id: str | None = Field(None, description="public id of the run it produced")


class BookingOut(Out):
    id: str = Field(description="the booking's public id")
    status: BookingStatus
    status_reason: str | None
    organisation: str = Field(description="the booking's organisation (for a customer: "
                                          "their own)")
    catalogue_entry: CatalogueRef
    dut_description: str
    dut_quantity: int
    requested_start: datetime
    requested_end: datetime
    bench: str | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    created_at: datetime
    updated_at: datetime


class BookingDetailOut(BookingOut):
    jobs: list[JobProgressOut]


# --- runs ------------------------------------------------------------------------------------

class RunOut(Out):
    id: str = Field(description="the run's public id")
    booking_id: str
    organisation: str
    bench: str
    status: str
    verdict: str | None
    record_sha256: str | None
    record_size_bytes: int | None
    record_available: bool
    report_html_available: bool
    report_pdf_available: bool
    created_at: datetime
    updated_at: datetime


# --- lab: calendar, jobs, decisions ---------------------------------------------------------

class CalendarSlotOut(Out):
    booking_id: str
    organisation: str
    status: BookingStatus
    catalogue_entry: str
    start: datetime
    end: datetime


class CalendarOut(Out):
    bench_id: int
    bench: str
    start: datetime = Field(description="the query's `from`")
    end: datetime = Field(description="the query's `to`")
    slots: list[CalendarSlotOut]


class JobOut(Out):
    id: int
    booking_id: str
    organisation: str
    bench: str
    state: JobState
    agent_id: str | None
    lease_until: datetime | None
    cancel_requested: bool
    progress_fraction: float | None
    progress_step: str | None
    progress_message: str | None
    retry_of_job_id: int | None
    state_reason: str | None
    created_at: datetime
    claimed_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None


class DecisionIn(In):
    decision: Literal["retry", "fail"] = Field(
        description="retry: close the lost job and queue a new one linked to it; fail: close "
                    "it and mark the booking failed")
    reason: Annotated[str, Field(min_length=1, max_length=2000, pattern=NO_NUL)]


class DecisionOut(Out):
    job: JobOut
    new_job: JobOut | None
    booking: BookingOut


# --- administration -------------------------------------------------------------------------

class OrganisationIn(In):
    name: Name
    kind: Literal["customer"] = "customer"


class OrganisationOut(Out):
    id: int
    name: str
    kind: OrganisationKind
    created_at: datetime


class UserIn(In):
    email: Email
    role: UserRole
    organisation_id: DbId
    display_name: Annotated[str, Field(max_length=200, pattern=NO_NUL)] = ""
    password: Annotated[str, Field(min_length=12, max_length=1024, pattern=NO_NUL)] | None = \
        Field(None, description="the initial password (default: a random one, shown once)")


class UserPatch(In):
    display_name: Annotated[str, Field(max_length=200, pattern=NO_NUL)] | None = None
    active: bool | None = Field(None, description="false ends every session and token of the "
                                                  "user")


class UserOut(Out):
    id: int
    email: str
    role: UserRole
    organisation_id: int
    organisation: str
    display_name: str
    active: bool
    created_at: datetime


class UserCreatedOut(UserOut):
    initial_password: str | None = Field(None, description="the generated password, shown once")


class AuditEntryOut(Out):
    id: int
    at: datetime
    user: str | None = Field(description="the acting user's e-mail")
    organisation: str | None
    action: str
    object_type: str | None
    object_id: int | None
    detail: dict[str, Any]
