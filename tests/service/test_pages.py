"""The booking service's pages end to end in a real headless Chromium (Debian's, driven by
Playwright) against a real ``benchbot serve`` (uvicorn on a free loopback port, a fresh SQLite
database, the local agents on the simulated benches).

An admin creates the organisations and people through the admin pages; a customer books a
catalogue service; an engineer (a second browser context) confirms and schedules it; the local
agent runs it on the simulated bench while the customer's page shows its progress and then the
verdict; the customer downloads the PDF report and the HDF5 record (bytes and SHA-256 checked
against the API's answer). Another customer gets 404 pages for the booking and its files; the
engineer's calendar shows the slot; an unknown address is the HTML 404 page (the API keeps its
JSON 404); a bad field is named next to it; a POST without the CSRF token is refused; a lost
job is decided on its page (the lab's other decisions: test_pages_lab.py).

Screenshots (1280x900 PNG) of each main page go to a folder under pytest's tmp_path, printed
at the end, and are copied to ``$BENCHBOT_PAGES_SCREENSHOTS`` when it names a folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from sqlalchemy import select

from benchbot.service import pages
from benchbot.service.db import Database
from benchbot.service.models import Booking, Job, utcnow
from benchbot.service.pages_kit import safe_next
from benchbot.service.seed import ADMIN_EMAIL, ADMIN_PASSWORD_ENV
from benchbot.service.states import JobState
from tests.service._agent_helpers import free_port, wait_for
from tests.service._helpers import ADMIN_PASSWORD

CHROMIUM_ENV = "BENCHBOT_CHROMIUM"
SCREENSHOTS_ENV = "BENCHBOT_PAGES_SCREENSHOTS"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
SERVICE = "n78-pa-power-sweep"  # a shipped plan (seeded catalogue): a few seconds simulated
BENCH = "simulated-keysight"
PASSWORD = "page-test-password-1234"
ANN, BOB, ENGINEER = "ann@alpha.example", "bob@beta.example", "erin@benchbot.local"
TIMEOUT_MS = 30_000
LOST_AGENT = "bench-pc-7/4242"  # the agent that claimed a job and went silent


@dataclass
class Service:
    """The running ``benchbot serve``, its database, and where screenshots go."""

    url: str
    database: Path
    shots: Path
    log: Path
    passwords: dict[str, str] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)


def chromium_path() -> str:
    """Debian's Chromium (``$BENCHBOT_CHROMIUM`` or on the PATH): the test fails without it."""
    found = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium")
    if not found:
        pytest.fail("Chromium is not installed: apt-get install chromium (Debian's package; "
                    f"or set ${CHROMIUM_ENV})", pytrace=False)
    return found


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``benchbot serve`` with its local agents, in a fresh folder (fresh SQLite database)."""
    folder = tmp_path_factory.mktemp("serve")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = folder / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "benchbot.cli", "serve", "--port", str(port)], cwd=folder,
            env={**os.environ, ADMIN_PASSWORD_ENV: ADMIN_PASSWORD}, stdout=out, stderr=out)
    shots = tmp_path_factory.mktemp("pages")
    running = Service(url, folder / "results" / "service" / "benchbot.sqlite3", shots, log,
                      {ADMIN_EMAIL: ADMIN_PASSWORD})
    try:
        wait_for(lambda: _answers(url) or server.poll() is not None, timeout_s=60)
        assert server.poll() is None, log.read_text()
        yield running
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        print(f"\npage screenshots: {shots}")
        target = os.environ.get(SCREENSHOTS_ENV)
        if target:
            shutil.copytree(shots, target, dirs_exist_ok=True)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        yield _launch(playwright)


def _launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)


def new_context(browser: Browser, service: Service, *, javascript: bool = True
                ) -> BrowserContext:
    context = browser.new_context(base_url=service.url, viewport=VIEWPORT,
                                  java_script_enabled=javascript,
                                  accept_downloads=True, locale="en-GB",
                                  timezone_id="Europe/Berlin")  # the pages say UTC
    context.set_default_timeout(TIMEOUT_MS)
    return context


def shot(service: Service, page: Page, name: str) -> None:
    page.screenshot(path=service.shots / f"{name}.png")


def sign_in(context: BrowserContext, service: Service, email: str) -> Page:
    page = context.new_page()
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", service.passwords[email])
    page.click("button[type=submit]:has-text('Sign in')")
    expect(page.locator(".who")).to_contain_text(email)
    return page


def choose_service(page: Page) -> None:
    """Pick :data:`SERVICE` in the booking form."""
    value = page.locator("#catalogue_entry_id option", has_text=SERVICE).get_attribute("value")
    page.select_option("#catalogue_entry_id", value=value)


def utc_minute(offset: timedelta = timedelta()) -> str:
    """A ``datetime-local`` value in UTC."""
    return (datetime.now(UTC) + offset).strftime("%Y-%m-%dT%H:%M")


# --- the people, made through the admin pages -------------------------------------------------

@pytest.fixture(scope="module")
def people(service: Service, browser: Browser) -> Service:
    """Two customer organisations with a customer each, and an engineer, created by the admin
    on the admin pages (one password generated and shown once)."""
    context = new_context(browser, service)
    page = context.new_page()
    page.goto("/admin/users")
    expect(page).to_have_url(f"{service.url}/login?next=%2Fadmin%2Fusers")
    shot(service, page, "01-login")
    page.fill("#email", ADMIN_EMAIL)
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(f"{service.url}/admin/users")  # back where it was asked for
    page.goto("/admin/organisations")
    for name in ("Alpha RF Ltd", "Beta Microwave GmbH"):
        page.fill("#name", name)
        page.click("button:has-text('Create')")
        expect(page.locator("#organisations")).to_contain_text(name)
    shot(service, page, "02-admin-organisations")
    page.goto("/admin/users")
    for email, role, organisation, password in (
            (ANN, "customer", "Alpha RF Ltd", PASSWORD),
            (ENGINEER, "engineer", "Benchbot Lab", PASSWORD),
            (BOB, "customer", "Beta Microwave GmbH", "")):
        page.fill("#email", email)
        page.fill("#display_name", email.split("@")[0].title())
        page.select_option("#role", role)
        page.select_option("#organisation_id", label=f"{organisation} "
                           f"({'lab' if organisation == 'Benchbot Lab' else 'customer'})")
        page.fill("#password", password)
        page.click("button:has-text('Create')")
        expect(page.locator("#created")).to_contain_text(email)
        service.passwords[email] = password or page.inner_text("#initial-password")
    assert len(service.passwords[BOB]) >= 12
    shot(service, page, "03-admin-users")
    page.goto("/admin/users")  # the generated password is shown once only
    assert service.passwords[BOB] not in page.content()
    context.close()
    return service


# --- the whole flow ---------------------------------------------------------------------------

def test_book_schedule_run_and_download(people: Service, browser: Browser) -> None:
    s = people
    customer = new_context(browser, s)
    ann = sign_in(customer, s, ANN)
    expect(ann).to_have_url(f"{s.url}/bookings")

    ann.goto("/catalogue")
    card = ann.locator(".service", has_text=SERVICE)
    expect(card).to_contain_text("per DUT")
    expect(card).to_contain_text("p1db_output_dbm")  # what it measures
    shot(s, ann, "04-catalogue")
    card.locator("a:has-text('Book this service')").click()
    expect(ann.locator("#catalogue_entry_id option:checked")).to_contain_text(SERVICE)
    ann.fill("#dut_description", "BB-PA-N78-01 s/n 17 on EVB rev B, Vcc 5.0 V")
    ann.fill("#dut_quantity", "1")
    ann.fill("#window_start", utc_minute())
    ann.fill("#window_end", utc_minute(timedelta(days=2)))
    ann.click("button:has-text('Send the booking')")
    expect(ann.locator("#live")).to_contain_text("requested")
    booking_id = ann.url.split("/bookings/")[1].split("?")[0]
    s.done["booking"] = booking_id
    shot(s, ann, "05-booking-requested")

    lab = new_context(browser, s)
    erin = sign_in(lab, s, ENGINEER)
    expect(erin).to_have_url(f"{s.url}/lab/queue")
    item = erin.locator(f"#b-{booking_id}")
    expect(erin.locator("#queue-requested")).to_contain_text("Alpha RF Ltd")
    item.locator("button:has-text('Confirm')").click()
    expect(erin.locator("#queue-confirmed").locator(f"#b-{booking_id}")).to_be_visible()
    shot(s, erin, "06-lab-queue")
    item.locator("select[name=bench_id]").select_option(label=BENCH)
    _wait_clear_of_minute_end()
    item.locator("input[name=start]").fill(utc_minute())
    ann.goto(f"/bookings/{booking_id}")  # open before the run starts: the script follows it
    item.locator("button:has-text('at this bench and start')").click()
    expect(erin.locator("#queue-scheduled").locator(f"#b-{booking_id}")).to_contain_text(BENCH)

    expect(ann.locator("#live")).to_contain_text("running", timeout=60_000)
    expect(ann.locator("#live .bar")).to_be_visible()
    expect(ann.locator("#live .step")).not_to_be_empty()
    progress = ann.inner_text("#live .fraction")
    assert progress.endswith("%"), progress
    shot(s, ann, "07-booking-running")
    expect(ann.locator("#live")).to_contain_text("completed", timeout=90_000)
    expect(ann.locator("#live .verdict-pass")).to_have_text("PASS")
    assert ann.locator("#live[data-refresh]").count() == 0  # the script stopped refreshing
    expect(ann.locator("form.cancel")).to_have_count(0)  # and loaded the page again
    shot(s, ann, "08-booking-completed")

    run_id = ann.locator("#live .run").get_attribute("id").removeprefix("run-")  # type: ignore
    s.done["run"] = run_id
    api_run = customer.request.get(f"/api/runs/{run_id}").json()
    assert ann.inner_text(f"#sha256-{run_id}") == api_run["record_sha256"]
    pdf = _download(ann, "Report (PDF)")
    assert pdf.startswith(b"%PDF-")
    record = _download(ann, "Data (HDF5 record")
    assert record.startswith(b"\x89HDF\r\n\x1a\n")
    assert hashlib.sha256(record).hexdigest() == api_run["record_sha256"]
    assert len(record) == api_run["record_size_bytes"]
    with ann.expect_popup() as popup:
        ann.click("text=Report (HTML)")
    expect(popup.value.locator("body")).to_contain_text(SERVICE)
    popup.value.close()

    ann.goto("/bookings")
    row = ann.locator(f"#b-{booking_id}")
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text(BENCH)
    expect(row).to_contain_text("UTC")
    shot(s, ann, "09-my-bookings")

    _engineer_sees_the_slot_and_the_run(s, erin, booking_id, run_id)
    customer.close()
    lab.close()


def _wait_clear_of_minute_end() -> None:
    """A start typed as this minute must not have become 'more than a minute ago' by the time
    the form arrives: start typing early in a minute (waits at most 5 s)."""
    while datetime.now(UTC).second >= 55:
        time.sleep(0.2)


def _download(page: Page, link_text: str) -> bytes:
    with page.expect_download() as info:
        page.click(f"#live a:has-text('{link_text}')")
    path = info.value.path()
    return Path(path).read_bytes()


def _engineer_sees_the_slot_and_the_run(s: Service, erin: Page, booking_id: str,
                                        run_id: str) -> None:
    erin.goto("/lab/calendar")
    erin.select_option("#bench", label=BENCH)
    erin.click("button:has-text('Show')")
    block = erin.locator(f".week a.block[href='/bookings/{booking_id}']")
    expect(block).to_contain_text("Alpha RF Ltd")
    expect(block).to_contain_text("completed")
    expect(erin.locator("#slots")).to_contain_text(SERVICE)
    shot(s, erin, "10-lab-calendar")
    erin.goto("/lab/runs")
    expect(erin.locator(f"#run-{run_id}")).to_contain_text("PASS")
    shot(s, erin, "11-lab-runs")


# --- tenancy, roles, CSRF, bad input ----------------------------------------------------------

def test_another_customer_gets_not_found_pages(people: Service, browser: Browser) -> None:
    s = people
    if "run" not in s.done:
        pytest.fail("needs the booking and run of test_book_schedule_run_and_download")
    context = new_context(browser, s)
    bob = sign_in(context, s, BOB)
    expect(bob.locator("#bookings")).not_to_contain_text(SERVICE)
    answer = bob.goto(f"/bookings/{s.done['booking']}")  # the URL typed by hand
    assert answer is not None and answer.status == 404
    expect(bob.locator("h1")).to_contain_text("404")
    shot(s, bob, "12-not-found")
    theirs = bob.inner_text(".lead").replace(s.done["booking"], "ID")
    missing = bob.goto("/bookings/NoSuchBookingAtAll0000")
    assert missing is not None and missing.status == 404
    assert bob.inner_text(".lead").replace("NoSuchBookingAtAll0000", "ID") == theirs  # no oracle
    for path in (f"/bookings/{s.done['booking']}/live", f"/api/runs/{s.done['run']}",
                 f"/api/runs/{s.done['run']}/report.pdf", f"/api/runs/{s.done['run']}/record"):
        assert context.request.get(path).status == 404, path
    refused = context.request.post(f"/bookings/{s.done['booking']}/cancel",
                                   form={"reason": "not mine", "csrf_token": _csrf(bob)})
    assert refused.status == 404
    for path in ("/lab/queue", "/lab/calendar", "/lab/runs", "/lab/decisions", "/admin/users"):
        assert context.request.get(path).status == 403, path
    context.close()


def test_an_unknown_address_is_the_not_found_page(people: Service, browser: Browser) -> None:
    """A page address nobody serves: the HTML 404 page with the caller's navigation (or the
    sign-in link); under /api the API's JSON 404 stays."""
    s = people
    context = new_context(browser, s)
    ann = sign_in(context, s, ANN)
    answer = ann.goto("/bookings-of-last-year?page=2")
    assert answer is not None and answer.status == 404
    assert answer.headers["content-type"].startswith("text/html")
    expect(ann.locator("h1")).to_have_text("404 · Not found")
    expect(ann.locator(".lead")).to_contain_text("no page at /bookings-of-last-year")
    expect(ann.locator("nav a[href='/bookings']")).to_have_text("My bookings")  # signed in
    expect(ann.locator(".who")).to_contain_text(ANN)
    shot(s, ann, "17-unknown-address")
    for path in ("/api/no-such-endpoint", "/api/bookings/x/y/z", "/api"):
        api = context.request.get(path)
        assert api.status == 404, path
        assert api.headers["content-type"] == "application/json", path
        assert api.json() == {"detail": "Not Found"}, path
    anonymous = new_context(browser, s)
    page = anonymous.new_page()
    answer = page.goto("/lab/nothing-here")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_contain_text("404")
    expect(page.locator(".who a[href='/login']")).to_have_text("Sign in")
    anonymous.close()
    context.close()


