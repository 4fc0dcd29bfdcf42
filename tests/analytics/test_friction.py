"""Friction detection: each kind on hand-made tables, the statistics against independent
implementations, and the issue's accuracy bars by seeded simulation (the bench runs more journeys)."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats
from statsmodels.stats.multitest import multipletests

from analytics import friction, metrics, simulate
from analytics.friction import Flag, FrictionSettings, detect

DEFAULTS = FrictionSettings()
NPS_20 = {"promoters": 135, "passives": 90, "detractors": 75}  # n = 300


def stage_rows(*worse: dict[str, int], stages: int = 9) -> pd.DataFrame:
    """Nine stages at NPS 20 (n = 300), the last ones replaced by ``worse``."""
    rows = [{"unit_id": i, "level": "stage", "stage_order": i, **NPS_20} for i in range(1, stages + 1)]
    for offset, counts in enumerate(worse):
        rows[stages - len(worse) + offset].update(counts)
    return pd.DataFrame(rows)


def weekly_rows(series: dict[int, list[tuple[int, int, int]]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"unit_id": unit, "week": week, "promoters": p, "passives": a, "detractors": d}
            for unit, weeks in series.items()
            for week, (p, a, d) in enumerate(weeks)
        ]
    )


def steady(weeks: int = 8, counts: tuple[int, int, int] = (169, 112, 94)) -> list[tuple[int, int, int]]:
    return [counts] * weeks


def falling(weeks: int = 8, n: int = 375, start: float = 0.20, drop: float = 0.20) -> list[tuple[int, int, int]]:
    rows = []
    for week in range(weeks):
        nps = start - drop * week / (weeks - 1)
        promoters = round(n * (0.45 - (start - nps) / 2))
        passives = round(n * 0.30)
        rows.append((promoters, passives, n - promoters - passives))
    return rows


# --- Below the journey ----------------------------------------------------------------------


def test_a_stage_below_the_journey_is_flagged_with_its_numbers_and_reason():
    flags = detect(units=stage_rows({"promoters": 100, "passives": 90, "detractors": 110}))
    assert [(f.kind, f.level, f.unit_id) for f in flags] == [("below_journey", "stage", 9)]
    flag = flags[0]
    estimate = metrics.nps(100, 90, 110)
    evidence = flag.evidence
    assert evidence["nps"] == pytest.approx(estimate.value, abs=0.01)
    assert (evidence["ci_low"], evidence["ci_high"]) == pytest.approx((estimate.ci_low, estimate.ci_high), abs=0.01)
    assert (evidence["n"], evidence["rest_n"], evidence["rest_nps"]) == (300, 2400, 20.0)
    assert evidence["gap"] == pytest.approx(23.33, abs=0.01)
    assert evidence["family_size"] == 9
    assert evidence["p_adjusted"] < 0.001 < 0.05
    assert evidence["p_adjusted"] == pytest.approx(min(1, 9 * evidence["p_value"]), rel=0.01)  # Holm's first step
    assert evidence["statistic"] < -3
    assert flag.severity == "high"  # 23 points, p < 0.001
    assert flag.reason == (
        "NPS \u22123 (\u221213 to 6, n = 300) is significantly below the rest of the journey "
        "(NPS 20, n = 2,400; p < 0.001 after Holm correction)."
    )
    assert flag.as_dict()["evidence"] is evidence


def test_a_stage_above_the_journey_or_level_with_it_is_never_flagged_below():
    better = stage_rows({"promoters": 250, "passives": 40, "detractors": 10})
    assert detect(units=better) == []
    assert detect(units=stage_rows()) == []


def test_a_figure_below_min_n_is_never_flagged_and_leaves_the_family():
    tiny = stage_rows({"promoters": 0, "passives": 9, "detractors": 20})  # n = 29, NPS -69
    assert detect(units=tiny) == []
    findings = friction.below_journey_findings(tiny[friction.NPS_COUNTS].to_numpy()[None], settings=DEFAULTS)
    assert findings.tested[0].tolist() == [True] * 8 + [False]
    assert np.isnan(findings.p_adjusted[0, 8])
    assert int(findings.family_size[0]) == 8
    flags = detect(units=tiny, settings=FrictionSettings(min_n=20))
    assert [(f.unit_id, f.evidence["n"]) for f in flags] == [(9, 29)]


def test_empty_tables_and_units_without_answers_give_no_flags_and_no_errors():
    empty = pd.DataFrame(columns=["unit_id", "level", "promoters", "passives", "detractors"])
    assert detect() == []
    assert detect(units=empty, weekly=None, ces=None, responses=None, drop_offs=None) == []
    zeros = stage_rows().assign(promoters=0, passives=0, detractors=0)
    assert detect(units=zeros) == []
    one_stage = stage_rows(stages=1)
    assert detect(units=one_stage) == []  # no rest of the journey to compare with
    findings = friction.below_journey_findings(np.zeros((3, 0, 3)), settings=DEFAULTS)
    assert findings.flagged.shape == (3, 0)
    assert friction.adjust(np.zeros((2, 0)), np.zeros((2, 0), dtype=bool), method="holm", alpha=0.05)[0].shape == (2, 0)


def test_touchpoints_are_tested_only_inside_a_flagged_stage():
    good_stage_bad_touchpoint = pd.concat(
        [
            stage_rows(),
            pd.DataFrame(
                [
                    {
                        "unit_id": 1,
                        "level": "touchpoint",
                        "stage_id": 9,
                        "promoters": 35,
                        "passives": 30,
                        "detractors": 35,
                    },
                    {
                        "unit_id": 2,
                        "level": "touchpoint",
                        "stage_id": 9,
                        "promoters": 100,
                        "passives": 60,
                        "detractors": 40,
                    },
                ]
            ),
        ]
    )
    assert detect(units=good_stage_bad_touchpoint) == []  # stage 9 is at NPS 20: its touchpoints wait
    bad_stage = pd.concat(
        [
            stage_rows({"promoters": 60, "passives": 90, "detractors": 150}),
            pd.DataFrame(
                [
                    {
                        "unit_id": 9,
                        "level": "touchpoint",
                        "stage_id": 9,
                        "promoters": 10,
                        "passives": 40,
                        "detractors": 100,
                    },
                    {
                        "unit_id": 10,
                        "level": "touchpoint",
                        "stage_id": 9,
                        "promoters": 50,
                        "passives": 50,
                        "detractors": 50,
                    },
                ]
            ),
        ]
    )
    flags = detect(units=bad_stage)
    assert [(f.level, f.unit_id) for f in flags] == [
        ("stage", 9),
        ("touchpoint", 9),
    ]  # a stage and a touchpoint may share an id
    assert flags[1].evidence["rest_n"] == 2700 - 150  # the journey without that touchpoint
    assert flags[1].evidence["family_size"] == 11
    flat = detect(units=bad_stage, settings=FrictionSettings(correction="fdr_bh"))
    assert {f.unit_id for f in flat} >= {9}
    assert "Benjamini\u2013Hochberg" in flat[0].reason


def test_the_hierarchy_graph_passes_a_stage_share_to_its_touchpoints():
    tested = np.array([True, True, True, True, True, False])  # 3 stages, touchpoints of stage 0 (two) and 1
    weights, transitions = friction.hierarchy([0, 0, 1], 3, tested)
    assert weights.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0, 0])
    assert transitions[0].tolist() == pytest.approx([0, 0, 0, 0.5, 0.5])  # stage 0 -> its touchpoints
    assert transitions[2].tolist() == pytest.approx([0.5, 0.5, 0, 0, 0])  # stage 2 (touchpoint untested) -> stages
    assert transitions[3].tolist() == pytest.approx([0, 0.25, 0.25, 0, 0.5])  # a touchpoint -> sibling, other stages
    assert transitions.sum(axis=1) == pytest.approx(np.ones(5))
    assert friction.hierarchy([0, 0, 1], 3, np.array([True] * 3 + [False] * 3)) is None


def holm_reference(p: np.ndarray) -> np.ndarray:
    with mock.patch("gc.collect"):  # statsmodels' Holm collects garbage on every call: slow, no effect
        return multipletests(p, method="holm")[1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=12))
def test_the_complete_graph_is_holm(p_values):
    p = np.array(p_values)
    size = p.size
    transitions = np.full((size, size), 1 / max(size - 1, 1))
    np.fill_diagonal(transitions, 0)
    expected = holm_reference(p)
    assert friction.graph_adjusted(p, np.full(size, 1 / size), transitions) == pytest.approx(expected)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=6, max_size=6), min_size=1, max_size=5),
    st.sampled_from(["holm", "fdr_bh"]),
)
def test_adjust_equals_statsmodels_multipletests(rows, method):
    p = np.array([[np.nan if v is None else v for v in row] for row in rows])
    tested = np.isfinite(p)
    rejected, adjusted = friction.adjust(p, tested, method=method, alpha=0.05)
    for row in range(p.shape[0]):
        mask = tested[row]
        assert not rejected[row, ~mask].any()
        assert np.isnan(adjusted[row, ~mask]).all()
        if mask.any():
            with mock.patch("gc.collect"):  # statsmodels' Holm collects garbage on every call: slow, no effect
                reject, corrected, _sidak, _bonferroni = multipletests(p[row, mask], alpha=0.05, method=method)
            assert adjusted[row, mask] == pytest.approx(corrected)
            assert rejected[row, mask].tolist() == reject.tolist()


def profile_signed_root(unit: list[int], rest: list[int]) -> float:
    """The signed-root likelihood ratio by brute force: a grid over the passives' share for each θ."""

    def group(counts: np.ndarray, theta: float) -> float:
        a, b = 1 + theta, 1 - theta
        u = np.linspace(0, min(a, b), 20001)
        shares = ((a - u) / 2, u, (b - u) / 2)
        total = sum(
            np.where(k > 0, k * np.log(np.maximum(s, 1e-300)), 0.0) for k, s in zip(counts, shares, strict=True)
        )
        return float(total.max())

    first, second = np.array(unit, dtype=float), np.array(rest, dtype=float)
    t1, t2 = (first[0] - first[2]) / first.sum(), (second[0] - second[2]) / second.sum()
    if t1 == t2:
        return 0.0
    bounds = (max(min(t1, t2), -1 + 1e-9), min(max(t1, t2), 1 - 1e-9))
    best = optimize.minimize_scalar(
        lambda theta: -(group(first, theta) + group(second, theta)),
        bounds=bounds,
        method="bounded",
        options={"xatol": 1e-10},
    )
    free = sum(k * math.log(k / c.sum()) for c in (first, second) for k in c if k > 0)
    return math.copysign(math.sqrt(max(2 * (free + best.fun), 0.0)), t1 - t2)


