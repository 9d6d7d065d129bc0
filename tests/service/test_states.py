"""The status transition check: every pair of states, allowed or refused with from/to named."""

from __future__ import annotations

import pytest

from benchbot.service.errors import IllegalTransition
from benchbot.service.states import (
    BOOKING_TRANSITIONS,
    JOB_TRANSITIONS,
    BookingStatus,
    JobState,
    check_transition,
)


def test_the_booking_life_cycle() -> None:
    path = ["requested", "confirmed", "scheduled", "running", "completed"]
    for old, new in zip(path, path[1:], strict=False):
        check_transition("booking", 1, old, new)


@pytest.mark.parametrize(("old", "new"), [
    (old, new) for old in BookingStatus for new in BookingStatus
    if new not in BOOKING_TRANSITIONS[old]])
def test_every_other_booking_transition_is_refused(old: BookingStatus, new: BookingStatus
                                                   ) -> None:
    with pytest.raises(IllegalTransition) as info:
        check_transition("booking", 42, old, new)
    assert f"booking 42: cannot go from '{old}' to '{new}'" in str(info.value)
    assert (info.value.current, info.value.requested) == (old.value, new.value)


@pytest.mark.parametrize(("old", "new"), [
    (old, new) for old in JobState for new in JobState if new not in JOB_TRANSITIONS[old]])
def test_every_other_job_transition_is_refused(old: JobState, new: JobState) -> None:
    with pytest.raises(IllegalTransition, match=f"job 7: cannot go from '{old}' to '{new}'"):
        check_transition("job", 7, old, new)


def test_a_lost_agent_never_puts_its_job_back_in_the_queue() -> None:
    for state in JobState:
        assert JobState.QUEUED not in JOB_TRANSITIONS[state]
    assert JOB_TRANSITIONS[JobState.RUNNING] and JobState.NEEDS_DECISION in \
        JOB_TRANSITIONS[JobState.RUNNING]


def test_final_states_say_so_and_unknown_states_are_refused() -> None:
    with pytest.raises(IllegalTransition, match="allowed from 'completed': none: it is final"):
        check_transition("booking", 1, "completed", "running")
    with pytest.raises(IllegalTransition, match="cannot go from 'requested' to 'done'"):
        check_transition("booking", 1, "requested", "done")
