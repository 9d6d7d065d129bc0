"""``/api/auth``: log in and out (browser sessions), API tokens, the caller, password change.

Login takes a JSON body only: a cross-site HTML form cannot send one, so login CSRF is refused
too. The session cookie is HttpOnly and SameSite=Lax, Secure over https (or as configured).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response, status

from benchbot.service import auth
from benchbot.service.api_deps import SESSION_COOKIE, Caller, Db, Settings
from benchbot.service.api_models import (
    LoginIn,
    MeOut,
    PasswordChangedOut,
    PasswordChangeIn,
    TokenIn,
    TokenOut,
    error_responses,
)
from benchbot.service.auth import AuthSettings, NotAuthenticated, Principal
from benchbot.service.states import SessionKind

router = APIRouter(prefix="/api/auth", tags=["authentication"])


def me_out(principal: Principal) -> MeOut:
    return MeOut(user_id=principal.user_id, email=principal.email, role=principal.role,
                 organisation_id=principal.organisation_id,
                 organisation_kind=principal.organisation_kind,
                 session_kind=principal.session_kind, expires_at=principal.expires_at,
                 csrf_token=principal.csrf_token)


def cookie_secure(request: Request, settings: AuthSettings) -> bool:
    """Whether cookies get the Secure flag: as configured, else when the request came over
    https."""
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return request.url.scheme == "https"


def current_session_id(request: Request, db: Db, settings: AuthSettings) -> int | None:
    """The id of the browser session the request's cookie names, or None (no cookie, or an
    ended session): a new sign-in replaces it."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    try:
        return auth.authenticate(db, cookie, kind=SessionKind.BROWSER,
                                 settings=settings).session_id
    except NotAuthenticated:
        return None


def clear_cookie(response: Response, request: Request, settings: AuthSettings) -> None:
    """Tell the browser to drop the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=cookie_secure(request, settings))


@router.post("/login", response_model=MeOut, responses=error_responses(401, 422, 429))
def login(body: LoginIn, request: Request, response: Response, db: Db,
          settings: Settings) -> MeOut:
    """Sign in with e-mail and password: sets the session cookie and returns the session's
    CSRF token (send it as X-CSRF-Token with every state-changing request)."""
    issued = auth.login(db, email=body.email, password=body.password,
                        kind=SessionKind.BROWSER, settings=settings,
                        name=request.headers.get("user-agent", "")[:200],
                        replaces_session_id=current_session_id(request, db, settings))
    response.set_cookie(SESSION_COOKIE, issued.secret,
                        max_age=int(settings.session_absolute.total_seconds()), path="/",
                        httponly=True, samesite="lax", secure=cookie_secure(request, settings))
    return me_out(issued.principal)


@router.post("/tokens", response_model=TokenOut, status_code=status.HTTP_201_CREATED,
             responses=error_responses(401, 422, 429))
def create_token(body: TokenIn, db: Db, settings: Settings) -> TokenOut:
    """An API token for scripts and clients, from e-mail and password (shown only in this
    answer; only its hash is kept). Send it as ``Authorization: Bearer <token>``."""
    issued = auth.login(db, email=body.email, password=body.password,
                        kind=SessionKind.API_TOKEN, name=body.name,
                        lifetime=timedelta(days=body.lifetime_days), settings=settings)
    return TokenOut(token=issued.secret, expires_at=issued.principal.expires_at)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT,
             responses=error_responses(401, 403))
def logout(principal: Caller, request: Request, db: Db, settings: Settings) -> Response:
    """End this session (or revoke the API token used)."""
    auth.logout(db, principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_cookie(response, request, settings)
    return response


@router.get("/me", response_model=MeOut, responses=error_responses(401))
def me(principal: Caller) -> MeOut:
    """Who is signed in, until when, and (browser sessions) the CSRF token."""
    return me_out(principal)


@router.post("/password", response_model=PasswordChangedOut,
             responses=error_responses(401, 403, 422))
def change_password(body: PasswordChangeIn, principal: Caller, request: Request,
                    response: Response, db: Db, settings: Settings) -> PasswordChangedOut:
    """Change the caller's password: every session and token of the account ends, this one
    included (sign in again)."""
    ended = auth.change_password(db, principal, current_password=body.current_password,
                                 new_password=body.new_password)
    clear_cookie(response, request, settings)
    return PasswordChangedOut(sessions_ended=ended)