@pytest.mark.parametrize(
    ("unit", "rest"),
    [
        ([100, 90, 110], [1080, 720, 600]),
        ([30, 0, 0], [10, 10, 10]),  # all promoters
        ([0, 0, 30], [10, 10, 10]),  # all detractors
        ([0, 30, 0], [100, 50, 20]),  # all passives
        ([0, 10, 20], [50, 0, 10]),  # no promoters; no passives
        ([20, 10, 0], [5, 10, 50]),  # no detractors
        ([40, 0, 0], [0, 0, 40]),
        ([5, 30, 0], [30, 5, 0]),
        ([12, 7, 3], [3, 7, 12]),
        ([0, 0, 30], [0, 60, 0]),  # all passives: the maximum sits on the kink at θ = 0, an end of the bracket
        ([30, 0, 0], [0, 60, 0]),
        ([54, 0, 48], [0, 43, 0]),
        ([0, 55, 0], [55, 14, 41]),  # r = -1.43 (p = 0.08); the old midpoint fallback gave -2.78 (p = 0.003)
        ([0, 30, 0], [60, 0, 0]),  # all passives, but the maximum inside the bracket (θ = 1/3)
    ],
)
def test_the_likelihood_ratio_matches_a_brute_force_profile_likelihood(unit, rest):
    statistic, p = friction.nps_below_test(np.array(unit), np.array(rest))
    assert float(statistic) == pytest.approx(profile_signed_root(unit, rest), abs=1e-4)
    assert float(p) == pytest.approx(stats.norm.cdf(float(statistic)))


