"""The audit log: one row per action that changed something, with who, for which organisation
and on which object."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from benchbot.service.models import AuditEntry, User, utcnow


def record(session: Session, *, action: str, user: User | None, organisation_id: int | None,
           object_type: str | None = None, object_id: int | None = None,
           detail: dict[str, Any] | None = None, at: datetime | None = None) -> AuditEntry:
    """Add an audit entry to the session's transaction (it commits, or vanishes, with the
    change it describes)."""
    entry = AuditEntry(at=at or utcnow(), user_id=None if user is None else user.id,
                       organisation_id=organisation_id, action=action,
                       object_type=object_type, object_id=object_id, detail=detail or {})
    session.add(entry)
    return entry
