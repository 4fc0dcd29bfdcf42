"""Drivers of a stage's gap: the decomposition on hand-made counts, edge cases, and the sum identity (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics import friction, metrics
from analytics.drivers import NPS_COUNTS, breakdown, nps_counts


def counts_frame(dimension: str, rows: dict[object, tuple[int, int, int]]) -> pd.DataFrame:
    """``[dimension, promoters, passives, detractors]`` from ``{value: (p, a, d)}``."""
    return pd.DataFrame(
        [{dimension: value, **dict(zip(NPS_COUNTS, counts, strict=True))} for value, counts in rows.items()],
        columns=[dimension, *NPS_COUNTS],
    )


# Stage NPS 0 (n = 100) against a reference of 20: a gap of 20 points.
# A: 60 answers, NPS 16.67 → gap 3.33, share 0.6, contribution 2; B: 40 answers, NPS −25 → gap 45, share 0.4, 18.
TWO_TOUCHPOINTS = counts_frame("touchpoint_id", {1: (30, 10, 20), 2: (10, 10, 20)})


def test_breakdown_hand_computed_contributions_largest_first():
    result = breakdown(TWO_TOUCHPOINTS, dimension="touchpoint_id", reference_nps=20.0)

    assert result.stage.value == pytest.approx(0.0)
    assert result.stage.n == 100
    assert result.gap == pytest.approx(20.0)
    first, second = result.drivers
    assert first.value == 2
    assert (first.n, first.share, first.detractors) == (40, pytest.approx(0.4), 20)
    assert first.nps.value == pytest.approx(-25.0)
    assert first.gap == pytest.approx(45.0)
    assert first.contribution == pytest.approx(18.0)
    assert second.value == 1
    assert second.share == pytest.approx(0.6)
    assert second.gap == pytest.approx(20 - 100 * 10 / 60)
    assert second.contribution == pytest.approx(2.0)
    # Both touchpoints hold half of the stage's detractors; the share of answers is what adds up.
    assert first.detractor_share == second.detractor_share == pytest.approx(0.5)
    assert first.contribution + second.contribution == pytest.approx(result.gap)


def test_each_value_carries_the_adjusted_wald_interval_of_metrics_nps():
    result = breakdown(TWO_TOUCHPOINTS, dimension="touchpoint_id", reference_nps=20.0, confidence=0.9)

    assert result.drivers[0].nps == metrics.nps(10, 10, 20, confidence=0.9)
    assert result.stage == metrics.nps(40, 20, 40, confidence=0.9)


def test_contributions_sum_to_the_stage_gap_including_insufficient_and_above_reference_values():
    frame = counts_frame("channel", {"email": (90, 30, 80), "sms": (50, 10, 5), "web": (1, 0, 9)})

    result = breakdown(frame, dimension="channel", reference_nps=10.0)

    total = sum(driver.contribution for driver in result.drivers)
    assert total == pytest.approx(result.gap, abs=1e-9)
    assert result.gap == pytest.approx(10.0 - 100 * (141 - 94) / 275)
    sms = next(driver for driver in result.drivers if driver.value == "sms")
    assert sms.contribution < 0  # above the reference: it holds the stage up
    assert sum(driver.share for driver in result.drivers) == pytest.approx(1.0)


def test_insufficient_values_are_kept_marked_and_never_ranked_above_sufficient_ones():
    # "tiny" (n = 10, all detractors) has the largest contribution but too few answers.
    frame = counts_frame("persona", {"tiny": (0, 0, 10), "big": (60, 20, 20), "mid": (20, 10, 10)})

    result = breakdown(frame, dimension="persona", reference_nps=30.0, min_n=30)

    assert [driver.value for driver in result.drivers] == ["mid", "big", "tiny"]
    tiny = result.drivers[-1]
    assert not tiny.is_sufficient
    assert tiny.contribution > max(driver.contribution for driver in result.drivers[:-1])
    assert tiny.as_dict()["nps"] == {"insufficient_data": True, "n": 10}
    assert tiny.as_dict()["gap"] is None
    assert tiny.as_dict()["contribution"] == pytest.approx(tiny.contribution, abs=1e-4)
    assert all(driver.is_sufficient for driver in result.drivers[:-1])
    assert sum(driver.contribution for driver in result.drivers) == pytest.approx(result.gap)


def test_empty_counts_give_no_drivers_and_no_gap():
    for frame in (
        counts_frame("touchpoint_id", {}),
        pd.DataFrame(columns=["touchpoint_id", "question_type", "score", "n"]),
    ):
        result = breakdown(frame, dimension="touchpoint_id", reference_nps=12.0)

        assert result.drivers == ()
        assert result.stage.n == 0
        assert result.gap is None
        assert result.as_dict() == {
            "dimension": "touchpoint_id",
            "reference_nps": 12.0,
            "stage": {"insufficient_data": True, "n": 0},
            "gap": None,
            "drivers": [],
        }


def test_a_value_with_no_answers_has_no_nps_no_gap_and_contributes_nothing():
    frame = counts_frame("touchpoint_id", {1: (20, 10, 30), 2: (0, 0, 0)})

    result = breakdown(frame, dimension="touchpoint_id", reference_nps=0.0, min_n=1)

    empty = result.drivers[-1]
    assert empty.value == 2
    assert (empty.n, empty.share, empty.contribution) == (0, 0.0, 0.0)
    assert empty.nps.value is None
    assert empty.gap is None
    assert not empty.is_sufficient
    assert result.drivers[0].contribution == pytest.approx(result.gap)


def test_a_stage_whose_values_all_have_no_answers_has_no_gap_and_zero_contributions():
    result = breakdown(counts_frame("channel", {"email": (0, 0, 0)}), dimension="channel", reference_nps=5.0)

    (driver,) = result.drivers
    assert result.gap is None
    assert (driver.share, driver.contribution, driver.detractor_share) == (0.0, 0.0, None)


def test_a_single_value_explains_the_whole_gap():
    result = breakdown(counts_frame("channel", {"email": (30, 20, 50)}), dimension="channel", reference_nps=15.0)

    (driver,) = result.drivers
    assert driver.share == 1.0
    assert driver.gap == pytest.approx(35.0)
    assert driver.contribution == pytest.approx(result.gap) == pytest.approx(35.0)
    assert driver.detractor_share == 1.0


def test_no_detractors_in_the_stage_leaves_the_detractor_share_undefined():
    result = breakdown(
        counts_frame("channel", {"a": (40, 10, 0), "b": (5, 30, 0)}), dimension="channel", reference_nps=0
    )

    assert [driver.detractor_share for driver in result.drivers] == [None, None]


def test_answer_counts_shape_buckets_nps_scores_and_ignores_other_question_types():
    frame = pd.DataFrame(
        {
            "stage_id": [7] * 7,
            "touchpoint_id": [1, 1, 1, 1, 2, 2, 2],
            "question_type": ["nps", "nps", "nps", "csat", "nps", "nps", "ces"],
            "score": [10, 9, 6, 5, 8, 0, 7],
            "n": [5, 3, 4, 100, 6, 2, 50],
        }
    )

    table = nps_counts(frame, "touchpoint_id")

    assert table.to_dict("records") == [
        {"touchpoint_id": 1, "promoters": 8, "passives": 0, "detractors": 4},
        {"touchpoint_id": 2, "promoters": 0, "passives": 6, "detractors": 2},
    ]
    result = breakdown(frame, dimension="touchpoint_id", reference_nps=0.0, min_n=1)
    assert result.stage.n == 20  # NPS answers only


def test_repeated_values_are_summed_and_missing_values_kept_as_none():
    frame = pd.DataFrame(
        {
            "persona": ["new", "new", None, ""],
            "promoters": [1, 2, 3, 4],
            "passives": [0, 1, 0, 0],
            "detractors": [5, 0, np.nan, 1],
        }
    )

    table = nps_counts(frame, "persona")
    result = breakdown(frame, dimension="persona", reference_nps=0.0, min_n=1)

    assert table["promoters"].tolist() == [4, 3, 3]  # "", "new", then the missing value
    assert {driver.value for driver in result.drivers} == {"", "new", None}
    assert sum(driver.n for driver in result.drivers) == 17


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"channel": ["a"], "promoters": [1]}), "need the columns"),
        (pd.DataFrame({"other": [1], "promoters": [1], "passives": [1], "detractors": [1]}), "'channel'"),
        (counts_frame("channel", {"a": (1, -1, 0)}), "negative"),
        (pd.DataFrame({"channel": ["a"], "question_type": ["nps"], "score": [11], "n": [1]}), "0..10"),
    ],
)
def test_malformed_counts_raise(frame, message):
    with pytest.raises(ValueError, match=message):
        breakdown(frame, dimension="channel", reference_nps=0.0)


@pytest.mark.parametrize("reference", [float("nan"), 100.5, -101.0])
def test_reference_outside_the_nps_scale_raises(reference):
    with pytest.raises(ValueError, match="reference_nps"):
        breakdown(TWO_TOUCHPOINTS, dimension="touchpoint_id", reference_nps=reference)


def test_stage_gap_matches_friction_below_journey_effect_with_its_rest_nps():
    stage = (40, 20, 40)
    rest = (150, 100, 50)
    findings = friction.below_journey_findings(np.array([[stage, rest]]), settings=friction.FrictionSettings())
    rest_nps = float(findings.details["rest_nps"][0, 0])

    result = breakdown(TWO_TOUCHPOINTS, dimension="touchpoint_id", reference_nps=rest_nps)

    assert result.gap == pytest.approx(float(findings.effect[0, 0]))


value_counts = st.tuples(*(st.integers(min_value=0, max_value=400),) * 3)


@given(
    rows=st.lists(value_counts, max_size=8),
    reference=st.floats(min_value=-100, max_value=100, allow_nan=False),
    min_n=st.integers(min_value=1, max_value=80),
)
def test_contributions_always_sum_to_the_stage_gap(rows, reference, min_n):
    frame = counts_frame("touchpoint_id", dict(enumerate(rows)))

    result = breakdown(frame, dimension="touchpoint_id", reference_nps=reference, min_n=min_n)

    contributions = [driver.contribution for driver in result.drivers]
    if result.stage.n:
        assert result.gap is not None
        assert math.fsum(contributions) == pytest.approx(result.gap, abs=1e-9)
        assert math.fsum(driver.share for driver in result.drivers) == pytest.approx(1.0)
    else:
        assert result.gap is None
        assert contributions == [0.0] * len(rows)
    # Order: every sufficient value first, each group by contribution, largest first.
    flags = [driver.is_sufficient for driver in result.drivers]
    assert flags == sorted(flags, reverse=True)
    for group in (True, False):
        part = [driver.contribution for driver in result.drivers if driver.is_sufficient is group]
        assert part == sorted(part, reverse=True)