trinomial = st.tuples(st.integers(0, 400), st.integers(0, 400), st.integers(0, 400)).filter(lambda c: sum(c) > 0)
#: Each category empty half the time: the edges and corners of the simplex as often as its interior.
sparse_count = st.one_of(st.just(0), st.integers(1, 400))
sparse_trinomial = st.tuples(sparse_count, sparse_count, sparse_count).filter(lambda c: sum(c) > 0)


@settings(max_examples=150, deadline=None)
@given(unit=trinomial, rest=trinomial)
def test_the_likelihood_ratio_has_the_sign_of_the_gap(unit, rest):
    statistic, p = friction.nps_below_test(np.array(unit), np.array(rest))
    gap = (unit[0] - unit[2]) / sum(unit) - (rest[0] - rest[2]) / sum(rest)
    assert 0 <= float(p) <= 1
    assert np.isfinite(statistic)
    assert np.sign(float(statistic)) == np.sign(gap) or abs(gap) < 1e-12 or abs(float(statistic)) < 1e-6


@settings(max_examples=300, deadline=None)
@given(unit=sparse_trinomial, rest=sparse_trinomial)
def test_the_likelihood_ratio_mirrors(unit, rest):
    statistic, _p = friction.nps_below_test(np.array(unit), np.array(rest))
    mirrored, _p = friction.nps_below_test(np.array(unit[::-1]), np.array(rest[::-1]))  # promoters <-> detractors
    assert np.isfinite(statistic)
    assert float(mirrored) == pytest.approx(-float(statistic), abs=1e-6)


