"""Bench agent tokens: created by an admin (or by the service for its own local agent), shown
once, stored as their SHA-256, each good for the jobs of one bench only.

A token is ``bba_`` + 43 URL-safe characters (256 random bits); the prefix lets a reader of a
log or a config file tell an agent token from a person's session token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from benchbot.service import audit
from benchbot.service.auth import secret_sha256
from benchbot.service.db import Database
from benchbot.service.errors import InvalidInput
from benchbot.service.models import AgentToken, Bench, User, utcnow

TOKEN_PREFIX = "bba_"
MAX_TOKEN_CHARS = 200
MAX_LABEL_CHARS = 200
LOCAL_AGENT_LABEL = "local agent (benchbot serve)"


@dataclass(frozen=True)
class BenchAgentIdentity:
    """Who is calling the agent API: the token and the one bench it serves."""

    token_id: int
    bench_id: int
    bench_name: str


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``token`` is its only appearance in clear."""

    token: str
    token_id: int
    bench_name: str


def create_token(db: Database, *, bench_name: str, label: str = "",
                 actor_id: int | None = None, revoke_label: bool = False,
                 now: datetime | None = None) -> NewToken:
    """A new token for the active bench ``bench_name`` (InvalidInput naming ``bench`` if there
    is none). ``revoke_label``: revoke the bench's earlier tokens of the same label first (the
    local agent's token of the previous start)."""
    label = label.strip()
    if len(label) > MAX_LABEL_CHARS:
        raise InvalidInput("label", f"at most {MAX_LABEL_CHARS} characters")
    at = now or utcnow()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.write_session() as session:
        bench = session.scalars(select(Bench).where(Bench.name == bench_name)).first()
        if bench is None or not bench.active:
            names = ", ".join(session.scalars(select(Bench.name).where(Bench.active)
                                              .order_by(Bench.name)))
            raise InvalidInput("bench", f"no active bench {bench_name!r} (benches: {names})")
        actor = session.get(User, actor_id) if actor_id is not None else None
        if revoke_label:
            session.execute(update(AgentToken).where(
                AgentToken.bench_id == bench.id, AgentToken.label == label,
                AgentToken.revoked_at.is_(None)).values(revoked_at=at))
        row = AgentToken(bench_id=bench.id, token_sha256=secret_sha256(token), label=label,
                         created_by_user_id=actor_id, created_at=at)
        session.add(row)
        session.flush()
        audit.record(session, action="agent_token.create", user=actor,
                     organisation_id=None if actor is None else actor.organisation_id,
                     object_type="agent_token", object_id=row.id, at=at,
                     detail={"bench": bench.name, "label": label})
        return NewToken(token=token, token_id=row.id, bench_name=bench.name)


def revoke_token(db: Database, token_id: int, now: datetime | None = None) -> None:
    """Refuse the token from now on (kept for the audit log)."""
    with db.write_session() as session:
        row = session.get(AgentToken, token_id)
        if row is not None and row.revoked_at is None:
            row.revoked_at = now or utcnow()
            audit.record(session, action="agent_token.revoke", user=None, organisation_id=None,
                         object_type="agent_token", object_id=row.id, at=row.revoked_at,
                         detail={"bench_id": row.bench_id, "label": row.label})


def identify(session: Session, token: str) -> BenchAgentIdentity | None:
    """The bench agent holding ``token`` (None: unknown, revoked, or its bench deactivated)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    row = session.execute(
        select(AgentToken.id, Bench.id, Bench.name).join(Bench, Bench.id == AgentToken.bench_id)
        .where(AgentToken.token_sha256 == secret_sha256(token), AgentToken.revoked_at.is_(None),
               Bench.active)).first()
    return None if row is None else BenchAgentIdentity(*row)