# how each page keeps organisations and roles apart (a page added without a rule fails below)
PUBLIC, OWN, CUSTOMER, SCOPED_LIST, SCOPED, STAFF, ADMIN = (
    "public", "own session", "customers only", "lists the caller's organisation",
    "one booking, found in the caller's organisation (else 404)", "lab staff", "lab admins")
PAGE_RULES: dict[tuple[str, str], str] = {
    ("GET", "/"): PUBLIC, ("GET", "/login"): PUBLIC, ("POST", "/login"): PUBLIC,
    ("GET", "/catalogue"): PUBLIC, ("POST", "/logout"): OWN,
    ("GET", "/book"): CUSTOMER, ("POST", "/book"): CUSTOMER,
    ("GET", "/bookings"): SCOPED_LIST,
    ("GET", "/bookings/{booking_id}"): SCOPED, ("GET", "/bookings/{booking_id}/live"): SCOPED,
    ("POST", "/bookings/{booking_id}/cancel"): SCOPED,
    ("GET", "/lab/queue"): STAFF, ("GET", "/lab/calendar"): STAFF, ("GET", "/lab/runs"): STAFF,
    ("GET", "/lab/decisions"): STAFF, ("POST", "/lab/bookings/{booking_id}/confirm"): STAFF,
    ("POST", "/lab/bookings/{booking_id}/schedule"): STAFF,
    ("POST", "/lab/bookings/{booking_id}/reschedule"): STAFF,
    ("POST", "/lab/bookings/{booking_id}/cancel"): STAFF,
    ("POST", "/lab/jobs/{job_id}/decision"): STAFF,
    ("GET", "/admin/users"): ADMIN, ("POST", "/admin/users"): ADMIN,
    ("GET", "/admin/organisations"): ADMIN, ("POST", "/admin/organisations"): ADMIN,
    ("GET", "/admin/audit"): ADMIN,
}