def test_the_likelihood_ratio_mirrors_on_the_boundary_too():
    # All passives on one side: the profile likelihood has its kink at θ = 0, the bracket's end, and the
    # maximum is there. Both sides are then fitted at an NPS of 0, so r = -√(2·30·ln 2).
    statistic, _p = friction.nps_below_test(np.array((0, 0, 30)), np.array((0, 60, 0)))
    mirrored, _p = friction.nps_below_test(np.array((30, 0, 0)), np.array((0, 60, 0)))
    assert float(statistic) == pytest.approx(-math.sqrt(60 * math.log(2)), abs=1e-9)
    assert float(mirrored) == pytest.approx(-float(statistic), abs=1e-9)


@pytest.mark.parametrize(
    ("unit", "rest", "deviance"),
    [
        # Each side at a corner of the simplex; the deviance is 2·(0 − ℓ̃) at the common NPS θ noted.
        ((30, 0, 0), (0, 0, 60), -2 * (30 * math.log(1 / 3) + 60 * math.log(2 / 3))),  # θ = −1/3
        ((0, 0, 40), (40, 0, 0), 80 * math.log(4)),  # θ = 0
        ((0, 30, 0), (60, 0, 0), -180 * math.log(2 / 3)),  # θ = 1/3, inside the bracket
        ((0, 30, 0), (0, 0, 60), -180 * math.log(2 / 3)),  # θ = −1/3
        ((0, 60, 0), (0, 0, 30), 60 * math.log(2)),  # θ = 0, the all-passives kink at the bracket's top
        ((0, 60, 0), (30, 0, 0), 60 * math.log(2)),  # θ = 0, the kink at the bracket's bottom
    ],
)
def test_the_likelihood_ratio_has_closed_forms_at_the_corners(unit, rest, deviance):
    statistic, p = friction.nps_below_test(np.array(unit), np.array(rest))
    gap = (unit[0] - unit[2]) / sum(unit) - (rest[0] - rest[2]) / sum(rest)
    assert float(statistic) == pytest.approx(math.copysign(math.sqrt(deviance), gap), abs=1e-9)
    assert float(p) == pytest.approx(stats.norm.cdf(float(statistic)))


def test_the_likelihood_ratio_is_nan_where_a_side_has_no_answers_and_leaves_the_rest_alone():
    unit = np.array([[0, 0, 0], [30, 0, 0], [0, 0, 30], [0, 0, 0]])
    rest = np.array([[10, 10, 10], [0, 0, 0], [0, 60, 0], [0, 0, 0]])
    statistic, p = friction.nps_below_test(unit, rest)  # RuntimeWarnings are errors in this suite
    assert np.isnan(statistic[[0, 1, 3]]).all()
    assert np.isnan(p[[0, 1, 3]]).all()
    assert float(statistic[2]) == pytest.approx(float(friction.nps_below_test(unit[2], rest[2])[0]))
    assert float(statistic[2]) == pytest.approx(-math.sqrt(60 * math.log(2)))


# --- Declining and detractor spike -------------------------------------------------------------


def with_touchpoints(stages: pd.DataFrame, points: dict[int, tuple[int, list[tuple[int, int, int]]]]) -> pd.DataFrame:
    """``stages`` plus touchpoint rows: ``points`` maps a touchpoint id to (its stage id, its weeks)."""
    rows = weekly_rows({unit: weeks for unit, (_stage, weeks) in points.items()})
    rows["level"] = "touchpoint"
    rows["stage_id"] = rows["unit_id"].map({unit: stage for unit, (stage, _weeks) in points.items()})
    return pd.concat([stages.assign(level="stage", stage_id=stages["unit_id"]), rows], ignore_index=True)


