"""Who is calling: sign-in with e-mail and password, server-side sessions and API tokens, the
failed-login throttle, and the CSRF token of a browser session.

A browser session and an API token are one row of ``auth_sessions`` each, found by the SHA-256
of the random secret the client holds (``secrets.token_urlsafe(32)``: the secret itself is
never stored, and a fast hash suffices for 256 random bits). A browser session ends after
:attr:`AuthSettings.session_idle` without a request, at its absolute expiry, at logout, or
when its user's password changes; it carries a random CSRF token (synchroniser token) that
every state-changing request must echo. An API token (``Authorization: Bearer``) has an
absolute expiry only and needs no CSRF token: a browser never sends it by itself.

Failed logins are counted per e-mail address in the database (``login_throttle``), for
addresses without an account too, so the answers do not tell which accounts exist: past
:attr:`AuthSettings.free_failed_logins` consecutive failures, each further one locks the
address for twice as long as the last (from :attr:`~AuthSettings.lockout_base` up to
:attr:`~AuthSettings.lockout_max`), and attempts while locked are refused without checking
the password. A success clears the count.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload

from benchbot.service import audit
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput, PermissionDenied, ServiceError
from benchbot.service.models import AuthSession, LoginThrottle, Organisation, User, utcnow
from benchbot.service.passwords import (
    MAX_PASSWORD_LENGTH,
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from benchbot.service.states import OrganisationKind, SessionKind, UserRole

MAX_EMAIL_LENGTH = 320
MAX_SECRET_LENGTH = 200
"""Longer cookies or tokens are refused unhashed (ours are 43 characters)."""


@dataclass(frozen=True)
class AuthSettings:
    """Lifetimes, cookie and throttle parameters (defaults suit a lab's working day)."""

    session_idle: timedelta = timedelta(hours=2)
    session_absolute: timedelta = timedelta(hours=12)
    token_lifetime: timedelta = timedelta(days=90)
    max_token_lifetime: timedelta = timedelta(days=366)
    cookie_secure: bool | None = None
    """Secure cookie flag: None sets it when the request came over https."""
    free_failed_logins: int = 5
    lockout_base: timedelta = timedelta(seconds=30)
    lockout_max: timedelta = timedelta(minutes=15)
    touch_interval: timedelta = timedelta(minutes=1)
    """How stale ``last_seen_at`` may get before a request writes it (idle expiry resolution)."""


class NotAuthenticated(ServiceError):
    """No valid session or token (missing, unknown, expired or revoked): HTTP 401."""


class LoginRefused(ServiceError):
    """Wrong e-mail or password (the same answer for both): HTTP 401."""


class LoginLocked(ServiceError):
    """Too many failed logins for this address: HTTP 429, ``retry_after_s`` says when."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins for this e-mail address: try again in "
                         f"{retry_after_s} s")
        self.retry_after_s = retry_after_s


class CsrfRefused(PermissionDenied):
    """A state-changing request of a browser session without its CSRF token: HTTP 403."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    user_id: int
    email: str
    role: str
    organisation_id: int
    organisation_kind: str
    session_id: int
    session_kind: str
    csrf_token: str | None
    expires_at: datetime

    @property
    def is_staff(self) -> bool:
        """An engineer or admin of the lab: sees every organisation."""
        return (self.role in (UserRole.ENGINEER, UserRole.ADMIN)
                and self.organisation_kind == OrganisationKind.LAB)

    @property
    def is_admin(self) -> bool:
        return self.is_staff and self.role == UserRole.ADMIN


@dataclass(frozen=True)
class IssuedSession:
    """A new session or token: ``secret`` goes to the client once (cookie or bearer token)."""

    secret: str
    principal: Principal


def secret_sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


@cache
def _dummy_hash() -> str:
    """A hash to verify against when the address has no account (same time as a real one)."""
    return hash_password(generate_password())


# --- login -----------------------------------------------------------------------------------

def login(db: Database, *, email: str, password: str, kind: SessionKind = SessionKind.BROWSER,
          name: str = "", lifetime: timedelta | None = None,
          settings: AuthSettings = AuthSettings(), now: datetime | None = None,
          replaces_session_id: int | None = None) -> IssuedSession:
    """Check e-mail and password and open a session (or issue an API token of ``lifetime``).
    :class:`LoginLocked` while the address is locked, :class:`LoginRefused` otherwise on a
    wrong e-mail or password; each attempt is audited. ``replaces_session_id``: the caller's
    current session, revoked by the new one."""
    at = now or utcnow()
    address = normalise_email(email)
    if not address or len(address) > MAX_EMAIL_LENGTH:
        raise InvalidInput("email", f"give an e-mail address of 1 to {MAX_EMAIL_LENGTH} "
                           "characters")
    with db.session() as session:
        throttle = session.get(LoginThrottle, address)
        locked_until = None if throttle is None else throttle.locked_until
        user = session.scalars(select(User).where(User.email == address)).first()
        user_id, password_hash = (None, None) if user is None else (user.id, user.password_hash)
        active = user is not None and user.active
    if locked_until is not None and locked_until > at:
        _record_failure(db, address, user_id, "locked", settings, at, count=False)
        raise LoginLocked(max(1, int((locked_until - at).total_seconds() + 0.999)))
    valid = verify_password(password_hash or _dummy_hash(), password) and active
    if not valid:
        reason = "unknown e-mail" if user_id is None else (
            "deactivated" if not active else "wrong password")
        retry_after = _record_failure(db, address, user_id, reason, settings, at)
        if retry_after is not None:
            raise LoginLocked(retry_after)
        raise LoginRefused("wrong e-mail or password")
    assert user_id is not None and password_hash is not None
    new_hash = hash_password(password) if needs_rehash(password_hash) else None
    return _open_session(db, user_id, kind, name, lifetime, settings, at, new_hash,
                         replaces_session_id)


def _open_session(db: Database, user_id: int, kind: SessionKind, name: str,
                  lifetime: timedelta | None, settings: AuthSettings, at: datetime,
                  new_hash: str | None, replaces_session_id: int | None) -> IssuedSession:
    if kind is SessionKind.BROWSER:
        lifetime = settings.session_absolute
    else:
        lifetime = lifetime or settings.token_lifetime
        if not timedelta(minutes=1) <= lifetime <= settings.max_token_lifetime:
            raise InvalidInput("lifetime_days", f"a token lives 1 minute to "
                               f"{settings.max_token_lifetime.days} days")
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32) if kind is SessionKind.BROWSER else None
    with db.write_session() as session:
        user = session.get(User, user_id)
        assert user is not None
        session.execute(update(LoginThrottle).where(LoginThrottle.email == user.email)
                        .values(failed_count=0, locked_until=None))
        if new_hash is not None:
            user.password_hash = new_hash
        if replaces_session_id is not None:
            _revoke(session, [replaces_session_id], "replaced by a new login", at)
        row = AuthSession(user_id=user.id, kind=kind.value, secret_sha256=secret_sha256(secret),
                          csrf_token=csrf, name=name[:200], created_at=at, last_seen_at=at,
                          expires_at=at + lifetime)
        session.add(row)
        session.flush()
        audit.record(session, action="login.success", user=user,
                     organisation_id=user.organisation_id, object_type="session",
                     object_id=row.id, at=at,
                     detail={"kind": kind.value, "rehashed": new_hash is not None,
                             **({"name": row.name} if row.name else {})})
        return IssuedSession(secret, _principal(row, user, user.organisation))


