"""Bookings over the API on SQLite and PostgreSQL: a customer books, the lab confirms and
schedules (earliest slot or exact start), reschedules and cancels; refusals are clear 4xx
naming the field or the from/to statuses; the calendar; the job queue and decisions on lost
jobs (never back to the queue by themselves); every change audited."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from benchbot.service.models import AuditEntry, Booking, Job
from benchbot.service.states import BookingStatus, JobState
from tests.service._api import Api, public_id
from tests.service._helpers import hour, new_booking


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _book(api: Api, start_h: float = 0, end_h: float = 8, quantity: int = 1) -> dict:
    response = api.customer_a.post("/api/bookings", json={
        "catalogue_entry_id": api.lab.entry_id, "dut_description": "BB-PA-N78-01 on EVB rev B",
        "dut_quantity": quantity, "window_start": hour(start_h).isoformat(),
        "window_end": hour(end_h).isoformat()})
    assert response.status_code == 201, response.text
    return response.json()


def _audit(api: Api) -> list[tuple[str, int | None, int | None]]:
    with api.db.session() as s:
        return [(e.action, e.user_id, e.organisation_id) for e in
                s.scalars(select(AuditEntry).where(AuditEntry.action.like("booking.%"))
                          .order_by(AuditEntry.id))]


def test_the_booking_life_cycle_through_the_api(api: Api) -> None:
    booking = _book(api, quantity=2)
    assert booking["status"] == "requested" and booking["jobs"] == []
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", booking["id"])  # a public id, not the key
    url = f"/api/bookings/{booking['id']}"
    eng = api.engineer
    assert eng.post(f"{url}/confirm").json()["status"] == "confirmed"
    scheduled = eng.post(f"{url}/schedule", json={}).json()
    assert (scheduled["status"], scheduled["bench"]) == ("scheduled", api.lab.bench_name)
    assert _at(scheduled["scheduled_start"]) == hour(0)
    assert _at(scheduled["scheduled_end"]) == hour(1)  # 2 DUTs × 30 min
    (job,) = scheduled["jobs"]
    assert (job["state"], job["bench"], job["progress_fraction"]) == ("queued",
                                                                      api.lab.bench_name, None)
    moved = eng.post(f"{url}/reschedule", json={"start": hour(3).isoformat()}).json()
    assert _at(moved["scheduled_start"]) == hour(3)
    seen = api.customer_a.get(url).json()
    assert _at(seen["scheduled_start"]) == hour(3) and len(seen["jobs"]) == 1
    cancelled = api.customer_a.post(f"{url}/cancel", json={"reason": "DUTs not ready"}).json()
    assert (cancelled["status"], cancelled["status_reason"]) == ("cancelled", "DUTs not ready")
    assert cancelled["jobs"][0]["state"] == "aborted"
    ann, engineer = api.customer_a.me["user_id"], api.engineer.me["user_id"]
    org = api.lab.org_a
    assert _audit(api) == [("booking.request", ann, org), ("booking.confirm", engineer, org),
                           ("booking.schedule", engineer, org),
                           ("booking.reschedule", engineer, org), ("booking.cancel", ann, org)]


def test_job_progress_shows_in_the_booking(api: Api) -> None:
    booking_id = new_booking(api.db, api.lab, hour(0), hour(4))
    api.engineer.post(f"/api/bookings/{public_id(api.db, booking_id)}/schedule")
    with api.db.session() as s:
        job = s.scalars(select(Job).where(Job.booking_id == booking_id)).one()
        job.change_state(JobState.CLAIMED)
        job.change_state(JobState.RUNNING)
        job.progress_fraction, job.progress_step = 0.25, "compression"
        job.progress_message = "3.55 GHz, Pin -10 dBm"
        _set_running(s, booking_id)
    (job_out,) = api.customer_a.get(f"/api/bookings/{public_id(api.db, booking_id)}"
                                    ).json()["jobs"]
    assert (job_out["state"], job_out["progress_fraction"], job_out["progress_step"],
            job_out["progress_message"]) == ("running", 0.25, "compression",
                                              "3.55 GHz, Pin -10 dBm")


def test_bad_booking_input_is_a_422_naming_the_field(api: Api) -> None:
    good = {"catalogue_entry_id": api.lab.entry_id, "dut_description": "LNA",
            "dut_quantity": 1, "window_start": hour(0).isoformat(),
            "window_end": hour(4).isoformat()}
    cases = [
        ({"dut_quantity": 0}, "dut_quantity", "greater than or equal to 1"),
        ({"dut_quantity": "many"}, "dut_quantity", "valid integer"),
        ({"window_start": "2030-01-01T10:00:00"}, "window_start", "timezone"),
        ({"window_end": hour(-1).isoformat()}, "window_end", "must be after window_start"),
        ({"window_start": hour(-72).isoformat(), "window_end": hour(-48).isoformat()},
         "window_end", "is in the past"),
        ({"catalogue_entry_id": 424242}, "catalogue_entry_id", "no active catalogue entry"),
        ({"catalogue_entry_id": 2**40}, "catalogue_entry_id", "less than or equal"),
        ({"dut_description": "x\x00y"}, "dut_description", "pattern"),
        ({"colour": "blue"}, "colour", "Extra inputs are not permitted"),
    ]
    for change, field, reason in cases:
        response = api.customer_a.post("/api/bookings", json=good | change)
        body = response.json()
        assert response.status_code == 422, (change, body)
        assert body["field"] == field and reason in body["detail"], (change, body)
    missing = api.customer_a.post("/api/bookings", json={})
    assert {e["field"] for e in missing.json()["errors"]} == set(good)
    broken = api.customer_a.post("/api/bookings", content=b"{not json",
                                 headers={"content-type": "application/json"})
    assert broken.status_code == 422
    with api.db.session() as s:
        assert s.scalars(select(Booking)).all() == []


def test_illegal_transitions_are_409_naming_from_and_to(api: Api) -> None:
    booking = _book(api)
    url = f"/api/bookings/{booking['id']}"
    early = api.engineer.post(f"{url}/schedule")
    assert early.status_code == 409
    assert (early.json()["from_status"], early.json()["to_status"]) == ("requested",
                                                                         "scheduled")
    assert f"booking {booking['id']}: cannot go from 'requested' to 'scheduled'" in \
        early.json()["detail"]
    api.engineer.post(f"{url}/confirm")
    twice = api.engineer.post(f"{url}/confirm").json()
    assert (twice["from_status"], twice["to_status"]) == ("confirmed", "confirmed")
    resched = api.engineer.post(f"{url}/reschedule").json()
    assert "only a scheduled booking can be rescheduled" in resched["detail"]
    assert booking["id"] in resched["detail"]
    api.customer_a.post(f"{url}/cancel", json={"reason": "not needed"})
    again = api.customer_a.post(f"{url}/cancel", json={"reason": "not needed"})
    assert again.status_code == 409 and again.json()["from_status"] == "cancelled"
    empty_reason = api.customer_a.post(f"{url}/cancel", json={"reason": ""})
    assert empty_reason.status_code == 422 and empty_reason.json()["field"] == "reason"


def test_an_exact_slot_taken_is_a_409_naming_the_booking_in_the_way(api: Api) -> None:
    first, second = _book(api), _book(api)
    for b in (first, second):
        api.engineer.post(f"/api/bookings/{b['id']}/confirm")
    exact = {"start": hour(1).isoformat(), "bench_id": api.lab.bench_id}
    assert api.engineer.post(f"/api/bookings/{first['id']}/schedule", json=exact
                             ).status_code == 200
    taken = api.engineer.post(f"/api/bookings/{second['id']}/schedule", json=exact)
    assert taken.status_code == 409
    assert taken.json()["detail"] == (
        f"bench fixture-bench is booked from {hour(1):%Y-%m-%d %H:%M} to "
        f"{hour(1.5):%Y-%m-%d %H:%M} UTC by booking {first['id']}")
    bad_bench = api.engineer.post(f"/api/bookings/{second['id']}/schedule",
                                  json={"bench_id": 999999})
    assert bad_bench.status_code == 422 and bad_bench.json()["field"] == "bench_id"
    naive = api.engineer.post(f"/api/bookings/{second['id']}/schedule",
                              json={"start": "2030-01-01T10:00:00"})
    assert naive.status_code == 422 and naive.json()["field"] == "start"


def test_roles(api: Api) -> None:
    booking = _book(api)
    url = f"/api/bookings/{booking['id']}"
    for path in ("confirm", "schedule", "reschedule"):
        refused = api.customer_a.post(f"{url}/{path}", json={})
        assert refused.status_code == 403
        assert refused.json()["detail"] == ("a customer may not do this: lab engineers and "
                                            "admins only")
    assert api.customer_a.get("/api/jobs").status_code == 403
    assert api.anonymous.get("/api/bookings").status_code == 401
    assert api.anonymous.post("/api/bookings", json={}).status_code in (401, 422)
    assert api.admin.post(f"{url}/confirm").status_code == 200  # admins are staff too


def test_staff_filter_bookings_across_organisations(api: Api) -> None:
    a = new_booking(api.db, api.lab, hour(0), hour(4))
    b = new_booking(api.db, api.lab, hour(0), hour(4), customer_b=True)
    new_booking(api.db, api.lab, hour(0), hour(4), confirm=False)
    api.engineer.post(f"/api/bookings/{public_id(api.db, b)}/schedule")
    listed = api.engineer.get("/api/bookings", params={"status": ["confirmed", "scheduled"]})
    assert {x["id"] for x in listed.json()} == {public_id(api.db, a), public_id(api.db, b)}
    on_bench = api.engineer.get("/api/bookings", params={"bench": api.lab.bench_name}).json()
    assert [x["id"] for x in on_bench] == [public_id(api.db, b)]
    assert on_bench[0]["organisation"] == "Beta Microwave GmbH"
    unknown_status = api.engineer.get("/api/bookings", params={"status": "done"})
    assert unknown_status.status_code == 422 and unknown_status.json()["field"] == \
        "query.status.0"


def test_the_bench_calendar(api: Api) -> None:
    ids = [new_booking(api.db, api.lab, hour(0), hour(8), customer_b=i % 2 == 1)
           for i in range(3)]
    for booking_id in ids:
        api.engineer.post(f"/api/bookings/{public_id(api.db, booking_id)}/schedule")
    calendar = api.engineer.get(f"/api/benches/{api.lab.bench_id}/calendar", params={
        "from": hour(0.5).isoformat(), "to": hour(24).isoformat()})
    assert calendar.status_code == 200, calendar.text
    body = calendar.json()
    assert body["bench"] == api.lab.bench_name
    assert [(_at(s["start"]), s["organisation"]) for s in body["slots"]] == [
        (hour(0.5), "Beta Microwave GmbH"), (hour(1), "Alpha RF Ltd")]
    backwards = api.engineer.get(f"/api/benches/{api.lab.bench_id}/calendar", params={
        "from": hour(2).isoformat(), "to": hour(1).isoformat()})
    assert backwards.status_code == 422 and backwards.json()["field"] == "query.to"
    naive = api.engineer.get(f"/api/benches/{api.lab.bench_id}/calendar", params={
        "from": "2030-01-01T00:00:00", "to": hour(1).isoformat()})
    assert naive.status_code == 422 and naive.json()["field"] == "query.from"
    missing = api.engineer.get("/api/benches/999999/calendar", params={
        "from": hour(0).isoformat(), "to": hour(1).isoformat()})
    assert missing.status_code == 404


def _lost_job(api: Api, *, running: bool = True, customer_b: bool = False) -> tuple[int, str]:
    """A scheduled booking whose agent claimed (and started) its job, then was lost."""
    booking_id = new_booking(api.db, api.lab, hour(0), hour(4), customer_b=customer_b)
    api.engineer.post(f"/api/bookings/{public_id(api.db, booking_id)}/schedule")
    with api.db.session() as s:
        job = s.scalars(select(Job).where(Job.booking_id == booking_id)).one()
        booking = s.get(Booking, booking_id)
        assert booking is not None
        job.change_state(JobState.CLAIMED)
        if running:
            job.change_state(JobState.RUNNING)
            booking.change_status(BookingStatus.RUNNING)
        job.change_state(JobState.NEEDS_DECISION, reason="agent lost: lease expired")
        return job.id, booking.public_id


def _set_running(s: Session, booking_id: int) -> None:
    booking = s.get(Booking, booking_id)
    assert booking is not None
    booking.change_status(BookingStatus.RUNNING)


def test_a_lost_job_waits_for_a_decision_and_retry_queues_a_linked_job(api: Api) -> None:
    job_id, booking = _lost_job(api)
    queue = api.engineer.get("/api/jobs").json()
    assert [(j["id"], j["state"], j["booking_id"]) for j in queue] == [
        (job_id, "needs_decision", booking)]
    assert api.engineer.get("/api/jobs", params={"state": "queued"}).json() == []
    decided = api.engineer.post(f"/api/jobs/{job_id}/decision", json={
        "decision": "retry", "reason": "DUT found unpowered, fixture fine"})
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["job"]["state"] == "lost" and "DUT found unpowered" in body["job"]["state_reason"]
    assert body["new_job"]["state"] == "queued" and body["new_job"]["retry_of_job_id"] == job_id
    assert body["booking"]["status"] == "scheduled"
    again = api.engineer.post(f"/api/jobs/{job_id}/decision", json={"decision": "retry",
                                                                     "reason": "twice"})
    assert again.status_code == 409 and "only a job in 'needs_decision'" in again.json()["detail"]
    with api.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "job.decision")).one()
        assert entry.detail["decision"] == "retry" and entry.object_id == job_id
        assert entry.user_id == api.engineer.me["user_id"]


def test_fail_decision_marks_the_booking_failed(api: Api) -> None:
    job_id, booking = _lost_job(api, running=False, customer_b=True)
    assert api.customer_b.get(f"/api/bookings/{booking}").json()["status"] == "scheduled"
    decided = api.engineer.post(f"/api/jobs/{job_id}/decision", json={
        "decision": "fail", "reason": "DUT damaged"}).json()
    assert decided["new_job"] is None and decided["booking"]["status"] == "failed"
    seen = api.customer_b.get(f"/api/bookings/{booking}").json()
    assert seen["status"] == "failed" and "DUT damaged" in seen["status_reason"]
    assert api.engineer.get("/api/jobs").json() == []  # nothing left in the queue


def test_a_lost_job_never_returns_to_the_queue_by_itself(api: Api) -> None:
    job_id, _ = _lost_job(api)
    for _ in range(3):  # reading, listing, time passing: it stays where it is
        api.engineer.get("/api/jobs")
    with api.db.session() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.state == "needs_decision"
        assert s.scalars(select(Job).where(Job.state == "queued")).all() == []
    bad = api.engineer.post(f"/api/jobs/{job_id}/decision", json={"decision": "requeue",
                                                                  "reason": "x"})
    assert bad.status_code == 422 and bad.json()["field"] == "decision"
    assert api.engineer.post("/api/jobs/999999/decision", json={
        "decision": "fail", "reason": "x"}).status_code == 404


def test_cancel_of_a_running_booking_asks_its_job_to_abort(api: Api) -> None:
    booking_id = new_booking(api.db, api.lab, hour(0), hour(4))
    booking = public_id(api.db, booking_id)
    api.engineer.post(f"/api/bookings/{booking}/schedule")
    with api.db.session() as s:
        job = s.scalars(select(Job).where(Job.booking_id == booking_id)).one()
        job.change_state(JobState.CLAIMED)
        job.change_state(JobState.RUNNING)
        _set_running(s, booking_id)
    answer = api.customer_a.post(f"/api/bookings/{booking}/cancel",
                                 json={"reason": "wrong DUT revision"}).json()
    assert answer["status"] == "running" and answer["jobs"][0]["cancel_requested"] is True


def test_times_in_any_zone_come_back_in_utc(api: Api) -> None:
    offset = hour(0).astimezone(ZoneInfo("Asia/Tokyo"))
    made = api.customer_a.post("/api/bookings", json={
        "catalogue_entry_id": api.lab.entry_id, "dut_description": "LNA", "dut_quantity": 1,
        "window_start": offset.isoformat(), "window_end": (offset + timedelta(hours=2))
        .isoformat()}).json()
    assert made["requested_start"].endswith("Z") and _at(made["requested_start"]) == hour(0)
