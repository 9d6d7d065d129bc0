"""Status values and the one place their transitions are checked.

Bookings: ``requested → confirmed → scheduled → running → completed | failed``, cancelled from
any non-final state. ``running → scheduled`` is an engineer's decision to run again after a lost
or aborted job (a new job row, never a silent retry); ``scheduled → failed`` the decision to
give up on a booking whose job was lost after its agent claimed it but before it started.

Jobs (one per scheduled run, pulled by the bench agent): ``queued → claimed → running →
completed | failed | aborted``. An agent whose lease expires leaves its job in
``needs_decision`` -- never back in the queue, since the DUT may still be powered -- and an
engineer closes it as ``lost`` (outcome unknown), ``failed``, ``completed`` or ``aborted``.
"""

from __future__ import annotations

from enum import StrEnum

from benchbot.service.errors import IllegalTransition


class OrganisationKind(StrEnum):
    CUSTOMER = "customer"  # an SME that books runs
    LAB = "lab"  # the lab running the benches (exactly one)


class UserRole(StrEnum):
    CUSTOMER = "customer"
    ENGINEER = "engineer"
    ADMIN = "admin"


class SessionKind(StrEnum):
    BROWSER = "browser"  # a cookie session (idle and absolute expiry, CSRF token)
    API_TOKEN = "api_token"  # a bearer token for API clients (absolute expiry)


class BookingStatus(StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobState(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTED = "aborted"
    LOST = "lost"
    NEEDS_DECISION = "needs_decision"


class RunStatus(StrEnum):
    """The record's own status (docs/record-format.md), as stored or as read back."""

    RUNNING = "running"
    COMPLETED = "completed"
    ABORTED = "aborted"
    ERROR = "error"
    INTERRUPTED = "interrupted"


class RunVerdict(StrEnum):
    PASS = "pass"
    MARGINAL = "marginal"
    FAIL = "fail"
    ERROR = "error"
    ABORTED = "aborted"


B, J = BookingStatus, JobState

BOOKING_TRANSITIONS: dict[BookingStatus, tuple[BookingStatus, ...]] = {
    B.REQUESTED: (B.CONFIRMED, B.CANCELLED),
    B.CONFIRMED: (B.SCHEDULED, B.CANCELLED),
    B.SCHEDULED: (B.RUNNING, B.CANCELLED, B.FAILED),
    B.RUNNING: (B.COMPLETED, B.FAILED, B.CANCELLED, B.SCHEDULED),
    B.COMPLETED: (),
    B.FAILED: (),
    B.CANCELLED: (),
}

JOB_TRANSITIONS: dict[JobState, tuple[JobState, ...]] = {
    J.QUEUED: (J.CLAIMED, J.ABORTED),
    J.CLAIMED: (J.RUNNING, J.FAILED, J.ABORTED, J.NEEDS_DECISION),
    J.RUNNING: (J.COMPLETED, J.FAILED, J.ABORTED, J.NEEDS_DECISION),
    J.NEEDS_DECISION: (J.LOST, J.FAILED, J.COMPLETED, J.ABORTED),
    J.COMPLETED: (),
    J.FAILED: (),
    J.ABORTED: (),
    J.LOST: (),
}

#: bookings that hold their bench slot: the database refuses two of them overlapping on a bench
SLOT_HOLDING_STATUSES: tuple[BookingStatus, ...] = (B.SCHEDULED, B.RUNNING)
#: bookings that must carry a bench and a slot (a check constraint says so)
SLOTTED_STATUSES: tuple[BookingStatus, ...] = (B.SCHEDULED, B.RUNNING, B.COMPLETED, B.FAILED)
#: jobs not yet finished: at most one per booking (a partial unique index says so)
OPEN_JOB_STATES: tuple[JobState, ...] = (J.QUEUED, J.CLAIMED, J.RUNNING, J.NEEDS_DECISION)

_MACHINES: dict[str, tuple[type[StrEnum], dict]] = {
    "booking": (BookingStatus, BOOKING_TRANSITIONS),
    "job": (JobState, JOB_TRANSITIONS),
}


def check_transition(object_type: str, object_id: object, current: str, requested: str) -> None:
    """Refuse a status change the state machine of ``object_type`` ("booking" or "job") does
    not allow, with :class:`IllegalTransition` naming the object, from and to. Staying in the
    same status is a transition too, and refused like any other not listed."""
    states, table = _MACHINES[object_type]
    try:
        old, new = states(current), states(requested)
    except ValueError:
        raise IllegalTransition(object_type, object_id, str(current), str(requested),
                                tuple(s.value for s in states)) from None
    allowed = table[old]
    if new not in allowed:
        raise IllegalTransition(object_type, object_id, old.value, new.value,
                                tuple(s.value for s in allowed))


def sql_in(values: tuple[StrEnum, ...] | tuple[str, ...]) -> str:
    """``'a', 'b'`` for an SQL ``IN (...)`` in DDL (constants of this module only)."""
    return ", ".join(f"'{str(v)}'" for v in values)
