"""The lab's other decisions on its pages, in a real headless Chromium against a real
``benchbot serve`` (the fixtures and helpers of :mod:`tests.service.test_pages`: its own
server and fresh SQLite database for this file).

An engineer retries a lost job (its lease ran out) as a new job, and the booking page shows
both jobs; moves a scheduled booking to another slot from the queue page, and the customer
sees the new slot; cancels a scheduled booking from the queue page with a reason, which the
customer reads on the booking's page. Screenshots as in :mod:`tests.service.test_pages`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from benchbot.service.db import Database
from benchbot.service.models import Booking, Job
from benchbot.service.pages_kit import FORM_TIME
from tests.service import test_pages
from tests.service.test_pages import (
    ANN,
    BENCH,
    ENGINEER,
    Service,
    lose_its_job,
    lost_job_card,
    new_context,
    scheduled_tomorrow,
    shot,
    sign_in,
)

# the same fixtures: this file's own ``benchbot serve``, browser and people
service, browser, people = test_pages.service, test_pages.browser, test_pages.people


def jobs_of(s: Service, booking_id: str) -> list[tuple[int, str, int | None]]:
    """The booking's jobs in the database, oldest first: (id, state, retry of job id)."""
    db = Database(s.database)
    try:
        with db.session() as session:
            jobs = session.scalars(select(Job).join(Booking).where(
                Booking.public_id == booking_id).order_by(Job.id)).all()
            return [(j.id, j.state, j.retry_of_job_id) for j in jobs]
    finally:
        db.dispose()


def slot_text(start: datetime) -> str:
    """How the pages write a slot's start: ``2026-03-02 09:30``."""
    return start.strftime("%Y-%m-%d %H:%M")


def booking_as_customer(s: Service, browser: Browser, booking_id: str) -> Page:
    """Ann's view of her booking (a context of her own: close it with ``page.context``)."""
    ann = sign_in(new_context(browser, s), s, ANN)
    ann.goto(f"/bookings/{booking_id}")
    return ann