def halves(weeks: list[tuple[int, int, int]], other: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    return [tuple(a + b for a, b in zip(one, two, strict=True)) for one, two in zip(weeks, other, strict=True)]


def test_a_declining_touchpoint_is_named_inside_its_declining_stage():
    # Stage 2 declines because of its touchpoint 21; touchpoint 22 holds steady.
    stages = weekly_rows({1: steady(), 2: halves(falling(n=375, drop=0.4), steady()), 3: steady()})
    weekly = with_touchpoints(stages, {21: (2, falling(n=375, drop=0.4)), 22: (2, steady()), 11: (1, steady())})
    flags = [(f.level, f.unit_id) for f in detect(weekly=weekly) if f.kind == "declining"]
    assert flags == [("stage", 2), ("touchpoint", 21)]
    touchpoint = next(f for f in detect(weekly=weekly) if f.kind == "declining" and f.level == "touchpoint")
    assert touchpoint.evidence["n"] == 3000
    assert touchpoint.reason.startswith("NPS is declining")


def test_touchpoints_do_not_dilute_the_stages_test_for_a_decline():
    """Many steady touchpoints beside the stages leave the stages' p-values as they were (graphical Holm)."""
    stages = weekly_rows({1: steady(), 2: falling(n=120), 3: steady()})
    alone = next(f for f in detect(weekly=stages) if f.kind == "declining")
    points = {100 + k: (1 + k % 3, steady(counts=(17, 11, 9))) for k in range(30)}
    crowded = next(f for f in detect(weekly=with_touchpoints(stages, points)) if f.kind == "declining")
    assert crowded.evidence["p_adjusted"] == pytest.approx(alone.evidence["p_adjusted"])
    assert crowded.evidence["family_size"] == 33  # every unit with enough answers is tested


def test_a_falling_stage_is_flagged_declining_and_a_steady_or_rising_one_is_not():
    weekly = weekly_rows({1: steady(), 2: falling(), 3: falling()[::-1]})
    flags = [f for f in detect(weekly=weekly) if f.kind == "declining"]
    assert [f.unit_id for f in flags] == [2]
    evidence = flags[0].evidence
    assert evidence["weeks"] == 8
    assert evidence["n"] == 3000
    assert evidence["decline"] == pytest.approx(20, abs=1)
    assert evidence["slope_per_week"] == pytest.approx(-20 / 7, abs=0.2)
    assert evidence["family_size"] == 3
    assert flags[0].severity == "high"
    assert flags[0].reason.startswith(
        "NPS is declining: its trend fell from 20 to 0 over 8 weeks (\u22122.9 points a week"
    )


def test_a_trend_needs_four_weeks_with_answers_and_min_n():
    three_weeks = weekly_rows({1: falling(weeks=3), 2: steady(3)})
    assert [f for f in detect(weekly=three_weeks) if f.kind == "declining"] == []
    sparse = [(4, 0, 0), (3, 1, 0), (1, 1, 2), (0, 1, 3), (0, 0, 4)]  # n = 20 < 30
    assert not friction.declining_findings(np.array([[sparse]]), np.arange(5), settings=DEFAULTS).tested.any()
    assert [f for f in detect(weekly=weekly_rows({1: sparse, 2: steady(5)})) if f.kind == "declining"] == []
    late_start = [(0, 0, 0)] * 4 + falling(weeks=4, n=100)  # weeks without answers are left out
    trend = friction.declining_findings(np.array([[late_start]]), np.arange(8), settings=DEFAULTS)
    assert trend.tested.tolist() == [[True]]
    assert trend.details["weeks"].tolist() == [[4.0]]
    assert trend.details["span"].tolist() == [[3.0]]


def test_weekly_units_without_answers_are_left_alone():
    silent = weekly_rows({1: [(0, 0, 0)] * 8, 2: steady()})
    assert detect(weekly=silent) == []
    trend = friction.nps_trend(np.zeros((2, 8, 3)), np.arange(8))
    assert trend["n"].tolist() == [0.0, 0.0]
    assert np.isnan(trend["z"]).all()
    assert detect(weekly=weekly_rows({1: [(0, 0, 0)] * 8})) == []


def test_the_trend_is_weighted_least_squares_with_the_within_week_variance():
    counts = np.array(falling(n=375))
    counts[2] = (100, 80, 60)  # an uneven week
    trend = friction.nps_trend(counts, np.arange(8))
    n = counts.sum(axis=1)
    nps = (counts[:, 0] - counts[:, 2]) / n
    within = ((counts[:, 0] + counts[:, 2]) / n - nps**2) @ n / n.sum()
    model = sm.WLS(nps, sm.add_constant(np.arange(8.0)), weights=n / within).fit(
        cov_type="fixed scale", cov_kwds={"scale": 1.0}
    )
    assert float(trend["slope"]) == pytest.approx(model.params[1])
    assert float(trend["se"]) == pytest.approx(model.bse[1])
    assert float(trend["p"]) == pytest.approx(stats.norm.cdf(model.params[1] / model.bse[1]))


def test_a_detractor_spike_in_the_last_week_is_flagged():
    spike = steady(7) + [(150, 95, 130)]  # 35% detractors in the last week against 25%
    flags = [f for f in detect(weekly=weekly_rows({1: steady(), 2: spike})) if f.kind == "detractor_spike"]
    assert [f.unit_id for f in flags] == [2]
    evidence = flags[0].evidence
    table = [[130, 375 - 130], [94 * 7, (169 + 112) * 7]]
    assert evidence["p_value"] == pytest.approx(stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-3)
    assert evidence["rise"] == pytest.approx(130 / 375 - 94 / 375, abs=1e-4)
    assert evidence["week"] == 7
    assert flags[0].reason.startswith("Detractors rose to 35% of answers in the last week (n = 375) from 25%")
    fewer = steady(7) + [(10, 5, 10)]  # last week below min_n
    assert [f for f in detect(weekly=weekly_rows({1: steady(), 2: fewer})) if f.kind == "detractor_spike"] == []


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 60), st.integers(60, 120), st.integers(0, 200), st.integers(200, 400))
def test_the_share_test_is_fishers_exact_test(k1, n1, k2, n2):
    z, p = friction.share_above_test(k1, n1, k2, n2)
    table = [[k1, n1 - k1], [k2, n2 - k2]]
    assert float(p) == pytest.approx(stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-6, abs=1e-12)
    assert np.isfinite(z)


