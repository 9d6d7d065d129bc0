"""Administration over the API on SQLite and PostgreSQL: organisations, users (generated
passwords shown once, deactivation ending sessions), catalogue entries validated as benchbot
plans with derived capabilities, and the audit log."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from benchbot.service.models import AuditEntry, CatalogueEntry
from tests.service._api import CUSTOMER_B_EMAIL, Api, Browser

PLANS = Path(__file__).resolve().parents[2] / "test_plans"


def _actions(api: Api, prefix: str) -> list[str]:
    with api.db.session() as s:
        return list(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like(
            f"{prefix}%")).order_by(AuditEntry.id)))


def test_admin_creates_an_organisation_and_its_customer(api: Api) -> None:
    org = api.admin.post("/api/organisations", json={"name": "Gamma Devices SAS"})
    assert org.status_code == 201 and org.json()["kind"] == "customer"
    duplicate = api.admin.post("/api/organisations", json={"name": "gamma devices sas"})
    assert duplicate.status_code == 409 and "exists already" in duplicate.json()["detail"]
    lab = api.admin.post("/api/organisations", json={"name": "Second Lab", "kind": "lab"})
    assert lab.status_code == 422 and lab.json()["field"] == "kind"
    user = api.admin.post("/api/users", json={
        "email": "Gina@Gamma.example", "role": "customer",
        "organisation_id": org.json()["id"], "display_name": "Gina"})
    assert user.status_code == 201, user.text
    created = user.json()
    assert created["email"] == "gina@gamma.example" and len(created["initial_password"]) >= 20
    gina = Browser(api.app, "gina@gamma.example", created["initial_password"])
    assert gina.get("/api/bookings").json() == []
    listed = api.admin.get("/api/users", params={"organisation_id": org.json()["id"]}).json()
    assert [u["email"] for u in listed] == ["gina@gamma.example"]
    assert "initial_password" not in listed[0]
    assert _actions(api, "organisation.") == ["organisation.create"]
    assert _actions(api, "user.") == ["user.create"]
    with api.db.session() as s:
        detail = s.scalars(select(AuditEntry.detail).where(
            AuditEntry.action == "user.create")).one()
    assert created["initial_password"] not in str(detail)


def test_user_roles_must_match_their_organisation(api: Api) -> None:
    cases = [({"role": "engineer", "organisation_id": api.lab.org_a}, "role", "the lab"),
             ({"role": "customer", "organisation_id": 1}, "role", "customer organisation"),
             ({"organisation_id": 999999}, "organisation_id", "no organisation"),
             ({"password": "short"}, "password", "at least 12"),
             ({"email": "not-an-address"}, "email", "pattern")]
    for change, field, reason in cases:
        body = {"email": "x@alpha.example", "role": "customer",
                "organisation_id": api.lab.org_a} | change
        response = api.admin.post("/api/users", json=body)
        assert response.status_code == 422, (change, response.text)
        assert response.json()["field"] == field and reason in response.json()["detail"]
    taken = api.admin.post("/api/users", json={"email": CUSTOMER_B_EMAIL, "role": "customer",
                                               "organisation_id": api.lab.org_b,
                                               "password": "a-good-password-1"})
    assert taken.status_code == 409


def test_deactivating_a_user_ends_their_sessions(api: Api) -> None:
    bob = api.customer_b
    assert bob.get("/api/auth/me").status_code == 200
    patched = api.admin.patch(f"/api/users/{api.lab.customer_b}", json={"active": False})
    assert patched.status_code == 200 and patched.json()["active"] is False
    assert bob.get("/api/auth/me").status_code == 401
    again = TestClient(api.app).post("/api/auth/login", json={
        "email": CUSTOMER_B_EMAIL, "password": "test-user-password-4567"})
    assert again.status_code == 401
    self_lockout = api.admin.patch(f"/api/users/{api.admin.me['user_id']}",
                                   json={"active": False})
    assert self_lockout.status_code == 409
    with api.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.update")).one()
    assert entry.detail == {"active": False, "sessions_ended": 1}


def test_catalogue_entries_are_validated_plans_with_derived_capabilities(api: Api) -> None:
    plan = (PLANS / "lna_n78.yaml").read_text(encoding="utf-8")
    made = api.admin.post("/api/catalogue", json={
        "name": "LNA n78 characterisation (express)", "plan_file_name": "lna_n78.yaml",
        "plan_text": plan, "duration_estimate_min": 45, "description": "Gain, NF, match"})
    assert made.status_code == 201, made.text
    entry = made.json()
    assert {"vna", "noise_source"} <= set(entry["required_capabilities"])
    public = [e["name"] for e in api.anonymous.get("/api/catalogue").json()]
    assert "LNA n78 characterisation (express)" in public
    broken = api.admin.post("/api/catalogue", json={
        "name": "broken", "plan_file_name": "broken.yaml",
        "plan_text": plan.replace("kind: noise_figure", "kind: noise_figgure"),
        "duration_estimate_min": 5})
    assert broken.status_code == 422 and broken.json()["field"] == "plan_text"
    assert "not a valid benchbot plan" in broken.json()["detail"]
    not_yaml = api.admin.post("/api/catalogue", json={
        "name": "junk", "plan_file_name": "junk.yaml", "plan_text": "{[: not yaml",
        "duration_estimate_min": 5})
    assert not_yaml.status_code == 422 and not_yaml.json()["field"] == "plan_text"
    control = api.admin.post("/api/catalogue", json={  # found by the fuzz test: was a 500
        "name": "control", "plan_file_name": "c.yaml", "plan_text": "\x10",
        "duration_estimate_min": 5})
    assert control.status_code == 422 and "invalid YAML" in control.json()["detail"]
    withdrawn = api.admin.patch(f"/api/catalogue/{entry['id']}", json={"active": False})
    assert withdrawn.status_code == 200 and withdrawn.json()["active"] is False
    public = [e["name"] for e in api.anonymous.get("/api/catalogue").json()]
    assert "LNA n78 characterisation (express)" not in public
    everything = [e["name"] for e in api.admin.get("/api/catalogue/entries").json()]
    assert "LNA n78 characterisation (express)" in everything
    replanned = api.admin.patch(f"/api/catalogue/{entry['id']}", json={
        "plan_text": (PLANS / "pa_power_sweep.yaml").read_text(encoding="utf-8")})
    assert replanned.json()["required_capabilities"] == [
        "dc_supply", "power_meter", "signal_analyzer", "signal_generator"]
    assert _actions(api, "catalogue.") == ["catalogue.create", "catalogue.update",
                                           "catalogue.update"]
    with api.db.session() as s:
        stored = s.get(CatalogueEntry, entry["id"])
        assert stored is not None and "power_sweep" in stored.plan_text


def test_the_audit_log_is_for_admins_and_filters(api: Api) -> None:
    admin, engineer = api.admin, api.engineer  # signed in first
    api.customer_a.get("/api/auth/me")
    api.anonymous.post("/api/auth/login", json={"email": "ann@alpha.example",
                                                "password": "wrong-password"})
    assert api.customer_a.get("/api/audit").status_code == 403
    assert engineer.get("/api/audit").status_code == 403
    log = admin.get("/api/audit").json()
    actions = [e["action"] for e in log]
    assert actions[:2] == ["login.failure", "login.success"] and actions[-1] == "seed"
    failure = log[0]
    assert (failure["user"], failure["organisation"]) == ("ann@alpha.example", "Alpha RF Ltd")
    assert failure["detail"]["reason"] == "wrong password"
    logins = api.admin.get("/api/audit", params={"action": "login."}).json()
    assert {e["action"] for e in logins} == {"login.success", "login.failure"}
    alpha = api.admin.get("/api/audit", params={"organisation_id": api.lab.org_a}).json()
    assert {e["organisation"] for e in alpha} == {"Alpha RF Ltd"}
    page = api.admin.get("/api/audit", params={"limit": 1, "before_id": log[0]["id"]}).json()
    assert [e["id"] for e in page] == [log[1]["id"]]
    bad = api.admin.get("/api/audit", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["field"] == "query.limit"