def test_every_page_checks_the_role(people: Service, browser: Browser) -> None:
    """Every page has a rule; another organisation's customer gets the 404 page for each
    scoped one and the 403 page for the lab's, an engineer the 403 page for the admins'."""
    s = people
    assert pages.route_keys() == set(PAGE_RULES)
    booking_id = s.done.get("booking") or _requested_booking(s, browser)
    contexts = {who: new_context(browser, s) for who in (BOB, ENGINEER)}
    tokens = {who: _csrf(sign_in(context, s, who)) for who, context in contexts.items()}
    checked = 0
    for (method, path), rule in sorted(PAGE_RULES.items()):
        who, expected = {SCOPED: (BOB, 404), STAFF: (BOB, 403), ADMIN: (ENGINEER, 403)}.get(
            rule, (None, None))
        if who is None:
            continue
        url = path.replace("{booking_id}", booking_id).replace("{job_id}", "1")
        request = contexts[who].request
        answer = (request.get(url) if method == "GET" else
                  request.post(url, form={"csrf_token": tokens[who], "reason": "probe"}))
        assert answer.status == expected, (method, path, answer.status)
        assert answer.headers["content-type"].startswith("text/html"), (method, path)
        checked += 1
    assert checked == sum(r in (SCOPED, STAFF, ADMIN) for r in PAGE_RULES.values())
    for context in contexts.values():
        context.close()


