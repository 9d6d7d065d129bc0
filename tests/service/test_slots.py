"""The earliest-slot computation as pure functions (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchbot.service.errors import InvalidInput
from benchbot.service.scheduling import (
    BenchCalendar,
    Slot,
    booking_duration,
    ceil_minute,
    earliest_slot,
    earliest_start,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def busy(*pairs: tuple[float, float]) -> tuple[tuple[datetime, datetime], ...]:
    return tuple((at(a), at(b)) for a, b in pairs)


def test_duration_is_per_dut_estimate_times_quantity() -> None:
    assert booking_duration(25, 4) == timedelta(minutes=100)
    with pytest.raises(InvalidInput, match="dut_quantity: must be > 0"):
        booking_duration(25, 0)
    with pytest.raises(InvalidInput, match="duration_estimate_min"):
        booking_duration(0, 1)


def test_empty_calendar_starts_at_once() -> None:
    assert earliest_start((), H, at(0)) == at(0)


def test_gap_must_hold_the_whole_duration() -> None:
    cal = busy((1, 2), (2.5, 4))  # free: [0,1) [2,2.5) [4,...)
    assert earliest_start(cal, H, at(0)) == at(0)
    assert earliest_start(cal, H, at(0.5)) == at(4)  # [0.5,1) and [2,2.5) are too short
    assert earliest_start(cal, 0.5 * H, at(0.5)) == at(0.5)
    assert earliest_start(cal, 0.5 * H, at(1.5)) == at(2)  # back-to-back is allowed


def test_unsorted_and_overlapping_busy_slots() -> None:
    cal = busy((3, 5), (0, 2), (1, 4))
    assert earliest_start(cal, H, at(0)) == at(5)


def test_latest_start_bounds_the_search() -> None:
    cal = busy((0, 10))
    assert earliest_start(cal, H, at(0), latest_start=at(9)) is None
    assert earliest_start(cal, H, at(0), latest_start=at(10)) == at(10)


def test_earliest_slot_picks_capable_bench_with_earliest_start() -> None:
    cals = [BenchCalendar(1, "pa-bench", frozenset({"signal_generator", "signal_analyzer"}),
                          busy((0, 3))),
            BenchCalendar(2, "pa-bench-2", frozenset({"signal_generator", "signal_analyzer",
                                                      "power_meter"}), busy((0, 2))),
            BenchCalendar(3, "vna-bench", frozenset({"vna"}), ())]
    slot = earliest_slot(cals, ["signal_generator", "signal_analyzer"], H, at(0))
    assert slot == Slot(2, "pa-bench-2", at(2), at(3))
    assert earliest_slot(cals, ["vna"], H, at(0)) == Slot(3, "vna-bench", at(0), at(1))
    assert earliest_slot(cals, ["smu"], H, at(0)) is None


def test_ties_go_to_the_lower_bench_name() -> None:
    cals = [BenchCalendar(7, "b", frozenset({"vna"}), ()),
            BenchCalendar(9, "a", frozenset({"vna"}), ())]
    assert earliest_slot(cals, ["vna"], H, at(0)).bench_name == "a"


def test_ceil_minute() -> None:
    assert ceil_minute(at(0)) == at(0)
    assert ceil_minute(at(0) + timedelta(seconds=1)) == at(0) + timedelta(minutes=1)


intervals = st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 300)), max_size=12)


@given(intervals, st.integers(1, 400), st.integers(0, 2500))
def test_earliest_start_is_free_and_nothing_earlier_is(
        raw: list[tuple[int, int]], duration_min: int, not_before_min: int) -> None:
    """The answer overlaps no busy slot, and every earlier candidate start (the lower bound or
    a busy slot's end: the only places a free gap begins) does overlap one."""
    cal = [(T0 + timedelta(minutes=s), T0 + timedelta(minutes=s + n)) for s, n in raw]
    duration = timedelta(minutes=duration_min)
    not_before = T0 + timedelta(minutes=not_before_min)

    def clear(t: datetime) -> bool:
        return all(t + duration <= s or e <= t for s, e in cal)

    t = earliest_start(cal, duration, not_before)
    assert t is not None and t >= not_before and clear(t)
    candidates = [not_before] + [e for _, e in cal if not_before <= e < t]
    assert not any(clear(c) for c in candidates if c < t)