# --- High effort, low response, drop-off --------------------------------------------------------


def ces_rows(units: dict[int, dict[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"unit_id": unit, "score": score, "n": n} for unit, counts in units.items() for score, n in counts.items()]
    )


def test_high_effort_needs_the_whole_interval_below_the_threshold():
    hard = {3: 40, 5: 20}
    borderline = {4: 30, 6: 30}  # mean 5: the interval straddles the threshold
    constant = {2: 35}  # every answer the same: no spread, mean far below
    small = {1: 29}
    flags = detect(ces=ces_rows({1: hard, 2: borderline, 3: constant, 4: small}))
    assert [(f.kind, f.unit_id) for f in flags] == [("high_effort", 1), ("high_effort", 3)]
    evidence = flags[0].evidence
    expected = metrics.mean(hard)
    assert (evidence["ces"], evidence["ci_low"], evidence["ci_high"]) == pytest.approx(
        (expected.value, expected.ci_low, expected.ci_high), abs=1e-4
    )
    assert evidence["p_value"] == pytest.approx(
        stats.ttest_1samp([3] * 40 + [5] * 20, 5.0, alternative="less").pvalue, rel=1e-3
    )
    assert evidence["family_size"] == 3
    assert flags[0].reason.startswith(
        "Customer effort score 3.7 (3.4 to 3.9, n = 60) is entirely below the threshold of 5.0"
    )
    assert detect(ces=ces_rows({1: hard}), settings=FrictionSettings(ces_threshold=3.0)) == []


def test_low_response_is_flagged_when_the_rate_is_surely_below_the_threshold():
    responses = pd.DataFrame(
        [
            {"unit_id": 1, "sent": 1000, "answered": 40},
            {"unit_id": 2, "sent": 1000, "answered": 300},
            {"unit_id": 3, "sent": 10, "answered": 0},  # too few invitations to say
            {"unit_id": 4, "sent": 0, "answered": 0},
            {"unit_id": 5, "sent": 200, "answered": 15},  # 7.5%, but the interval reaches 12%
            {"unit_id": 6, "sent": 100, "answered": 500},  # more answers than invitations: clipped
        ]
    )
    flags = detect(responses=responses)
    assert [f.unit_id for f in flags] == [1]
    evidence = flags[0].evidence
    assert evidence["response_rate"] == 0.04
    assert evidence["p_value"] == pytest.approx(stats.binomtest(40, 1000, 0.10, alternative="less").pvalue, rel=1e-6)
    wilson = metrics.response_rate(sent=1000, answered=40)
    assert (evidence["ci_low"], evidence["ci_high"]) == pytest.approx((wilson.ci_low, wilson.ci_high), abs=1e-4)
    assert evidence["family_size"] == 4
    assert flags[0].severity == "high"  # 4% is less than half of 10%
    assert flags[0].reason.startswith("Only 4.0% of invitations were answered (3.0% to 5.4%, 40 of 1,000), below 10%")


def test_drop_off_above_the_journeys_typical_drop_off():
    drop_offs = pd.DataFrame(
        [{"stage_id": i, "order": i, "reached": 1000, "continued": 800} for i in range(1, 6)]
        + [
            {"stage_id": 6, "order": 6, "reached": 1000, "continued": 600},
            {"stage_id": 7, "order": 7, "reached": 600, "continued": None},  # the last stage: no next one
        ]
    )
    flags = detect(drop_offs=drop_offs)
    assert [(f.kind, f.unit_id) for f in flags] == [("drop_off", 6)]
    evidence = flags[0].evidence
    assert (evidence["drop_off"], evidence["rest_drop_off"], evidence["n"], evidence["rest_n"]) == (
        0.4,
        0.2,
        1000,
        5000,
    )
    assert evidence["family_size"] == 6
    table = [[400, 600], [1000, 4000]]
    assert evidence["p_value"] == pytest.approx(stats.fisher_exact(table, alternative="greater").pvalue, rel=1e-3)
    assert flags[0].severity == "high"
    assert flags[0].reason.startswith(
        "40% of the customers who reached this stage did not reach the next one (37% to 43%, n = 1,000), "
        "significantly more than the journey's typical 20%"
    )
    nobody = drop_offs.assign(reached=0, continued=0)
    assert detect(drop_offs=nobody) == []


