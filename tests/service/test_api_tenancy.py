"""Tenancy over the API on SQLite and PostgreSQL: every endpoint, enumerated from the app, is
tried by a customer against another organisation's objects and refused -- 404 exactly like a
missing object for scoped ones (no existence oracle), 403 for the lab's endpoints whatever the
id -- and no response to a customer names another customer. Engineers see everything.

An endpoint added later without a rule in :data:`RULES` fails
:func:`test_every_endpoint_has_a_tenancy_rule`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from benchbot.service import pages
from benchbot.service.models import AuditEntry, Booking, Run, utcnow
from tests.service._api import (
    CUSTOMER_B_EMAIL,
    ORG_A_NAME,
    ORG_B_NAME,
    Api,
    OrgObjects,
    api_token,
    app_routes,
    booking_with_run,
    token_client,
)
from tests.service._helpers import USER_PASSWORD, hour

# how each endpoint keeps organisations apart
PUBLIC = "public"  # no organisation's data at all
OWN_ACCOUNT = "own account"  # acts on the caller's own session or account only
CREATES_OWN = "creates in the caller's organisation"
SCOPED_LIST = "lists the caller's organisation only"
SCOPED = "one object, looked up in the caller's organisation (else 404)"
LAB_OFFER = "the lab's offer (no organisation's data)"
STAFF = "lab engineers and admins only (403 for customers, whatever the id)"
ADMIN = "lab admins only (403 for customers and engineers)"

RULES: dict[tuple[str, str], str] = {
    ("GET", "/health"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/api/catalogue"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/tokens"): PUBLIC,
    ("GET", "/api/auth/me"): OWN_ACCOUNT,
    ("POST", "/api/auth/logout"): OWN_ACCOUNT,
    ("POST", "/api/auth/password"): OWN_ACCOUNT,
    ("GET", "/api/benches"): LAB_OFFER,
    ("POST", "/api/bookings"): CREATES_OWN,
    ("GET", "/api/bookings"): SCOPED_LIST,
    ("GET", "/api/bookings/{booking_id}"): SCOPED,
    ("POST", "/api/bookings/{booking_id}/cancel"): SCOPED,
    ("POST", "/api/bookings/{booking_id}/confirm"): STAFF,
    ("POST", "/api/bookings/{booking_id}/schedule"): STAFF,
    ("POST", "/api/bookings/{booking_id}/reschedule"): STAFF,
    ("GET", "/api/runs"): SCOPED_LIST,
    ("GET", "/api/runs/{run_id}"): SCOPED,
    ("GET", "/api/runs/{run_id}/record"): SCOPED,
    ("GET", "/api/runs/{run_id}/report.html"): SCOPED,
    ("GET", "/api/runs/{run_id}/report.pdf"): SCOPED,
    ("GET", "/api/benches/{bench_id}/calendar"): STAFF,
    ("GET", "/api/jobs"): STAFF,
    ("POST", "/api/jobs/{job_id}/decision"): STAFF,
    ("GET", "/api/catalogue/entries"): ADMIN,
    ("POST", "/api/catalogue"): ADMIN,
    ("PATCH", "/api/catalogue/{entry_id}"): ADMIN,
    ("GET", "/api/organisations"): ADMIN,
    ("POST", "/api/organisations"): ADMIN,
    ("GET", "/api/users"): ADMIN,
    ("POST", "/api/users"): ADMIN,
    ("PATCH", "/api/users/{user_id}"): ADMIN,
    ("GET", "/api/audit"): ADMIN,
}
AGENT_PREFIX = "/api/agent"
"""The bench agents' API (its own bench-token auth): a person's credentials are refused on
every route under it, whatever the route."""

MISSING_ID = "NoSuchIdAtAll0000000000"


def _bodies(api: Api) -> dict[str, object]:
    start = utcnow() + timedelta(days=2)
    return {
        "/api/bookings": {"catalogue_entry_id": api.lab.entry_id, "dut_description": "probe",
                          "dut_quantity": 1, "window_start": start.isoformat(),
                          "window_end": (start + timedelta(hours=3)).isoformat()},
        "/cancel": {"reason": "tenancy probe"},
        "/schedule": {}, "/reschedule": {}, "/confirm": None,
        "/decision": {"decision": "fail", "reason": "tenancy probe"},
        "/api/organisations": {"name": "Probe Org"},
        "/api/users": {"email": "probe@beta.example", "role": "customer",
                       "organisation_id": api.lab.org_b},
        "/api/users/{user_id}": {"active": False},
        "/api/catalogue": {"name": "probe", "plan_file_name": "probe.yaml",
                           "plan_text": "schema: benchbot.plan/1\n", "duration_estimate_min": 5},
        "/api/catalogue/{entry_id}": {"active": False},
        "/api/auth/password": {"current_password": USER_PASSWORD,
                               "new_password": "another-password-1"},
    }


def _body(api: Api, path: str) -> object:
    bodies = _bodies(api)
    if path in bodies:
        return bodies[path]
    return next((v for k, v in bodies.items() if k.startswith("/") and not k.startswith("/api")
                 and path.endswith(k)), None)


def _query(path: str) -> dict[str, str]:
    if path.endswith("/calendar"):
        return {"from": hour(-24).isoformat(), "to": hour(48).isoformat()}
    return {}


def _fill(path: str, api: Api, objects: OrgObjects, booking: str | None = None,
          run: str | None = None) -> str:
    return (path.replace("{booking_id}", booking or objects.booking_public_id)
            .replace("{run_id}", run or objects.run_public_id)
            .replace("{job_id}", str(objects.job_id))
            .replace("{bench_id}", str(api.lab.bench_id))
            .replace("{user_id}", str(api.lab.customer_b))
            .replace("{entry_id}", str(api.lab.entry_id)))


@pytest.fixture
def two_orgs(api: Api) -> tuple[OrgObjects, OrgObjects]:
    mine = booking_with_run(api.db, api.lab, api.data_dir, customer_b=False, offset_h=0)
    theirs = booking_with_run(api.db, api.lab, api.data_dir, customer_b=True, offset_h=10)
    return mine, theirs


def test_every_endpoint_has_a_tenancy_rule(api: Api) -> None:
    routes = app_routes(api.app) - pages.route_keys()  # pages: their rules in test_pages.py
    unruled = {r for r in routes if r not in RULES and not r[1].startswith(AGENT_PREFIX)}
    assert unruled == set(), f"endpoints without a tenancy rule (add them to RULES): {unruled}"
    assert set(RULES) <= routes, f"rules for endpoints that are gone: {set(RULES) - routes}"


def test_a_customer_is_refused_every_other_organisations_object(
        api: Api, two_orgs: tuple[OrgObjects, OrgObjects]) -> None:
    mine, theirs = two_orgs
    ann = api.customer_a
    checked: dict[str, int] = {}
    for (method, path), rule in sorted(RULES.items()):
        if rule not in (SCOPED, STAFF, ADMIN):
            continue
        body, query = _body(api, path), _query(path)
        kwargs = {"params": query} | ({"json": body} if method != "GET" else {})
        theirs_answer = ann.request(method, _fill(path, api, theirs), **kwargs)
        missing_answer = ann.request(method, _fill(path, api, theirs, booking=MISSING_ID,
                                                   run=MISSING_ID), **kwargs)
        expected = 404 if rule == SCOPED else 403
        assert theirs_answer.status_code == expected, (method, path, theirs_answer.text)
        assert missing_answer.status_code == expected, (method, path, missing_answer.text)
        # no existence oracle: the same answer as for an id that does not exist
        assert theirs_answer.json()["detail"].replace(
            theirs.booking_public_id, "ID").replace(theirs.run_public_id, "ID") == \
            missing_answer.json()["detail"].replace(MISSING_ID, "ID"), (method, path)
        if rule == SCOPED and method == "GET":  # and the caller's own object is served
            own = ann.request(method, _fill(path, api, mine), params=query)
            assert own.status_code == 200, (method, path, own.text)
        checked[rule] = checked.get(rule, 0) + 1
    assert checked == {rule: list(RULES.values()).count(rule) for rule in (SCOPED, STAFF, ADMIN)}
    assert checked[SCOPED] >= 6 and checked[STAFF] >= 6
    with api.db.session() as s:  # nothing of theirs changed
        booking = s.get(Booking, theirs.booking_id)
        assert booking is not None and booking.status == "scheduled"
    engineer = api.engineer
    for (method, path), rule in RULES.items():
        if rule == ADMIN:
            answer = engineer.request(method, _fill(path, api, theirs), params=_query(path),
                                      **({"json": _body(api, path)} if method != "GET" else {}))
            assert answer.status_code == 403, (method, path, answer.text)


def test_lists_show_only_the_callers_organisation(
        api: Api, two_orgs: tuple[OrgObjects, OrgObjects]) -> None:
    mine, theirs = two_orgs
    for rule_path in [p for (m, p), r in RULES.items() if r == SCOPED_LIST]:
        listed = api.customer_a.get(rule_path).json()
        assert {item["id"] for item in listed} == (
            {mine.booking_public_id} if rule_path == "/api/bookings" else {mine.run_public_id})
        assert {item["organisation"] for item in listed} == {ORG_A_NAME}
    filtered = api.customer_a.get("/api/bookings", params={"bench": "fixture-bench",
                                                          "status": ["scheduled"]}).json()
    assert [b["id"] for b in filtered] == [mine.booking_public_id]
    staff = api.engineer.get("/api/bookings").json()
    assert {b["id"] for b in staff} == {mine.booking_public_id, theirs.booking_public_id}
    assert {r["id"] for r in api.engineer.get("/api/runs").json()} == {
        mine.run_public_id, theirs.run_public_id}


def test_a_booking_is_made_for_the_callers_organisation_only(api: Api) -> None:
    body = dict(_body(api, "/api/bookings"))  # type: ignore[call-overload]
    smuggled = api.customer_a.post("/api/bookings", json=body | {"organisation_id":
                                                                 api.lab.org_b})
    assert smuggled.status_code == 422 and smuggled.json()["field"] == "organisation_id"
    made = api.customer_a.post("/api/bookings", json=body)
    assert made.status_code == 201 and made.json()["organisation"] == ORG_A_NAME
    staff = api.engineer.post("/api/bookings", json=body)  # the lab books no runs for itself
    assert staff.status_code == 403


def test_own_account_endpoints_act_on_the_caller_only(api: Api) -> None:
    ann, bob = api.customer_a, api.customer_b
    assert ann.get("/api/auth/me").json()["organisation_id"] == api.lab.org_a
    assert ann.post("/api/auth/logout").status_code == 204
    assert bob.get("/api/auth/me").json()["organisation_id"] == api.lab.org_b


def test_no_response_to_a_customer_names_another_customer(
        api: Api, two_orgs: tuple[OrgObjects, OrgObjects]) -> None:
    """Every GET endpoint, with every id of either organisation: Beta's name, e-mail and ids
    never appear in what Alpha's customer is shown."""
    mine, theirs = two_orgs
    secrets_of_b = (ORG_B_NAME, CUSTOMER_B_EMAIL, theirs.booking_public_id,
                    theirs.run_public_id)
    ann = api.customer_a
    gets = sorted(p for (m, p) in app_routes(api.app) if m == "GET")
    assert len(gets) >= 20
    for path in gets:
        for objects in (mine, theirs):
            answer = ann.get(_fill(path, api, objects), params=_query(path))
            assert answer.status_code < 500, (path, answer.text)
            shown = answer.text
            if path.startswith("/api/runs/") and answer.status_code == 200:
                shown = answer.content.decode("utf-8", "replace")
            leaked = [s for s in secrets_of_b if s in shown
                      and not (objects is theirs and s in _fill(path, api, theirs))]
            assert leaked == [], (path, leaked)


