"""Verdict order and roll-up; limit evaluation with marginal bands; metric results."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from benchbot.limits import Limit, MetricResult, Verdict, evaluate, roll_up

V = Verdict


def test_verdict_order_is_severity_not_alphabet() -> None:
    assert V.PASS < V.MARGINAL < V.FAIL < V.ERROR < V.ABORTED
    assert sorted([V.ABORTED, V.FAIL, V.PASS, V.ERROR, V.MARGINAL]) == list(V)
    assert max([V.FAIL, V.MARGINAL]) is V.FAIL  # alphabetically "marginal" > "fail"
    assert [v.value for v in V] == ["pass", "marginal", "fail", "error", "aborted"]
    assert V("marginal") is V.MARGINAL and V.ERROR == "error"


def test_verdict_refuses_comparison_with_strings() -> None:
    with pytest.raises(TypeError):
        _ = V.PASS < "fail"


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [([], V.PASS), ([V.PASS, V.PASS], V.PASS), ([V.PASS, V.MARGINAL], V.MARGINAL),
     ([V.MARGINAL, V.FAIL, V.PASS], V.FAIL), ([V.FAIL, V.ERROR], V.ERROR),
     ([V.ERROR, V.ABORTED, V.PASS], V.ABORTED)],
)
def test_roll_up_is_the_worst(verdicts: list[Verdict], expected: Verdict) -> None:
    assert roll_up(verdicts) is expected


@pytest.mark.parametrize(
    ("value", "limit", "verdict", "margin"),
    [
        # min only
        (30.0, {"min": 29.0}, V.PASS, 1.0),
        (29.0, {"min": 29.0}, V.PASS, 0.0),           # inclusive
        (28.9, {"min": 29.0}, V.FAIL, -0.1),
        (29.4, {"min": 29.0, "marginal_db": 0.5}, V.MARGINAL, 0.4),
        (29.5, {"min": 29.0, "marginal_db": 0.5}, V.MARGINAL, 0.5),  # band edge is marginal
        (29.6, {"min": 29.0, "marginal_db": 0.5}, V.PASS, 0.6),
        # max only
        (8.0, {"max": 10.0}, V.PASS, 2.0),
        (10.5, {"max": 10.0}, V.FAIL, -0.5),
        (9.8, {"max": 10.0, "marginal_db": 0.5}, V.MARGINAL, 0.2),
        # window: margin is the distance to the nearer limit
        (28.0, {"min": 25.0, "max": 31.0}, V.PASS, 3.0),
        (30.0, {"min": 25.0, "max": 31.0}, V.PASS, 1.0),
        (25.2, {"min": 25.0, "max": 31.0, "marginal_db": 0.5}, V.MARGINAL, 0.2),
        (30.9, {"min": 25.0, "max": 31.0, "marginal_db": 0.5}, V.MARGINAL, 0.1),
        (24.0, {"min": 25.0, "max": 31.0, "marginal_db": 0.5}, V.FAIL, -1.0),
        (32.0, {"min": 25.0, "max": 31.0, "marginal_db": 0.5}, V.FAIL, -1.0),
        # infinities behave like numbers
        (math.inf, {"max": 10.0}, V.FAIL, -math.inf),
    ],
)
def test_evaluate(value: float, limit: dict, verdict: Verdict, margin: float) -> None:
    got_verdict, got_margin = evaluate(value, Limit(**limit))
    assert got_verdict is verdict
    assert got_margin == pytest.approx(margin)


def test_a_metric_that_could_not_be_computed_fails_its_limit() -> None:
    verdict, margin = evaluate(math.nan, Limit(min=29.0))
    assert verdict is V.FAIL and math.isnan(margin)


def test_a_metric_without_limit_is_informational() -> None:
    for value in (1.0, math.nan):
        verdict, margin = evaluate(value, None)
        assert verdict is V.PASS and math.isnan(margin)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({}, "needs min, max or both"),
        ({"min": 5.0, "max": 1.0}, "min (5) is above max (1)"),
        ({"min": 0.0, "max": 1.0, "marginal_db": 0.5}, "leaves no PASS region"),
        ({"min": 0.0, "marginal_db": -1.0}, "greater than or equal to 0"),
        ({"min": math.nan}, "finite number"),
        ({"minimum": 1.0}, "Extra inputs are not permitted"),
    ],
)
def test_bad_limits(kwargs: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(reason)):
        Limit(**kwargs)


def test_limit_describe() -> None:
    text = Limit(min=25, max=31, marginal_db=0.5).describe("dB")
    assert text == "25 <= x <= 31 dB (marginal 0.5)"
    assert Limit(min=29).describe("dBm") == "x >= 29 dBm"
    assert Limit(max=10).describe() == "x <= 10"


def test_metric_result_judge_and_to_dict() -> None:
    r = MetricResult.judge("compression", "p1db_output_dbm", "dBm", 29.3,
                           Limit(min=29.0, marginal_db=0.5), {"frequency_hz": 3.55e9}, note="m")
    assert r.verdict is V.MARGINAL and r.margin == pytest.approx(0.3)
    d = r.to_dict()
    assert d["verdict"] == "marginal" and d["limit"] == {"min": 29.0, "max": None,
                                                         "marginal_db": 0.5, "source": ""}
    assert "limit_source" not in d  # only limits with a source carry one
    json.dumps(d)  # plain data
    assert MetricResult.judge("s", "psat_dbm", "dBm", 33.0).verdict is V.PASS


finite = st.floats(-1e3, 1e3)


@given(value=finite, lo=finite, width=st.floats(1e-3, 1e3), band=st.floats(0, 1e3))
def test_margin_sign_matches_verdict(value: float, lo: float, width: float, band: float) -> None:
    band = min(band, 0.49 * width)
    limit = Limit(min=lo, max=lo + width, marginal_db=band)
    verdict, margin = evaluate(value, limit)
    assert (verdict is V.FAIL) == (margin < 0)
    assert (verdict is V.FAIL) == (value < lo or value > lo + width)
    if verdict is V.MARGINAL:
        assert 0 <= margin <= band
