"""Frequency-dependent limit masks (benchbot.analysis.limit_mask): flat and sloped segments,
overlaps, points outside every segment, NaN points, the roll-up and the plan model's errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from benchbot.analysis.limit_mask import LimitMaskSpec, MaskSegment, evaluate_mask
from benchbot.limits import MetricResult, Verdict

F_HZ = np.arange(1.0, 11.0) * 1e9  # 1..10 GHz, 1 GHz steps


def seg(**kw: float) -> MaskSegment:
    return MaskSegment(**kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ point-wise
def test_flat_min_max_margins_and_inclusive_edges() -> None:
    values = np.array([0, 20, 21, 19.5, 23, 22, 0, 0, 0, 0], float)
    r = evaluate_mask(F_HZ, values, [seg(start_hz=2e9, stop_hz=6e9, min_db=20, max_db=22)])
    np.testing.assert_array_equal(r.judged, [0, 1, 1, 1, 1, 1, 0, 0, 0, 0])  # edges included
    np.testing.assert_allclose(r.margin_per_point[1:6], [0, 1, -0.5, -1, 0])
    assert np.isnan(r.margin_per_point[[0, 6, 7, 8, 9]]).all()
    np.testing.assert_array_equal(r.pass_per_point, [1, 1, 1, 0, 0, 1, 1, 1, 1, 1])
    assert (r.worst_margin, r.worst_frequency_hz) == (-1.0, 5e9)
    assert (r.points_checked, r.points_failed, r.points_unmeasured) == (5, 2, 0)
    assert r.verdict is Verdict.FAIL
    np.testing.assert_array_equal(r.pass_as_float()[:3], [np.nan, 1.0, 1.0])
    assert r.pass_as_float()[4] == 0.0
    assert "worst margin -1 dB at 5 GHz" in r.note() and "2/5 points fail" in r.note()


def test_sloped_lines_are_straight_between_start_and_stop() -> None:
    """Upper line from -20 dB at 2 GHz to -40 dB at 6 GHz: -30 dB at 4 GHz."""
    s = seg(start_hz=2e9, stop_hz=6e9, max_db=-20, max_stop_db=-40)
    np.testing.assert_allclose(s.upper_at([2e9, 3e9, 4e9, 6e9, 7e9]),
                               [-20, -25, -30, -40, np.nan])
    assert np.isnan(s.lower_at([4e9])).all()
    values = np.full(F_HZ.size, -31.0)
    r = evaluate_mask(F_HZ, values, [s])
    # margins = line - value: 11, 6, 1, -4, -9 at 2..6 GHz
    np.testing.assert_allclose(r.margin_per_point[1:6], [11, 6, 1, -4, -9])
    assert (r.worst_margin, r.worst_frequency_hz) == (-9.0, 6e9)
    rising = seg(start_hz=1e9, stop_hz=3e9, min_db=10, min_stop_db=14)
    np.testing.assert_allclose(rising.lower_at([1e9, 2e9, 3e9]), [10, 12, 14])


def test_overlapping_segments_both_judge_and_gaps_are_not_judged() -> None:
    segments = [seg(start_hz=1e9, stop_hz=5e9, min_db=10),
                seg(start_hz=4e9, stop_hz=6e9, max_db=12),  # 4-5 GHz: window 10..12
                seg(start_hz=8e9, stop_hz=9e9, max_db=0)]
    values = np.array([11, 11, 11, 13, 11.5, 13, 50, 50, -1, 50], float)
    r = evaluate_mask(F_HZ, values, segments)
    np.testing.assert_array_equal(r.judged, [1, 1, 1, 1, 1, 1, 0, 1, 1, 0])
    # 4 GHz: min 10 passes by 3, max 12 fails by 1 -> -1; 5 GHz: min(1.5, 0.5) = 0.5
    np.testing.assert_allclose(r.margin_per_point[[3, 4, 5]], [-1, 0.5, -1])
    assert not r.pass_per_point[3] and r.pass_per_point[4]
    assert r.pass_per_point[6] and np.isnan(r.margin_per_point[6])  # 7 GHz: nobody's
    assert r.points_checked == 8
    assert r.margin_per_point[7] == -50 and r.worst_frequency_hz == 8e9


def test_unmeasured_points_fail_and_make_the_rollup_nan() -> None:
    values = np.array([5, 5, np.nan, 5, 5, np.nan, 5, 5, 5, 5], float)
    r = evaluate_mask(F_HZ, values, [seg(start_hz=1e9, stop_hz=4e9, min_db=0)])
    assert (r.points_checked, r.points_failed, r.points_unmeasured) == (4, 1, 1)
    assert not r.pass_per_point[2] and r.pass_per_point[5]  # 6 GHz NaN is not judged
    assert math.isnan(r.worst_margin) and r.worst_frequency_hz == 3e9
    assert r.verdict is Verdict.FAIL
    assert "1 judged points have no value" in r.note()


def test_mask_covering_no_point_fails() -> None:
    r = evaluate_mask(F_HZ, np.zeros(10), [seg(start_hz=20e9, stop_hz=30e9, max_db=1)])
    assert r.points_checked == 0 and r.verdict is Verdict.FAIL
    assert math.isnan(r.worst_margin)
    assert "covers none" in r.note()


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="equal 1-D"):
        evaluate_mask(F_HZ, np.zeros(3), [seg(start_hz=1e9, stop_hz=2e9, max_db=0)])


# ------------------------------------------------------------------------------ roll-up
@pytest.mark.parametrize(("value", "verdict"), [
    (14.0, Verdict.PASS),  # worst margin 2 dB > 0.5
    (12.3, Verdict.MARGINAL),  # worst margin 0.3 dB <= 0.5
    (12.0, Verdict.MARGINAL),  # on the line: inclusive
    (11.9, Verdict.FAIL),
])
def test_rollup_verdict_equals_judging_the_worst_margin(value: float, verdict: Verdict) -> None:
    spec = LimitMaskSpec(segments=[seg(start_hz=1e9, stop_hz=10e9, min_db=12)],
                         source="datasheet §3", marginal_db=0.5)
    values = np.full(F_HZ.size, 20.0)
    values[6] = value
    r = spec.evaluate(F_HZ, values)
    assert r.verdict is verdict
    assert r.worst_frequency_hz == 7e9
    judged = MetricResult.judge("s", "mask_s21_db_margin_db", "dB", r.worst_margin,
                                spec.margin_limit(), {"frequency_hz": r.worst_frequency_hz})
    assert judged.verdict is verdict
    assert judged.to_dict()["limit_source"] == "datasheet §3"


def test_rollup_of_nan_fails_through_the_limit_too() -> None:
    spec = LimitMaskSpec(segments=[seg(start_hz=1e9, stop_hz=2e9, max_db=0)])
    r = spec.evaluate(F_HZ, np.full(F_HZ.size, np.nan))
    assert MetricResult.judge("s", "m", "dB", r.worst_margin, spec.margin_limit()).verdict \
        is Verdict.FAIL


# ------------------------------------------------------------------------------ plan model
class Step(BaseModel):  # how a plan step nests masks: masks: {s21_db: {segments: ..., source}}
    masks: dict[str, LimitMaskSpec] = {}


@pytest.mark.parametrize(("segment", "field", "reason"), [
    ({"start_hz": 3e9, "stop_hz": 2e9, "max_db": 0}, "0.stop_hz", "must be above start_hz"),
    ({"start_hz": 2e9, "stop_hz": 2e9, "max_db": 0}, "0.stop_hz", "must be above start_hz"),
    ({"start_hz": 1e9, "stop_hz": 2e9}, "min_db/max_db", "needs a lower line"),
    ({"start_hz": 1e9, "stop_hz": 2e9, "max_stop_db": -3}, "0.max_stop_db", "needs max_db"),
    ({"start_hz": 1e9, "stop_hz": 2e9, "min_db": 5, "max_db": 3}, "min_db/max_db",
     "above the upper line"),
    ({"start_hz": 1e9, "stop_hz": 2e9, "min_db": 0, "min_stop_db": 5, "max_db": 4},
     "min_db/max_db", "at stop_hz"),
    ({"start_hz": 1e9, "stop_hz": 2e9, "max_db": 0, "maximum": 1}, "maximum", "Extra inputs"),
    ({"start_hz": -1, "stop_hz": 2e9, "max_db": 0}, "0.start_hz", "greater than or equal"),
    ({"start_hz": 1e9, "stop_hz": 2e9, "min_db": float("nan")}, "0.min_db", "finite"),
])
def test_validation_names_the_field(segment: dict, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        Step.model_validate({"masks": {"s21_db": {"segments": [segment], "source": "x"}}})
    text = str(info.value)
    assert "masks.s21_db.segments.0" in text and field in text and reason in text


def test_spec_needs_segments_and_non_negative_band() -> None:
    with pytest.raises(ValidationError, match="segments"):
        LimitMaskSpec(segments=[])
    with pytest.raises(ValidationError, match="marginal_db"):
        LimitMaskSpec(segments=[seg(start_hz=1, stop_hz=2, max_db=0)], marginal_db=-1)


def test_plan_dict_round_trip() -> None:
    data = {"segments": [{"start_hz": 3.3e9, "stop_hz": 3.8e9, "min_db": 18, "max_db": 22},
                         {"start_hz": 5e9, "stop_hz": 6e9, "max_db": -20, "max_stop_db": -30}],
            "source": "datasheet BB-LNA rev A §2", "marginal_db": 0.25}
    spec = LimitMaskSpec.model_validate(data)
    assert LimitMaskSpec.model_validate(spec.model_dump(mode="json")) == spec
    assert "marginal_db" in LimitMaskSpec.model_json_schema()["properties"]