def test_agent_endpoints_refuse_a_persons_credentials(api: Api) -> None:
    agent_routes = sorted(r for r in app_routes(api.app) if r[1].startswith(AGENT_PREFIX))
    token = token_client(api.app, api_token(api.anonymous, "ann@alpha.example"))
    for method, path in agent_routes:
        url = path.replace("{job_id}", "1")
        for answer in (api.customer_a.request(method, url, json={}),
                       token.request(method, url, json={})):
            assert answer.status_code in (401, 403), (method, path, answer.text)


def test_files_are_served_only_from_the_runs_own_folder(
        api: Api, two_orgs: tuple[OrgObjects, OrgObjects]) -> None:
    mine, theirs = two_orgs
    ann = api.customer_a
    record = ann.get(f"/api/runs/{mine.run_public_id}/record")
    assert record.status_code == 200 and record.content == \
        f"record of {mine.booking_public_id}".encode()
    assert record.headers["content-type"] == "application/x-hdf5"
    assert f'filename="{mine.run_public_id}.h5"' in record.headers["content-disposition"]
    html = ann.get(f"/api/runs/{mine.run_public_id}/report.html")
    assert "sandbox" in html.headers["content-security-policy"]
    with api.db.session() as s:
        downloads = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "run.download")))
        assert [(d.detail["file"], d.organisation_id, d.user_id) for d in downloads] == [
            ("record", api.lab.org_a, ann.me["user_id"]),
            ("report_html", api.lab.org_a, ann.me["user_id"])]
        # a row pointing at another organisation's file (bad upload, tampering): refused
        theirs_path = s.scalars(select(Run.record_path).where(
            Run.public_id == theirs.run_public_id)).one()
        s.execute(update(Run).where(Run.public_id == mine.run_public_id)
                  .values(record_path=theirs_path, report_pdf_path="../../../../etc/passwd"))
    assert ann.get(f"/api/runs/{mine.run_public_id}/record").status_code == 404
    assert ann.get(f"/api/runs/{mine.run_public_id}/report.pdf").status_code == 404
    run = ann.get(f"/api/runs/{mine.run_public_id}").json()
    assert (run["record_available"], run["report_pdf_available"]) == (False, False)
    for crafted in ("..%2F..%2Fetc", "a.b", "x" * 65):
        assert ann.get(f"/api/runs/{crafted}/record").status_code in (404, 422)
    engineer_copy = api.engineer.get(f"/api/runs/{theirs.run_public_id}/report.pdf")
    assert engineer_copy.status_code == 200 and engineer_copy.content == \
        f"report_pdf of {theirs.booking_public_id}".encode()
