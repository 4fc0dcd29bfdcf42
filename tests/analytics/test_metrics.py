"""The metric functions: known values, properties (hypothesis) and interval coverage by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analytics import metrics
from analytics.metrics import (
    Estimate,
    ces_from_counts,
    csat_from_counts,
    drop_off,
    mean,
    nps,
    nps_from_counts,
    response_rate,
    share,
    unit_figures,
)
from surveys.precision import NpsCounts

counts = st.integers(min_value=0, max_value=5000)


def test_nps_known_value_and_adjusted_wald_interval():
    estimate = nps(50, 30, 20)
    assert estimate.value == pytest.approx(30.0)
    # By hand: n' = 103, p' = 50.75/103, d' = 20.75/103, var = p'+d'-(p'-d')^2, z = 1.959964.
    assert estimate.ci_low == pytest.approx(14.05, abs=0.01)
    assert estimate.ci_high == pytest.approx(44.20, abs=0.01)
    assert estimate.n == 100
    assert estimate.sufficient


def test_wilson_matches_scipys_independent_implementation():
    estimate = share(37, 120)
    reference = stats.binomtest(37, 120).proportion_ci(confidence_level=0.95, method="wilson")
    assert (estimate.ci_low, estimate.ci_high) == pytest.approx((reference.low, reference.high))


def test_mean_t_interval_matches_scipy():
    data = [1] * 3 + [2] * 5 + [4] * 10 + [5] * 12
    estimate = mean({1: 3, 2: 5, 4: 10, 5: 12})
    low, high = stats.t.interval(0.95, len(data) - 1, loc=np.mean(data), scale=stats.sem(data))
    assert estimate.value == pytest.approx(np.mean(data))
    assert (estimate.ci_low, estimate.ci_high) == pytest.approx((low, high))


def test_n_zero_is_a_normal_report_and_small_n_is_insufficient():
    for estimate in (nps(0, 0, 0), share(0, 0), mean({}), response_rate(0, 0), drop_off(0, 0)):
        assert estimate.n == 0
        assert estimate.value is None
        assert estimate.as_dict() == {"insufficient_data": True, "n": 0}
    small = nps(10, 5, 4)
    assert small.value is not None
    assert not small.sufficient
    assert small.as_dict() == {"insufficient_data": True, "n": 19}
    assert nps(10, 5, 4, min_n=10).sufficient
    assert mean({3: 1}).ci_low is None  # one answer: a mean, no interval


def test_csat_ces_response_rate_and_drop_off():
    csat = csat_from_counts({1: 5, 2: 5, 3: 10, 4: 40, 5: 40})
    assert csat.top_box.value == pytest.approx(0.8)
    assert csat.mean.value == pytest.approx((5 + 10 + 30 + 160 + 200) / 100)
    ces = ces_from_counts({1: 10, 4: 20, 5: 30, 7: 40})
    assert ces.agree.value == pytest.approx(0.7)
    assert ces.mean.value == pytest.approx((10 + 80 + 150 + 280) / 100)
    assert response_rate(sent=200, answered=50).value == pytest.approx(0.25)
    assert response_rate(sent=10, answered=12).value == 1.0  # clipped, never above 100%
    assert drop_off(reached=200, continued=150).value == pytest.approx(0.25)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="negative"):
        nps(-1, 0, 0)
    with pytest.raises(ValueError, match="successes"):
        share(5, 3)


@given(promoters=counts, passives=counts, detractors=counts)
def test_nps_is_bounded_and_ordered(promoters, passives, detractors):
    estimate = nps(promoters, passives, detractors)
    if estimate.n == 0:
        assert estimate.value is None
        return
    assert -100 <= estimate.ci_low <= estimate.ci_high <= 100
    assert -100 <= estimate.value <= 100
    if estimate.n >= 30:
        assert estimate.ci_low <= estimate.value <= estimate.ci_high


@given(promoters=counts, passives=counts, detractors=st.integers(min_value=1, max_value=5000))
def test_a_detractor_turned_promoter_raises_the_nps(promoters, passives, detractors):
    before = nps(promoters, passives, detractors)
    after = nps(promoters + 1, passives, detractors - 1)
    assert after.value > before.value
    assert after.ci_low >= before.ci_low  # equal only where both are clipped at -100
    assert after.ci_high >= before.ci_high


@given(successes=counts, extra=counts)
def test_wilson_contains_the_share(successes, extra):
    estimate = share(successes, successes + extra)
    if estimate.n:
        assert 0 <= estimate.ci_low <= estimate.value <= estimate.ci_high <= 1


@given(st.dictionaries(st.integers(1, 7), st.integers(0, 500), min_size=1))
def test_mean_lies_in_its_interval_and_the_scale(scores):
    estimate = mean(scores)
    if estimate.n == 0:
        return
    assert 1 <= estimate.value <= 7
    if estimate.n >= 2:
        assert estimate.ci_low <= estimate.value <= estimate.ci_high


def test_unit_figures_from_answer_counts():
    frame = pd.DataFrame(
        [
            {"question_type": "nps", "score": 10, "n": 40},
            {"question_type": "nps", "score": 3, "n": 10},
            {"question_type": "csat", "score": 5, "n": 30},
            {"question_type": "ces", "score": 6, "n": 35},
        ]
    )
    figures = unit_figures(frame, sent=100, answered=60)
    assert figures["nps"].value == pytest.approx(60.0)
    assert figures["nps"].n == 50
    assert figures["csat"].value == 1.0
    assert figures["csat_mean"].value == 5.0
    assert figures["ces"].value == 6.0
    assert figures["ces_agree"].value == 1.0
    assert figures["response_rate"].value == pytest.approx(0.6)
    empty = unit_figures(frame.iloc[0:0], sent=0, answered=0)
    assert {name: estimate.as_dict() for name, estimate in empty.items()} == dict.fromkeys(
        empty, {"insufficient_data": True, "n": 0}
    )


def nps_coverage(n: int, p: float, d: float, runs: int, rng: np.random.Generator) -> float:
    truth = 100 * (p - d)
    draws = rng.multinomial(n, [p, 1 - p - d, d], size=runs)
    hits = sum(
        estimate.ci_low <= truth <= estimate.ci_high for estimate in (nps(int(a), int(b), int(c)) for a, b, c in draws)
    )
    return hits / runs


def wilson_coverage(n: int, p: float, runs: int, rng: np.random.Generator) -> float:
    draws = rng.binomial(n, p, size=runs)
    hits = sum(share(int(k), n).ci_low <= p <= share(int(k), n).ci_high for k in draws)
    return hits / runs


@pytest.mark.parametrize("n", [30, 300, 3000])
@pytest.mark.parametrize(("p", "d"), [(0.5, 0.2), (0.3, 0.3)])
def test_nps_interval_coverage(n, p, d):
    coverage = nps_coverage(n, p, d, runs=2000, rng=np.random.default_rng(n + int(100 * p)))
    # 2,000 runs: a true 95% lies within ±1.5 points with > 99% probability.
    assert 0.93 <= coverage <= 0.97, coverage


@pytest.mark.parametrize("n", [30, 300, 3000])
@pytest.mark.parametrize("p", [0.8, 0.5])
def test_csat_wilson_coverage(n, p):
    coverage = wilson_coverage(n, p, runs=2000, rng=np.random.default_rng(n + int(10 * p)))
    assert 0.93 <= coverage <= 0.97, coverage


def test_estimate_rounding_in_the_api_shape():
    assert Estimate(1 / 3, 0.1, 0.5, 40).as_dict() == {"value": 0.3333, "ci_low": 0.1, "ci_high": 0.5, "n": 40}
    assert nps_from_counts({10: 3, 7: 1, 0: 1}, min_n=1).value == pytest.approx(40.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 5000))
def test_adaptive_sampling_uses_the_reports_nps_interval(promoters, passives, detractors):
    """surveys.precision cannot import analytics (dependencies point one way), so it keeps its own copy of the
    adjusted-Wald interval; this pins it to the reports' so the two never drift apart."""
    counts = NpsCounts(promoters, passives, detractors)
    estimate = metrics.nps(promoters, passives, detractors, min_n=0)
    if estimate.n == 0:
        assert counts.interval() is None
        return
    low, high = counts.interval()
    assert low == pytest.approx(estimate.ci_low, abs=1e-9)
    assert high == pytest.approx(estimate.ci_high, abs=1e-9)
    assert counts.value() == pytest.approx(estimate.value)