def test_a_lost_job_is_retried_as_a_new_job(people: Service, browser: Browser) -> None:
    s = people
    lab = new_context(browser, s)
    erin = sign_in(lab, s, ENGINEER)
    booking_id = scheduled_tomorrow(s, browser, erin)
    lose_its_job(s, booking_id)
    card = lost_job_card(erin, booking_id)
    card.locator("button:has-text('Retry as a new job')").click()
    expect(erin.locator(".card", has_text=booking_id).locator(".error")).to_contain_text(
        "say why")  # refused without a reason: still waiting
    erin.locator(".card", has_text=booking_id).locator("input[name=reason]").fill(
        "agent PC rebooted overnight; DUT unpowered, fixture checked")
    erin.locator(".card", has_text=booking_id).locator(
        "button:has-text('Retry as a new job')").click()
    expect(erin.locator(".notice")).to_contain_text("Decision recorded")
    expect(erin.locator(".card", has_text=booking_id)).to_have_count(0)  # decided
    (lost_id, lost_state, _), (new_id, new_state, retry_of) = jobs_of(s, booking_id)
    assert (lost_state, new_state, retry_of) == ("lost", "queued", lost_id)

    erin.goto("/lab/queue")
    expect(erin.locator("#queue-scheduled").locator(f"#b-{booking_id}")).to_be_visible()
    job_row = erin.locator("#jobs tr", has=erin.locator(f"a[href='/bookings/{booking_id}']"))
    expect(job_row.locator("td").first).to_have_text(str(new_id))  # the open job: the new one
    expect(job_row).to_contain_text("queued")

    erin.goto(f"/bookings/{booking_id}")
    live = erin.locator("#live")
    expect(live.locator("h2 .badge")).to_have_text("scheduled")
    expect(live.locator("#job")).to_contain_text("queued")
    expect(live).to_contain_text("retry after a lost job: agent PC rebooted")  # not "waits"
    expect(live).not_to_contain_text("decides whether it runs again")
    rows = live.locator("#jobs tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("lost")
    expect(rows.nth(1)).to_contain_text("queued")
    expect(rows.nth(1).locator("td").first).to_have_text("2")  # the second attempt
    expect(rows.nth(1)).to_contain_text(BENCH)  # on the same bench
    shot(s, erin, "lab-20-retried-booking")
    lab.close()


def test_a_scheduled_booking_is_moved_from_the_queue(people: Service, browser: Browser
                                                     ) -> None:
    s = people
    lab = new_context(browser, s)
    erin = sign_in(lab, s, ENGINEER)
    booking_id = scheduled_tomorrow(s, browser, erin)
    erin.goto(f"/bookings/{booking_id}")
    before = erin.inner_text("#live #slot")
    expect(erin.locator("#live .outside-window")).to_have_count(0)  # the earliest slot fits
    new_start = (datetime.now(UTC) + timedelta(days=4)).replace(hour=9, minute=30, second=0,
                                                                microsecond=0)
    assert slot_text(new_start) not in before

    erin.goto("/lab/queue")
    item = erin.locator("#queue-scheduled").locator(f"#b-{booking_id}")
    item.locator("summary:has-text('Reschedule')").click()
    item.locator("select[name=bench_id]").select_option(label=BENCH)
    past = (datetime.now(UTC) - timedelta(days=1)).strftime(FORM_TIME)
    item.locator("input[name=start]").fill(past)
    item.locator("button:has-text('Reschedule at this bench and start')").click()
    item = erin.locator("#queue-scheduled").locator(f"#b-{booking_id}")
    expect(item.locator(".field.has-error .error")).to_contain_text(" UTC is in the past")
    expect(item).to_contain_text(before.split(" – ")[0])  # not moved
    expect(item.locator("input[name=start]")).to_have_value(past)  # what was typed, kept
    expect(item.locator("select[name=bench_id] option:checked")).to_have_text(BENCH)
    shot(s, erin, "lab-21-reschedule-refused")
    item.locator("select[name=bench_id]").select_option(label=BENCH)
    item.locator("input[name=start]").fill(new_start.strftime(FORM_TIME))
    item.locator("button:has-text('Reschedule at this bench and start')").click()
    expect(erin.locator(".notice")).to_contain_text("moved")
    item = erin.locator("#queue-scheduled").locator(f"#b-{booking_id}")
    expect(item.locator(".slot")).to_contain_text(f"{BENCH} {slot_text(new_start)}")
    expect(item.locator(".slot")).to_contain_text("outside the requested window")  # 4 d out
    shot(s, erin, "lab-22-queue-rescheduled")

    erin.goto(f"/bookings/{booking_id}")
    expect(erin.locator("#live #slot")).to_contain_text(slot_text(new_start))
    expect(erin.locator("#live #bench")).to_have_text(BENCH)
    expect(erin.locator("#live #job")).to_contain_text("queued")  # the same job, moved
    assert [state for _, state, _ in jobs_of(s, booking_id)] == ["queued"]

    ann = booking_as_customer(s, browser, booking_id)
    expect(ann.locator("#live #slot")).to_contain_text(slot_text(new_start))
    expect(ann.locator("#live #slot")).to_contain_text("outside the requested window")
    expect(ann.locator("#live")).not_to_contain_text(before.split(" – ")[0])
    shot(s, ann, "lab-23-customer-sees-new-slot")
    ann.goto("/bookings")
    expect(ann.locator(f"#b-{booking_id}")).to_contain_text(slot_text(new_start))
    ann.context.close()
    lab.close()


def test_a_booking_is_cancelled_from_the_queue(people: Service, browser: Browser) -> None:
    s = people
    lab = new_context(browser, s)
    erin = sign_in(lab, s, ENGINEER)
    booking_id = scheduled_tomorrow(s, browser, erin)
    item = erin.locator("#queue-scheduled").locator(f"#b-{booking_id}")
    item.locator("button:has-text('Cancel')").click()
    item = erin.locator("#queue-scheduled").locator(f"#b-{booking_id}")
    expect(item.locator(".field.has-error .error")).to_contain_text("say why")
    reason = "bench simulated-keysight out for calibration this week"
    item.locator("input[name=reason]").fill(reason)
    item.locator("button:has-text('Cancel')").click()
    expect(erin.locator(".notice")).to_contain_text("Cancelled")
    expect(erin.locator(f"#b-{booking_id}")).to_have_count(0)  # off the queue
    assert [state for _, state, _ in jobs_of(s, booking_id)] == ["aborted"]

    erin.goto(f"/bookings/{booking_id}")
    expect(erin.locator("#live h2 .badge")).to_have_text("cancelled")
    expect(erin.locator("#live #status-reason")).to_have_text(f"Why cancelled: {reason}")
    expect(erin.locator("#live #slot")).to_contain_text("(released)")
    expect(erin.locator("#live #job")).to_have_text("not run (the booking was cancelled)")
    expect(erin.locator("form.cancel")).to_have_count(0)
    shot(s, erin, "lab-24-cancelled-booking")

    ann = booking_as_customer(s, browser, booking_id)
    expect(ann.locator("#live h2 .badge")).to_have_text("cancelled")
    expect(ann.locator("#live #status-reason")).to_have_text(f"Why cancelled: {reason}")
    shot(s, ann, "lab-25-customer-sees-cancellation")
    ann.context.close()
    lab.close()
