"""Rows → API models: what each response shows of a booking, run, job or audit entry.

Called inside the session that loaded the rows (relationships are read here). Bookings and
runs are shown by their public ids; a customer only ever gets their own organisation's rows
(the scoped queries see to that), so the organisation named is theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from fastapi import Response
from pydantic import TypeAdapter
from sqlalchemy import RowMapping

from benchbot.service.api_models import (
    AuditEntryOut,
    BenchOut,
    BookingDetailOut,
    BookingOut,
    CalendarSlotOut,
    CatalogueRef,
    JobOut,
    JobProgressOut,
    Out,
    RunOut,
    UserOut,
)
from benchbot.service.models import AuditEntry, Bench, Booking, Job, Run, User
from benchbot.service.run_files import resolve_run_file


def json_response(value: Out | Sequence[Out], status_code: int = 200) -> Response:
    """``value`` as the JSON answer, serialised here by pydantic. A route that returns a
    Response skips FastAPI's re-validation of its return value against ``response_model``
    (still its documented schema), which for a plain ``def`` route is one more hand-off to
    the thread pool per request: the booking routes customers poll cost ~15 % less
    (benchmarks/service_load.py)."""
    if isinstance(value, Out):
        body = value.model_dump_json().encode()
    else:
        body = _adapter(type(value[0]) if value else Out).dump_json(list(value))
    return Response(body, status_code=status_code, media_type="application/json")


@cache
def _adapter(model: type[Out]) -> TypeAdapter[list[Out]]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def booking_out(booking: Booking) -> BookingOut:
    return BookingOut(**_booking_fields(booking))


def booking_summary_out(row: RowMapping) -> BookingOut:
    """A row of :func:`queries.booking_summaries`."""
    return BookingOut(
        id=row["public_id"], status=row["status"], status_reason=row["status_reason"],
        organisation=row["organisation"],
        catalogue_entry=CatalogueRef(id=row["catalogue_entry_id"],
                                     name=row["catalogue_entry_name"]),
        dut_description=row["dut_description"], dut_quantity=row["dut_quantity"],
        requested_start=row["requested_start"], requested_end=row["requested_end"],
        bench=row["bench"], scheduled_start=row["scheduled_start"],
        scheduled_end=row["scheduled_end"], created_at=row["created_at"],
        updated_at=row["updated_at"])


def booking_detail_out(booking: Booking) -> BookingDetailOut:
    jobs = [JobProgressOut(
        state=j.state, bench=j.bench.name, progress_fraction=j.progress_fraction,
        progress_step=j.progress_step, progress_message=j.progress_message,
        progress_updated_at=j.progress_updated_at, cancel_requested=j.cancel_requested,
        created_at=j.created_at, started_at=j.started_at, ended_at=j.ended_at,
        run_id=None if j.run is None else j.run.public_id) for j in booking.jobs]
    return BookingDetailOut(**_booking_fields(booking), jobs=jobs)


def _booking_fields(b: Booking) -> dict[str, object]:
    return {
        "id": b.public_id, "status": b.status, "status_reason": b.status_reason,
        "organisation": b.organisation.name,
        "catalogue_entry": CatalogueRef(id=b.catalogue_entry.id, name=b.catalogue_entry.name),
        "dut_description": b.dut_description, "dut_quantity": b.dut_quantity,
        "requested_start": b.requested_start, "requested_end": b.requested_end,
        "bench": None if b.scheduled_bench is None else b.scheduled_bench.name,
        "scheduled_start": b.scheduled_start, "scheduled_end": b.scheduled_end,
        "created_at": b.created_at, "updated_at": b.updated_at,
    }


def run_out(run: Run, data_dir: Path) -> RunOut:
    booking = run.job.booking

    def available(stored: str | None) -> bool:
        return resolve_run_file(data_dir, booking.organisation_id, run.public_id,
                                stored) is not None

    return RunOut(
        id=run.public_id, booking_id=booking.public_id, organisation=booking.organisation.name,
        bench=run.job.bench.name, status=run.status, verdict=run.verdict,
        record_sha256=run.record_sha256, record_size_bytes=run.record_size_bytes,
        record_available=available(run.record_path),
        report_html_available=available(run.report_html_path),
        report_pdf_available=available(run.report_pdf_path),
        created_at=run.created_at, updated_at=run.updated_at)


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id, booking_id=job.booking.public_id, organisation=job.booking.organisation.name,
        bench=job.bench.name, state=job.state, agent_id=job.agent_id,
        lease_until=job.lease_until, cancel_requested=job.cancel_requested,
        progress_fraction=job.progress_fraction, progress_step=job.progress_step,
        progress_message=job.progress_message, retry_of_job_id=job.retry_of_job_id,
        state_reason=job.state_reason, created_at=job.created_at, claimed_at=job.claimed_at,
        started_at=job.started_at, ended_at=job.ended_at)


def calendar_slot_out(booking: Booking) -> CalendarSlotOut:
    assert booking.scheduled_start is not None and booking.scheduled_end is not None
    return CalendarSlotOut(booking_id=booking.public_id, organisation=booking.organisation.name,
                           status=booking.status, catalogue_entry=booking.catalogue_entry.name,
                           start=booking.scheduled_start, end=booking.scheduled_end)


def bench_out(bench: Bench, staff: bool) -> BenchOut:
    return BenchOut(id=bench.id, name=bench.name, description=bench.description,
                    capabilities=list(bench.capabilities),
                    instruments=dict(bench.instruments) if staff else None)


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, role=user.role,
                   organisation_id=user.organisation_id, organisation=user.organisation.name,
                   display_name=user.display_name, active=user.active,
                   created_at=user.created_at)


def audit_out(entry: AuditEntry, users: dict[int, str], organisations: dict[int, str]
              ) -> AuditEntryOut:
    return AuditEntryOut(
        id=entry.id, at=entry.at,
        user=None if entry.user_id is None else users.get(entry.user_id),
        organisation=None if entry.organisation_id is None
        else organisations.get(entry.organisation_id),
        action=entry.action, object_type=entry.object_type, object_id=entry.object_id,
        detail=dict(entry.detail))
