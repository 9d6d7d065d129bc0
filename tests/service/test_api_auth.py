"""Sign-in over the API on SQLite and PostgreSQL: login and logout, the session cookie's flags,
idle and absolute expiry, secrets hashed at rest, rehash on login, password change ending
every session, API tokens, the failed-login throttle, and CSRF on every state-changing route."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from argon2 import PasswordHasher, Type
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from benchbot.service.auth import AuthSettings
from benchbot.service.models import AuditEntry, AuthSession, LoginThrottle, User, utcnow
from benchbot.service.passwords import needs_rehash, verify_password
from benchbot.service.seed import ADMIN_EMAIL
from tests.service._api import (
    CUSTOMER_A_EMAIL,
    SAFE_METHODS,
    Api,
    Browser,
    api_token,
    app_routes,
    started_api,
    token_client,
)
from tests.service._helpers import USER_PASSWORD

COOKIE = "benchbot_session"


def _audit(api: Api, action: str) -> list[AuditEntry]:
    with api.db.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.id)))


def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(api: Api) -> None:
    ann = api.customer_a
    set_cookie = ann.login_response.headers["set-cookie"]
    assert f"{COOKIE}=" in set_cookie and "HttpOnly" in set_cookie
    assert "SameSite=lax" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie  # plain http here (auto: only over https)
    me = ann.get("/api/auth/me").json()
    assert (me["email"], me["role"], me["session_kind"]) == (CUSTOMER_A_EMAIL, "customer",
                                                             "browser")
    assert me["csrf_token"] == ann.csrf_token and len(ann.csrf_token) >= 32
    cookie = ann.cookie
    assert ann.post("/api/auth/logout").status_code == 204
    stale = TestClient(api.app, cookies={COOKIE: cookie})
    refused = stale.get("/api/auth/me")
    assert refused.status_code == 401 and "not signed in" in refused.json()["detail"]
    (success,) = _audit(api, "login.success")[-1:]
    (logout,) = _audit(api, "logout")
    assert logout.user_id == success.user_id == ann.me["user_id"]
    assert logout.organisation_id == api.lab.org_a


def test_the_cookie_is_secure_over_https_or_when_configured(api: Api) -> None:
    over_https = Browser(api.app, CUSTOMER_A_EMAIL, base_url="https://testserver")
    assert "Secure" in over_https.login_response.headers["set-cookie"]
    assert over_https.get("/api/auth/me").status_code == 200


def test_secure_cookie_setting_applies_over_http(db, lab, tmp_path) -> None:  # noqa: ANN001
    with started_api(db, lab, tmp_path, auth_settings=AuthSettings(cookie_secure=True)) as api:
        response = TestClient(api.app).post("/api/auth/login", json={
            "email": CUSTOMER_A_EMAIL, "password": USER_PASSWORD})
        assert response.status_code == 200 and "Secure" in response.headers["set-cookie"]


def test_wrong_password_and_unknown_email_get_the_same_answer(api: Api) -> None:
    wrong = api.anonymous.post("/api/auth/login", json={"email": CUSTOMER_A_EMAIL,
                                                        "password": "not-the-password"})
    unknown = api.anonymous.post("/api/auth/login", json={"email": "nobody@alpha.example",
                                                          "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong e-mail or password"}
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    failures = _audit(api, "login.failure")
    assert [f.detail["reason"] for f in failures] == ["wrong password", "unknown e-mail"]
    assert failures[0].user_id is not None and failures[1].user_id is None


def test_secrets_are_stored_only_as_sha256(api: Api) -> None:
    ann = api.customer_a
    token = api_token(api.anonymous, CUSTOMER_A_EMAIL)
    with api.db.session() as s:
        rows = list(s.scalars(select(AuthSession).where(
            AuthSession.user_id == ann.me["user_id"])))
        dump = " ".join(str(v) for r in rows for v in vars(r).values())
    assert {r.kind for r in rows} == {"browser", "api_token"}
    assert ann.cookie not in dump and token not in dump
    hashes = {r.secret_sha256 for r in rows}
    assert hashes == {hashlib.sha256(ann.cookie.encode()).hexdigest(),
                      hashlib.sha256(token.encode()).hexdigest()}


def test_idle_and_absolute_expiry(api: Api) -> None:
    idle, absolute = api.customer_a, api.customer_b
    assert idle.get("/api/auth/me").status_code == 200
    settings = AuthSettings()
    with api.db.session() as s:
        s.execute(update(AuthSession).where(AuthSession.id == _session_id(api, idle))
                  .values(last_seen_at=utcnow() - settings.session_idle - timedelta(seconds=1)))
        s.execute(update(AuthSession).where(AuthSession.id == _session_id(api, absolute))
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    for browser in (idle, absolute):
        response = browser.get("/api/auth/me")
        assert response.status_code == 401
        assert response.json()["detail"] == "the session has expired: sign in again"


def _session_id(api: Api, browser: Browser) -> int:
    digest = hashlib.sha256(browser.cookie.encode()).hexdigest()
    with api.db.session() as s:
        return s.scalars(select(AuthSession.id).where(AuthSession.secret_sha256 == digest)).one()


def test_a_request_keeps_the_session_alive(api: Api) -> None:
    ann = api.customer_a
    settings = AuthSettings()
    almost_idle = utcnow() - settings.session_idle + timedelta(minutes=5)
    with api.db.session() as s:
        s.execute(update(AuthSession).where(AuthSession.id == _session_id(api, ann))
                  .values(last_seen_at=almost_idle))
    assert ann.get("/api/auth/me").status_code == 200
    with api.db.session() as s:
        assert s.get(AuthSession, _session_id(api, ann)).last_seen_at > almost_idle


def test_login_rehashes_a_password_made_with_weaker_parameters(api: Api) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID)
    with api.db.session() as s:
        s.execute(update(User).where(User.email == CUSTOMER_A_EMAIL)
                  .values(password_hash=weak.hash(USER_PASSWORD)))
    Browser(api.app, CUSTOMER_A_EMAIL)
    with api.db.session() as s:
        stored = s.scalars(select(User.password_hash).where(User.email == CUSTOMER_A_EMAIL)).one()
    assert not needs_rehash(stored) and verify_password(stored, USER_PASSWORD)
    assert stored.startswith("$argon2id$") and "m=65536" in stored
    assert _audit(api, "login.success")[-1].detail["rehashed"] is True


def test_password_change_ends_every_session_and_token(api: Api) -> None:
    ann, other_tab = api.customer_a, Browser(api.app, CUSTOMER_A_EMAIL)
    token_user = token_client(api.app, api_token(api.anonymous, CUSTOMER_A_EMAIL))
    assert token_user.get("/api/auth/me").status_code == 200
    wrong = ann.post("/api/auth/password", json={"current_password": "nope",
                                                  "new_password": "a-new-password-123"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "current_password"
    short = ann.post("/api/auth/password", json={"current_password": USER_PASSWORD,
                                                  "new_password": "short"})
    assert short.status_code == 422 and short.json()["field"] == "new_password"
    changed = ann.post("/api/auth/password", json={"current_password": USER_PASSWORD,
                                                    "new_password": "a-new-password-123"})
    assert changed.status_code == 200 and changed.json() == {"sessions_ended": 3}
    for client in (ann.client, other_tab.client, token_user):
        assert client.get("/api/auth/me").status_code == 401
    Browser(api.app, CUSTOMER_A_EMAIL, "a-new-password-123")
    (entry,) = _audit(api, "user.password_change")
    assert entry.detail == {"sessions_ended": 3}


def test_api_tokens_authenticate_without_csrf_and_logout_revokes_them(api: Api) -> None:
    token = api_token(api.anonymous, CUSTOMER_A_EMAIL, name="lab script", lifetime_days=7)
    client = token_client(api.app, token)
    me = client.get("/api/auth/me").json()
    assert (me["session_kind"], me["csrf_token"]) == ("api_token", None)
    booked = client.post("/api/bookings", json=_booking(api))  # no CSRF token needed
    assert booked.status_code == 201, booked.text
    assert client.post("/api/auth/logout").status_code == 204
    assert client.get("/api/auth/me").json()["detail"] == "unknown or revoked API token"
    for header in ("Basic abc", "Bearer", "Token xyz"):
        refused = TestClient(api.app, headers={"Authorization": header}).get("/api/auth/me")
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"


def test_token_lifetime_is_bounded(api: Api) -> None:
    response = api.anonymous.post("/api/auth/tokens", json={
        "email": CUSTOMER_A_EMAIL, "password": USER_PASSWORD, "lifetime_days": 1000})
    assert response.status_code == 422 and response.json()["field"] == "lifetime_days"


def _booking(api: Api) -> dict[str, object]:
    start = utcnow() + timedelta(days=1)
    return {"catalogue_entry_id": api.lab.entry_id, "dut_description": "BB-PA-N78-01",
            "dut_quantity": 1, "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=4)).isoformat()}


# --- throttle -------------------------------------------------------------------------------

def _attempt(api: Api, email: str, password: str = "wrong-password-0") -> tuple[int, dict, str]:
    response = api.anonymous.post("/api/auth/login", json={"email": email, "password": password})
    return response.status_code, response.json(), response.headers.get("retry-after", "")


def test_repeated_failures_lock_the_address_in_the_database(api: Api) -> None:
    free = AuthSettings().free_failed_logins
    for _ in range(free):
        assert _attempt(api, CUSTOMER_A_EMAIL)[0] == 401
    status, body, retry_after = _attempt(api, CUSTOMER_A_EMAIL)
    assert status == 429 and retry_after == "30" and "try again in 30 s" in body["detail"]
    # locked: even the right password is refused without being checked
    status, _, _ = _attempt(api, CUSTOMER_A_EMAIL, USER_PASSWORD)
    assert status == 429
    with api.db.session() as s:
        row = s.get(LoginThrottle, CUSTOMER_A_EMAIL)
        assert row is not None and row.failed_count == free + 1
        # the lock ends (moved to the past here; no waiting in tests)
        s.execute(update(LoginThrottle).values(locked_until=utcnow() - timedelta(seconds=1)))
    status, _, _ = _attempt(api, CUSTOMER_A_EMAIL)  # one more failure: locked twice as long
    assert status == 429 and _attempt(api, CUSTOMER_A_EMAIL)[2] == "60"
    with api.db.session() as s:
        s.execute(update(LoginThrottle).values(locked_until=None))
    assert _attempt(api, CUSTOMER_A_EMAIL, USER_PASSWORD)[0] == 200
    with api.db.session() as s:
        row = s.get(LoginThrottle, CUSTOMER_A_EMAIL)
        assert row is not None and (row.failed_count, row.locked_until) == (0, None)
    reasons = [e.detail["reason"] for e in _audit(api, "login.failure")]
    assert reasons.count("locked") == 2 and reasons.count("wrong password") == free + 2


def test_an_unknown_address_locks_the_same_way(api: Api) -> None:
    """No oracle: an address without an account is throttled exactly like one with."""
    answers = [_attempt(api, "nobody@alpha.example")[:2] for _ in range(7)]
    known = [_attempt(api, CUSTOMER_A_EMAIL)[:2] for _ in range(7)]
    assert answers == known
    assert [a[0] for a in answers] == [401] * 5 + [429] * 2


def test_other_addresses_are_not_locked(api: Api) -> None:
    for _ in range(7):
        _attempt(api, CUSTOMER_A_EMAIL)
    assert Browser(api.app, ADMIN_EMAIL).get("/api/auth/me").status_code == 200


def test_emails_are_case_insensitive(api: Api) -> None:
    assert Browser(api.app, CUSTOMER_A_EMAIL.upper(), USER_PASSWORD).me["email"] == \
        CUSTOMER_A_EMAIL


# --- CSRF -----------------------------------------------------------------------------------

def _state_changing_routes(api: Api) -> list[tuple[str, str]]:
    return sorted((method, path) for method, path in app_routes(api.app)
                  if path.startswith("/api/") and method not in SAFE_METHODS)


PUBLIC_STATE_CHANGING = {("POST", "/api/auth/login"), ("POST", "/api/auth/tokens")}
AGENT_PREFIX = "/api/agent"  # bench-agent routes take an agent token: a cookie is not enough


def test_every_state_changing_route_refuses_a_cookie_without_csrf_token(api: Api) -> None:
    """Enumerated from the app: a route added later is covered (or this test says why)."""
    routes = _state_changing_routes(api)
    assert ("POST", "/api/bookings") in routes and len(routes) >= 15
    for browser in (api.admin, api.customer_a):
        for method, path in routes:
            if (method, path) in PUBLIC_STATE_CHANGING:
                continue
            url = re.sub(r"\{[a-z_]+_id\}", "1", path)
            for headers in ({}, {"X-CSRF-Token": "forged"}):
                response = browser.request(method, url, csrf=False, json={}, headers=headers)
                if path.startswith(AGENT_PREFIX) and response.status_code == 401:
                    continue  # not a cookie route at all
                assert response.status_code == 403, (method, path, response.text)
                assert "CSRF token" in response.json()["detail"], (method, path)
    assert api.customer_a.get("/api/auth/me").status_code == 200  # nothing was logged out


def test_the_csrf_token_is_accepted_as_header_or_form_field(api: Api) -> None:
    ann = api.customer_a
    assert ann.post("/api/bookings", json=_booking(api)).status_code == 201  # header
    bob = api.customer_b
    wrong_session = bob.client.post("/api/auth/logout", data={"csrf_token": ann.csrf_token})
    assert wrong_session.status_code == 403  # another session's token is no good
    form = bob.client.post("/api/auth/logout", data={"csrf_token": bob.csrf_token})
    assert form.status_code == 204
    assert bob.client.get("/api/auth/me").status_code == 401


def test_login_accepts_json_only(api: Api) -> None:
    """A cross-site HTML form cannot log a victim into the attacker's account."""
    form = api.anonymous.post("/api/auth/login", data={"email": CUSTOMER_A_EMAIL,
                                                       "password": USER_PASSWORD})
    assert form.status_code == 422
    with api.db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM auth_sessions")) == 0