def _record_failure(db: Database, address: str, user_id: int | None, reason: str,
                    settings: AuthSettings, at: datetime, count: bool = True) -> int | None:
    """Audit a failed attempt and (``count``) add it to the address's counter; the seconds the
    address is now locked for, if it is."""
    with db.write_session() as session:
        retry_after = None
        if count:
            failures = _count_failure(session, db.kind, address, at)
            lock = _lockout(failures, settings)
            if lock is not None:
                session.execute(update(LoginThrottle).where(LoginThrottle.email == address)
                                .values(locked_until=at + lock))
                retry_after = int(lock.total_seconds())
        user = None if user_id is None else session.get(User, user_id)
        audit.record(session, action="login.failure", user=user,
                     organisation_id=None if user is None else user.organisation_id,
                     object_type="user" if user is not None else None, object_id=user_id,
                     at=at, detail={"email": address, "reason": reason,
                                    **({"locked_s": retry_after} if retry_after else {})})
        return retry_after


def _count_failure(session: Session, dialect: str, address: str, at: datetime) -> int:
    """Add one failure to the address's counter atomically (an upsert); the new count."""
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(LoginThrottle)
    statement = (
        insert.values(email=address, failed_count=1, last_failed_at=at)
        .on_conflict_do_update(index_elements=[LoginThrottle.email],
                               set_={"failed_count": LoginThrottle.failed_count + 1,
                                     "last_failed_at": at})
        .returning(LoginThrottle.failed_count))
    return int(session.execute(statement).scalar_one())


def _lockout(failures: int, settings: AuthSettings) -> timedelta | None:
    """How long ``failures`` consecutive failures lock the address (None: not at all)."""
    beyond = failures - settings.free_failed_logins
    if beyond <= 0:
        return None
    return min(settings.lockout_base * 2 ** min(beyond - 1, 30), settings.lockout_max)