# --- Settings, input checks, order, language ---------------------------------------------------------


def test_severity_bands():
    assert friction.severity("below_journey", 20, 0.0005) == "high"
    assert friction.severity("below_journey", 20, 0.01) == "medium"
    assert friction.severity("below_journey", 6, 0.0001) == "medium"
    assert friction.severity("below_journey", 3, 0.0001) == "low"
    assert friction.severity("drop_off", 0.12, 0.0001) == "high"


def test_bad_settings_and_bad_tables_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        FrictionSettings(alpha=1.5)
    with pytest.raises(ValueError, match="correction"):
        FrictionSettings(correction="bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="columns"):
        detect(units=pd.DataFrame([{"unit_id": 1, "promoters": 3}]))
    with pytest.raises(ValueError, match="negative"):
        detect(units=stage_rows({"promoters": -1, "passives": 0, "detractors": 0}))
    with pytest.raises(ValueError, match="level"):
        detect(units=stage_rows().assign(level="journey"))
    with pytest.raises(ValueError, match="1..7"):
        detect(ces=ces_rows({1: {8: 40}}))


def test_flags_come_in_kind_order_and_the_same_every_time():
    units = stage_rows({"promoters": 60, "passives": 90, "detractors": 150})
    weekly = weekly_rows({1: steady(), 9: falling()})
    responses = pd.DataFrame([{"unit_id": 9, "sent": 1000, "answered": 40}])
    ces = ces_rows({9: {2: 50}})
    first = detect(units=units, weekly=weekly, ces=ces, responses=responses)
    assert [f.kind for f in first] == ["below_journey", "declining", "high_effort", "low_response", "detractor_spike"]
    assert detect(units=units, weekly=weekly, ces=ces, responses=responses) == first
    assert all(isinstance(flag, Flag) and flag.severity in {"high", "medium", "low"} for flag in first)


def test_reasons_follow_the_active_language():
    units = stage_rows({"promoters": 100, "passives": 90, "detractors": 110})
    with translation.override("pl"):
        reason = detect(units=units)[0].reason
    assert isinstance(reason, str)
    assert "2\xa0400" in reason  # Polish number format, whatever the catalogue says yet
    with translation.override("en"):
        assert "2,400" in detect(units=units)[0].reason


def test_detect_on_tables_flags_what_the_batch_functions_flag():
    rng = np.random.default_rng(2024)
    batch = simulate.journeys(rng, count=40, n_per_stage=300)
    findings = friction.below_journey_findings(batch.stages, settings=DEFAULTS)
    for journey in range(40):
        frame = pd.DataFrame(
            [
                {
                    "unit_id": s + 1,
                    "level": "stage",
                    "stage_order": s + 1,
                    **dict(zip(friction.NPS_COUNTS, counts, strict=True)),
                }
                for s, counts in enumerate(batch.stages[journey].tolist())
            ]
        )
        flagged = [flag.unit_id - 1 for flag in detect(units=frame)]
        assert flagged == np.flatnonzero(findings.flagged[journey]).tolist()


# --- The accuracy bars, by seeded simulation ----------------------------------------------------


def margin(rate: float, journeys: int) -> float:
    """Two standard errors of a simulated rate: the bar is asserted up to this simulation error."""
    return 2 * math.sqrt(rate * (1 - rate) / journeys)


def report(label: str, value: float, reference: float | None = None) -> None:
    against = "" if reference is None else f" (reference {reference:.1%})"
    print(f"{label}: {value:.1%}{against}")  # noqa: T201 - the figures, shown with pytest -s


@pytest.mark.parametrize(
    ("n", "into", "bar"), [(300, "detractors", 0.65), (300, "passives", 0.65), (1000, "detractors", 0.97)]
)
def test_a_planted_stage_15_points_worse_is_found(n, into, bar):
    journeys = 4000
    batch = simulate.journeys(np.random.default_rng(n + len(into)), count=journeys, n_per_stage=n, into=into)
    findings = friction.below_journey_findings(batch.stages, settings=DEFAULTS)
    rows = np.arange(journeys)
    found = findings.flagged[rows, batch.planted].mean()
    naming = findings.flagged[rows, batch.planted].sum() / max(findings.flagged.sum(), 1)
    reference = simulate.reference_below_flags(batch.stages)[rows, batch.planted].mean()
    report(f"planted found, n = {n}, into {into}", found, reference)
    report(f"below flags naming the planted stage, n = {n}, into {into}", naming)
    assert found >= bar - margin(bar, journeys)
    assert found > reference  # on the very same journeys
    assert naming >= 0.95 - margin(0.95, journeys)


def test_null_journeys_rarely_get_a_below_the_journey_flag():
    journeys = 20000
    batch = simulate.journeys(np.random.default_rng(1), count=journeys, n_per_stage=300, planted=False)
    rate = friction.below_journey_findings(batch.stages, settings=DEFAULTS).flagged.any(axis=1).mean()
    reference = simulate.reference_below_flags(batch.stages).any(axis=1).mean()
    report("null journeys with a below flag, n = 300", rate, reference)
    assert rate <= 0.05 + margin(0.05, journeys)


def test_a_stage_falling_20_points_in_eight_weeks_is_found_declining():
    journeys = 2000
    batch = simulate.weekly_journeys(np.random.default_rng(8), count=journeys)
    findings = friction.declining_findings(batch.counts, batch.weeks, settings=DEFAULTS)
    rows = np.arange(journeys)
    found = findings.flagged[rows, batch.planted].mean()
    reference = simulate.reference_declining_flags(batch.counts, batch.weeks)[rows, batch.planted].mean()
    report("declining found, 20 points over 8 weeks, 3,000 answers", found, reference)
    assert found >= 0.95 - margin(0.95, journeys)


def test_null_journeys_rarely_get_a_declining_or_spike_flag():
    journeys = 10000
    batch = simulate.weekly_journeys(np.random.default_rng(9), count=journeys, planted=False)
    declining = friction.declining_findings(batch.counts, batch.weeks, settings=DEFAULTS).flagged.any(axis=1).mean()
    spike = friction.detractor_spike_findings(batch.counts, settings=DEFAULTS).flagged.any(axis=1).mean()
    report("null journeys with a declining flag", declining)
    report("null journeys with a detractor-spike flag", spike)
    assert declining <= 0.05 + margin(0.05, journeys)
    assert spike <= 0.05 + margin(0.05, journeys)


def test_the_other_kinds_keep_their_false_alarms_at_alpha():
    rng = np.random.default_rng(10)
    journeys = 5000
    ces = simulate.ces_counts(rng, count=journeys, units=9, n=100, mean=DEFAULTS.ces_threshold)
    sent, answered = simulate.response_counts(rng, count=journeys, units=9, sent=300, rate=0.10)
    reached, continued = simulate.funnel_counts(rng, count=journeys, stages=9, customers=2000, drop_off=0.2)
    rates = {
        "high effort (CES mean = threshold)": friction.high_effort_findings(ces, settings=DEFAULTS),
        "low response (rate = threshold)": friction.low_response_findings(sent, answered, settings=DEFAULTS),
        "drop-off (equal everywhere)": friction.drop_off_findings(reached, continued, settings=DEFAULTS),
    }
    for label, findings in rates.items():
        rate = findings.flagged.any(axis=1).mean()
        report(f"null journeys with a {label} flag", rate)
        assert rate <= 0.05 + margin(0.05, journeys)


def test_touchpoints_in_the_family_cost_the_stages_nothing_with_the_graph():
    journeys = 2000
    batch = simulate.journeys(np.random.default_rng(3), count=journeys, n_per_stage=300, touchpoints_per_stage=3)
    rows = np.arange(journeys)
    stages_only = friction.below_journey_findings(batch.stages, settings=DEFAULTS).flagged[rows, batch.planted].mean()
    graph = friction.below_journey_findings(batch.stages, batch.touchpoints, batch.parents, settings=DEFAULTS)
    flat = friction.below_journey_findings(
        batch.stages, batch.touchpoints, None, settings=DEFAULTS
    )  # no parents: every touchpoint is a root, one flat Holm family of 36
    report("stage found, stages only", stages_only)
    report("stage found, graph with touchpoints", graph.flagged[rows, batch.planted].mean())
    report("stage found, flat family of 36", flat.flagged[rows, batch.planted].mean())
    assert abs(graph.flagged[rows, batch.planted].mean() - stages_only) <= 0.01
    assert flat.flagged[rows, batch.planted].mean() < stages_only - 0.05
    planted_touchpoints = graph.flagged[:, 9:].reshape(journeys, 9, 3)[rows, batch.planted]
    assert planted_touchpoints.any(axis=1).mean() > 0.2  # found inside the flagged stage
    outside = graph.flagged[:, 9:].reshape(journeys, 9, 3).copy()
    outside[rows, batch.planted] = False
    assert outside.any(axis=(1, 2)).mean() <= 0.01  # touchpoints of unflagged stages wait


def test_share_test_with_empty_samples_gives_nan_without_warnings():
    from analytics.friction import share_above_test

    z, p = share_above_test([5, 0, 3], [10, 0, 5], [3, 4, 0], [10, 0, 0])
    assert z[0] > 0
    assert 0 < p[0] < 1
    assert np.isnan(z[1])
    assert np.isnan(p[1])
    assert np.isnan(z[2])
