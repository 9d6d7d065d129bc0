"""Domain errors of the booking service: each names what was refused and why.

The HTTP layer maps them to 4xx responses (never a 500): :class:`NotFound` → 404,
:class:`PermissionDenied` → 403, :class:`InvalidInput` → 422, the rest → 409.
"""

from __future__ import annotations

from datetime import datetime


class ServiceError(Exception):
    """Base of every refusal the service explains to its caller."""


class InvalidInput(ServiceError):
    """Bad input: ``field`` names the field, the message the reason."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(ServiceError):
    """No such object for this caller (also when it exists in another organisation)."""

    def __init__(self, object_type: str, object_id: object) -> None:
        super().__init__(f"no {object_type} {object_id}")
        self.object_type = object_type
        self.object_id = object_id


class PermissionDenied(ServiceError):
    """The caller's role does not allow the action."""


class IllegalTransition(ServiceError):
    """A status change the state machine does not allow (names the object, from and to)."""

    def __init__(self, object_type: str, object_id: object, current: str, requested: str,
                 allowed: tuple[str, ...]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none: it is final"
        super().__init__(f"{object_type} {object_id}: cannot go from {current!r} to "
                         f"{requested!r} (allowed from {current!r}: {allowed_text})")
        self.object_type = object_type
        self.object_id = object_id
        self.current = current
        self.requested = requested
        self.allowed = allowed


class BenchBooked(ServiceError):
    """The slot overlaps another active booking on the same bench."""

    def __init__(self, bench_name: str, start: datetime | None, end: datetime | None,
                 booking_id: int | None) -> None:
        if booking_id is None or start is None or end is None:
            text = f"bench {bench_name} is already booked in that slot"
        else:
            text = (f"bench {bench_name} is booked from {start:%Y-%m-%d %H:%M} to "
                    f"{end:%Y-%m-%d %H:%M} UTC by booking {booking_id}")
        super().__init__(text)
        self.bench_name = bench_name
        self.conflicting_booking_id = booking_id


class NoSlot(ServiceError):
    """No capable bench has a free slot within the scheduling horizon."""


class StateConflict(ServiceError):
    """The object is not in a state that allows the action (says which state it is in)."""


class DatabaseUnavailable(ServiceError):
    """The database cannot be reached or opened (names it, without its password)."""