# --- each request ----------------------------------------------------------------------------

def authenticate(db: Database, secret: str, *, kind: SessionKind,
                 settings: AuthSettings = AuthSettings(), now: datetime | None = None
                 ) -> Principal:
    """The caller holding ``secret`` (a cookie's or a bearer token's), or
    :class:`NotAuthenticated`. Refreshes the session's ``last_seen_at`` when it is stale."""
    at = now or utcnow()
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        raise NotAuthenticated("not signed in")
    with db.session() as session:
        row = session.scalars(select(AuthSession).where(
            AuthSession.secret_sha256 == secret_sha256(secret),
            AuthSession.kind == kind.value).options(  # user and organisation: one query
            joinedload(AuthSession.user, innerjoin=True).joinedload(User.organisation,
                                                                    innerjoin=True))).first()
        if row is None or row.revoked_at is not None:
            raise NotAuthenticated("not signed in (unknown or ended session)" if kind is
                                   SessionKind.BROWSER else "unknown or revoked API token")
        if row.expires_at <= at or (kind is SessionKind.BROWSER
                                    and row.last_seen_at + settings.session_idle <= at):
            raise NotAuthenticated("the session has expired: sign in again" if kind is
                                   SessionKind.BROWSER else "the API token has expired")
        user = row.user
        if not user.active:
            raise NotAuthenticated("this account is deactivated")
        principal = _principal(row, user, user.organisation)
        stale = row.last_seen_at + settings.touch_interval <= at
    if stale:
        with db.write_session() as session:
            session.execute(update(AuthSession).where(AuthSession.id == principal.session_id)
                            .values(last_seen_at=at))
    return principal


def check_csrf(principal: Principal, presented: str | None) -> None:
    """Refuse a browser session's state-changing request unless it carries the session's CSRF
    token (API tokens need none)."""
    if principal.session_kind != SessionKind.BROWSER:
        return
    expected = principal.csrf_token or ""
    if not presented or not secrets.compare_digest(presented.encode("utf-8", "replace"),
                                                   expected.encode("utf-8")):
        raise CsrfRefused("missing or wrong CSRF token: send the session's token in the "
                          "X-CSRF-Token header (or the csrf_token form field)")


def _principal(row: AuthSession, user: User, organisation: Organisation) -> Principal:
    return Principal(user_id=user.id, email=user.email, role=user.role,
                     organisation_id=user.organisation_id, organisation_kind=organisation.kind,
                     session_id=row.id, session_kind=row.kind, csrf_token=row.csrf_token,
                     expires_at=row.expires_at)


# --- ending sessions -------------------------------------------------------------------------

def logout(db: Database, principal: Principal, now: datetime | None = None) -> None:
    """End the caller's session (or revoke the API token used)."""
    at = now or utcnow()
    with db.write_session() as session:
        _revoke(session, [principal.session_id], "logout", at)
        user = session.get(User, principal.user_id)
        audit.record(session, action="logout", user=user,
                     organisation_id=principal.organisation_id, object_type="session",
                     object_id=principal.session_id, at=at,
                     detail={"kind": principal.session_kind})


def change_password(db: Database, principal: Principal, *, current_password: str,
                    new_password: str, now: datetime | None = None) -> int:
    """Set a new password (the current one must be given) and end every session and token
    of the user, this one included; the number ended."""
    at = now or utcnow()
    if len(new_password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput("new_password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    with db.session() as session:
        user = session.get(User, principal.user_id)
        assert user is not None
        stored = user.password_hash
    if not verify_password(stored, current_password):
        raise InvalidInput("current_password", "is not the account's password")
    if new_password == current_password:
        raise InvalidInput("new_password", "must differ from the current password")
    new_hash = hash_password(new_password, "new_password")
    with db.write_session() as session:
        user = session.get(User, principal.user_id)
        assert user is not None
        user.password_hash = new_hash
        ended = revoke_user_sessions(session, user.id, "password changed", at)
        audit.record(session, action="user.password_change", user=user,
                     organisation_id=user.organisation_id, object_type="user",
                     object_id=user.id, at=at, detail={"sessions_ended": ended})
        return ended


def revoke_user_sessions(session: Session, user_id: int, reason: str, at: datetime) -> int:
    """End every open session and token of a user (password change, deactivation)."""
    ids = list(session.scalars(select(AuthSession.id).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))))
    _revoke(session, ids, reason, at)
    return len(ids)


def _revoke(session: Session, ids: list[int], reason: str, at: datetime) -> None:
    if ids:
        session.execute(update(AuthSession).where(AuthSession.id.in_(ids),
                                                  AuthSession.revoked_at.is_(None))
                        .values(revoked_at=at, revoked_reason=reason))