def _requested_booking(s: Service, browser: Browser) -> str:
    context = new_context(browser, s)
    ann = sign_in(context, s, ANN)
    ann.goto("/book")
    choose_service(ann)
    ann.fill("#dut_description", "BB-PA-N78-01 s/n 19")
    ann.click("button:has-text('Send the booking')")
    expect(ann.locator("#live")).to_contain_text("requested")
    booking_id = ann.url.split("/bookings/")[1].split("?")[0]
    context.close()
    return booking_id


def _csrf(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.get_attribute("value") or ""


def test_a_bad_field_is_named_next_to_it(people: Service, browser: Browser) -> None:
    """With JavaScript off: the forms need none."""
    s = people
    context = new_context(browser, s, javascript=False)
    ann = sign_in(context, s, ANN)
    ann.goto("/book")
    choose_service(ann)
    ann.fill("#dut_description", "BB-LNA-N78 x 3")
    ann.fill("#dut_quantity", "0")
    ann.fill("#window_start", utc_minute(timedelta(days=2)))
    ann.fill("#window_end", utc_minute(timedelta(days=1)))
    ann.click("button:has-text('Send the booking')")
    quantity = ann.locator("#field-dut_quantity")
    expect(quantity.locator(".error")).to_contain_text("must be 1 to 1000")
    expect(ann.locator("#dut_quantity")).to_have_attribute("aria-invalid", "true")
    expect(ann.locator("#field-dut_description .error")).to_have_count(0)
    expect(ann.locator("#dut_description")).to_have_value("BB-LNA-N78 x 3")  # kept
    shot(s, ann, "13-book-form-errors")
    ann.fill("#dut_quantity", "3")
    ann.click("button:has-text('Send the booking')")
    expect(ann.locator("#field-window_end .error")).to_contain_text("after window_start")
    expect(ann.locator("#field-dut_quantity .error")).to_have_count(0)
    ann.fill("#window_end", utc_minute(timedelta(days=3)))
    ann.click("button:has-text('Send the booking')")
    expect(ann.locator("#live")).to_contain_text("requested")
    expect(ann.locator("noscript meta[http-equiv=refresh]")).to_have_count(1)  # reloads itself
    ann.click("button:has-text('Cancel this booking')")
    expect(ann.locator("#field-reason .error")).to_contain_text("say why")
    ann.fill("#reason", "ordered the wrong quantity")
    ann.click("button:has-text('Cancel this booking')")
    expect(ann.locator("#live")).to_contain_text("cancelled")
    expect(ann.locator("#live")).to_contain_text("ordered the wrong quantity")
    ann.goto("/login")  # the login form names its fields too
    ann.fill("#email", "")
    ann.click("button:has-text('Sign in')")
    expect(ann.locator("#field-email .error")).to_contain_text("e-mail")
    ann.fill("#email", ANN)
    ann.fill("#password", "not-the-password")
    ann.click("button:has-text('Sign in')")
    expect(ann.locator(".form-error")).to_have_text("wrong e-mail or password")
    context.close()


def test_a_post_without_the_csrf_token_is_refused(people: Service, browser: Browser) -> None:
    s = people
    context = new_context(browser, s)
    ann = sign_in(context, s, ANN)
    ann.goto("/book")
    choose_service(ann)
    ann.fill("#dut_description", "forged")
    ann.evaluate("document.querySelector('form[action=\"/book\"] input[name=csrf_token]')"
                 ".remove()")
    ann.click("button:has-text('Send the booking')")
    expect(ann.locator("h1")).to_contain_text("403")
    expect(ann.locator(".lead")).to_contain_text("CSRF")
    shot(s, ann, "14-csrf-refused")
    wrong = context.request.post("/book", form={"catalogue_entry_id": "1", "dut_quantity": "1",
                                                "dut_description": "forged",
                                                "csrf_token": "not-the-token"})
    assert wrong.status == 403
    logout = context.request.post("/logout", form={})
    assert logout.status == 403
    ann.goto("/bookings")
    expect(ann.locator("#bookings")).not_to_contain_text("forged")
    fresh = new_context(browser, s)  # the sign-in form has its own token (double submit)
    login = fresh.request.post("/login", form={"email": ANN, "password": PASSWORD,
                                               "csrf_token": "guess"})
    assert login.status == 403
    assert not any(c["name"] == "benchbot_session" for c in fresh.cookies())
    fresh.close()
    context.close()


def test_a_lost_job_is_decided_on_its_page(people: Service, browser: Browser) -> None:
    s = people
    lab = new_context(browser, s)
    erin = sign_in(lab, s, ENGINEER)
    assert lab.request.get("/admin/audit").status == 403  # an engineer is no admin
    booking_id = scheduled_tomorrow(s, browser, erin)
    lose_its_job(s, booking_id)
    card = lost_job_card(erin, booking_id)
    expect(card).to_contain_text(LOST_AGENT)
    expect(card).to_contain_text("lease expired")
    shot(s, erin, "15-lab-lost-jobs")
    card.locator("button:has-text('Mark failed')").click()
    expect(erin.locator(".card .error")).to_contain_text("say why")
    erin.locator(".card", has_text=booking_id).locator("input[name=reason]").fill(
        "DUT found unpowered; fixture damaged")
    erin.locator(".card", has_text=booking_id).locator(
        "button:has-text('Mark failed')").click()
    expect(erin.locator(".notice")).to_contain_text("Decision recorded")
    erin.goto(f"/bookings/{booking_id}")
    expect(erin.locator("#live")).to_contain_text("failed")
    lab.close()

    admin = new_context(browser, s)
    page = sign_in(admin, s, ADMIN_EMAIL)
    page.goto("/admin/audit?action=job.")
    expect(page.locator("#audit")).to_contain_text("job.decision")
    page.goto("/admin/audit")
    expect(page.locator("#audit")).to_contain_text("booking.schedule")
    shot(s, page, "16-admin-audit")
    admin.close()


def scheduled_tomorrow(s: Service, browser: Browser, erin: Page) -> str:
    """A booking of Ann's that the engineer schedules on the simulated bench tomorrow."""
    context = new_context(browser, s)
    ann = sign_in(context, s, ANN)
    ann.goto("/book")
    choose_service(ann)
    ann.fill("#dut_description", "BB-PA-N78-01 s/n 18")
    ann.fill("#window_start", utc_minute(timedelta(days=1)))
    ann.fill("#window_end", utc_minute(timedelta(days=3)))
    ann.click("button:has-text('Send the booking')")
    booking_id = ann.url.split("/bookings/")[1].split("?")[0]
    context.close()
    erin.goto("/lab/queue")
    item = erin.locator(f"#b-{booking_id}")
    item.locator("button:has-text('Confirm')").click()
    item.locator("select[name=bench_id]").select_option(label=BENCH)
    item.locator("button:has-text('Schedule: earliest slot')").click()
    expect(erin.locator("#queue-scheduled").locator(f"#b-{booking_id}")).to_be_visible()
    return booking_id


def lose_its_job(s: Service, booking_id: str) -> None:
    """Its job as if an agent had claimed it and then gone silent (its lease ran out)."""
    db = Database(s.database)
    try:
        with db.session() as session:
            job = session.scalars(select(Job).join(Booking).where(
                Booking.public_id == booking_id)).one()
            job.change_state(JobState.CLAIMED)
            job.agent_id = LOST_AGENT
            job.lease_until = utcnow() - timedelta(seconds=1)
    finally:
        db.dispose()


def lost_job_card(erin: Page, booking_id: str) -> Locator:
    """The booking's card on the lost-jobs page, once the service's sweeper has found the
    expired lease (the page is loaded again until it is listed)."""
    def listed() -> bool:
        erin.goto("/lab/decisions")
        return erin.locator(".card", has_text=booking_id).count() > 0

    wait_for(listed, timeout_s=30, every_s=0.5)
    return erin.locator(".card", has_text=booking_id)


@pytest.mark.parametrize(("asked", "goes_to"), [
    ("/lab/calendar?bench=2&week=2026-03-02", "/lab/calendar?bench=2&week=2026-03-02"),
    ("//evil.example/x", "/"), ("/\t/evil.example", "/"), ("/\\evil.example", "/"),
    ("https://evil.example/", "/"), ("javascript:alert(1)", "/"), ("", "/")])
def test_sign_in_returns_only_to_a_path_on_this_site(asked: str, goes_to: str) -> None:
    assert safe_next(asked) == goes_to
