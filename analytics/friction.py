"""Friction detection (issue 6): which stages and touchpoints of a journey need attention, and why.

Pure functions on the small count tables the aggregation layer returns (no ORM).
:func:`detect` takes the tables of **one journey** and returns :class:`Flag` objects,
each with a kind, a severity, its evidence (values, intervals, p-values, n) and a
plain-language reason in the active language.

Input tables (pandas DataFrames; any of them may be ``None`` or empty)
-----------------------------------------------------------------------
- ``units`` — the current period, one row per stage or touchpoint:
  ``unit_id, level ("stage"|"touchpoint"), stage_order, stage_id, promoters, passives, detractors``.
  ``stage_order`` orders stages (optional); ``stage_id`` is a touchpoint's stage
  (optional). A touchpoint's answers are assumed to be counted in its stage too,
  so the journey total is the sum of the stage rows (of the touchpoint rows when
  there are no stage rows). Units are keyed by ``(level, unit_id)``: a stage and a
  touchpoint may share an id.
- ``weekly`` — the report's weeks per unit: ``unit_id, [level], week, promoters, passives, detractors``,
  ``week`` an integer, 0 = oldest. The latest week in the table is the report's last week.
- ``ces`` — customer effort answers: ``unit_id, [level], score (1–7, 7 = easiest), n``.
- ``responses`` — ``unit_id, [level], sent, answered``.
- ``drop_offs`` — one row per stage that has a next stage: ``stage_id, order, reached, continued``
  (customers who reached the stage, and of them those who reached the next one).
  The last stage has no next stage, so no drop-off: leave it out, or give it no
  ``continued`` (NaN), which skips the row.

A missing ``level`` column means "stage". Negative counts raise ``ValueError``.

The six kinds, each a one-sided test per unit
---------------------------------------------
Every kind is a family of one-sided tests over the journey's units, corrected for
multiplicity (``FrictionSettings.correction``: Holm, which bounds the chance of *any*
false flag in the journey by α, or Benjamini–Hochberg, which bounds the expected
share of false flags by α; the adjusted p-values are those of statsmodels'
``multipletests``, computed for many journeys at once, see :func:`adjust`).
A unit is tested only when it has at least ``min_n`` answers (customers, invitations)
and so does whatever it is compared with; untested units are not in the family and
are never flagged. p-values come from SciPy's distributions.

1. ``below_journey`` — the unit's NPS against the pooled rest of the journey (for a
   touchpoint: the journey without that touchpoint). The test is the **signed root of
   the multinomial likelihood ratio** for H0 "NPS of the unit = NPS of the rest": both
   trinomials (promoters, passives, detractors) are fitted freely and under the
   constraint of a common NPS θ; ``r = sign(gap)·√(2·(ℓ̂ − ℓ̃))`` is standard normal
   under H0 (Wilks), and the one-sided p-value is Φ(r). The constrained fit has a
   closed form for each trinomial given θ (a quadratic in the passives' share); θ
   itself is the root of the profile likelihood's derivative, found by SciPy's
   bracketing root finder between the two NPS values. Why not the plain z test of
   the issue's reference (variance p + d − (p − d)²)? The null hypothesis is about
   the NPS only, so the variance belongs at the constrained fit, not at either
   sample's estimate. The likelihood ratio uses it, holds its level in the tail
   where a family of nine is decided, and has the power of the best of the
   alternatives tried (bench/RESULTS.md, nine stages, n = 300: 5.0% of null
   journeys flagged for a 5% family and the planted stage found in 66.3%; the
   one-sided Wald z: 4.7% and 65.5%; a score test, tried while choosing: 5.1%).
   One-sided, because only "below" is a friction: a two-sided test spends half of
   α on stages that are better than the rest (the reference: 2.4% and 56.5%).
   Effect: the gap in NPS points.

   *Stages and touchpoints in one family.* A flat family of 9 stages and 27
   touchpoints tests each stage at α/36 instead of α/9: the planted stage is found
   in 49% of journeys instead of 66% (bench/RESULTS.md). With Holm the family is therefore ordered as
   a graph (Bretz et al. 2009, "A graphical approach to sequentially rejective
   multiple test procedures"): the stages share α; a stage that is rejected passes
   its share to its touchpoints; a rejected touchpoint passes its share to its
   sibling touchpoints and back to the other stages. Without touchpoints this is
   exactly Holm. It still bounds the chance of any false flag among all stages and
   touchpoints by α (strong control), and costs the stages nothing; the price is
   that a touchpoint is tested only inside a stage that is itself flagged, so a bad
   touchpoint is found once it drags its stage down (one touchpoint 30 points
   worse, 300 answers each: found in 82% of journeys, against 99.9% in the flat
   family, which finds its stage in only 68%). Touchpoints
   without a tested stage are tested beside the stages. Benjamini–Hochberg has no
   such graph: with ``fdr_bh`` the family is flat, all stages and touchpoints.
2. ``declining`` — the weighted least-squares slope of the weekly NPS (on −1…1)
   against the week, weights = answers per week over the journey's *within-week*
   variance ``Σ nᵥ·(pᵥ + dᵥ − (pᵥ − dᵥ)²) / Σ nᵥ`` (one variance for all weeks, so a
   week with few answers cannot get an infinite weight). Equivalently, a linear
   trend test on the individual answers scored +1/0/−1 (Cochran–Armitage for the
   NPS). z = slope / se, one-sided (decline), normal. Needs ``min_weeks`` weeks with
   answers and ``min_n`` answers in all. Effect: the fitted decline in NPS points
   from the first to the last week with answers.
3. ``high_effort`` — the CES mean (1–7) against the workspace's threshold: one-sided
   Student's t, and the flag also needs the 95% t interval (:func:`metrics.mean`)
   entirely below the threshold, as the issue puts it. Effect: threshold − mean.
4. ``drop_off`` — the stage's drop-off share against the pooled drop-off of the
   journey's other transitions: Fisher's exact test, one-sided (the pooled
   two-proportion z is reported beside it). One customer passes several
   transitions, but the likelihood of a funnel factorises into one binomial per
   transition (a discrete-time hazard model), so the transitions can be treated as
   independent binomials. Effect: the excess drop-off in percentage points.
5. ``low_response`` — answered / sent against ``low_response_threshold``: the exact
   one-sided binomial test (``scipy.stats.binom``), and the flag also needs the
   Wilson interval entirely below the threshold. Effect: the relative shortfall
   ``1 − rate / threshold``.
6. ``detractor_spike`` — the detractor share in the report's last week against the
   earlier weeks of the report, pooled: Fisher's exact test, one-sided (see
   :func:`share_above_test` for why not the normal approximation).
   Effect: the rise in percentage points.

Severity
--------
``high`` when the effect reaches the kind's *large* band and the corrected p-value is
below 0.001; ``medium`` when the effect reaches the *medium* band; ``low`` otherwise
(significant, but small). Bands (large, medium), see :data:`SEVERITY_BANDS`:
below the journey and declining 15 / 5 NPS points; high effort 1.0 / 0.5 CES
points below the threshold; drop-off and detractor spike 10 / 5 percentage points;
low response a shortfall of 50% / 25% of the threshold.

Simulated accuracy against the issue's reference is in ``bench/RESULTS.md``
(``bench/bench_friction_accuracy.py``, generators in :mod:`analytics.simulate`).
Every kind also has a vectorised ``*_findings`` function over a batch of journeys
(arrays shaped ``(journeys, units, …)``): :func:`detect` runs the same functions on a
batch of one, so the simulations measure the code that flags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from scipy import stats
from scipy.optimize.elementwise import find_root
from statsmodels.stats.proportion import proportion_confint

from analytics import metrics

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

BELOW_JOURNEY = "below_journey"
DECLINING = "declining"
HIGH_EFFORT = "high_effort"
DROP_OFF = "drop_off"
LOW_RESPONSE = "low_response"
DETRACTOR_SPIKE = "detractor_spike"
KINDS = (BELOW_JOURNEY, DECLINING, HIGH_EFFORT, DROP_OFF, LOW_RESPONSE, DETRACTOR_SPIKE)
STAGE, TOUCHPOINT = "stage", "touchpoint"
LEVELS = (STAGE, TOUCHPOINT)
CORRECTIONS = ("holm", "fdr_bh")
HIGH, MEDIUM, LOW = "high", "medium", "low"

#: (large, medium) effect per kind, in the kind's units (see the module docstring).
SEVERITY_BANDS: dict[str, tuple[float, float]] = {
    BELOW_JOURNEY: (15.0, 5.0),
    DECLINING: (15.0, 5.0),
    HIGH_EFFORT: (1.0, 0.5),
    DROP_OFF: (0.10, 0.05),
    LOW_RESPONSE: (0.5, 0.25),
    DETRACTOR_SPIKE: (0.10, 0.05),
}
#: A corrected p-value below this is strong evidence (needed for "high").
STRONG_EVIDENCE = 0.001
CES_SCORES = np.arange(1, 8)
NPS_COUNTS = ["promoters", "passives", "detractors"]
_EDGE = 1e-9  # keeps θ inside (−1, 1), where every log-likelihood is finite


@dataclass(frozen=True)
class FrictionSettings:
    """The workspace's knobs; the defaults are the issue's."""

    alpha: float = 0.05
    min_n: int = metrics.MIN_N
    ces_threshold: float = 5.0  # on 1–7
    low_response_threshold: float = 0.10
    correction: Literal["holm", "fdr_bh"] = "holm"
    min_weeks: int = 4  # weeks with answers needed for a trend

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1), got {self.alpha}")
        if self.correction not in CORRECTIONS:
            raise ValueError(f"correction must be one of {CORRECTIONS}, got {self.correction!r}")
        if self.min_n < 1 or self.min_weeks < 3:
            raise ValueError("min_n must be at least 1 and min_weeks at least 3")
        if not 0 < self.low_response_threshold < 1:
            raise ValueError("low_response_threshold must lie in (0, 1)")


@dataclass(frozen=True)
class Flag:
    """One friction finding: what, where, how bad, the numbers, and why in words."""

    kind: str
    level: str
    unit_id: Any
    severity: str
    evidence: dict[str, Any]
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "level": self.level,
            "unit_id": self.unit_id,
            "severity": self.severity,
            "evidence": self.evidence,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Findings:
    """One kind's tests on a batch of journeys; arrays are shaped ``(journeys, units)``.

    ``p_value`` is the raw one-sided p-value and ``p_adjusted`` the corrected one (NaN
    where the unit is not tested); ``effect`` is in the kind's units (the severity
    bands); ``details`` holds the figures the reason quotes.
    """

    tested: Bools
    statistic: Floats
    p_value: Floats
    p_adjusted: Floats
    flagged: Bools
    effect: Floats
    details: dict[str, Floats] = field(default_factory=dict)

    @property
    def family_size(self) -> Ints:
        return self.tested.sum(axis=-1)


def severity(kind: str, effect: float, p_adjusted: float) -> str:
    large, medium = SEVERITY_BANDS[kind]
    if effect >= large and p_adjusted < STRONG_EVIDENCE:
        return HIGH
    return MEDIUM if effect >= medium else LOW


# --- Multiplicity -------------------------------------------------------------------------


def adjust(
    p_values: npt.ArrayLike,
    tested: npt.ArrayLike,
    *,
    method: str,
    alpha: float,
    family_of: Callable[[int], tuple[Floats, Floats] | None] | None = None,
) -> tuple[Bools, Floats]:
    """Correct each row (a journey) over its tested units: ``(rejected, p_adjusted)``.

    Holm's step-down or Benjamini–Hochberg's step-up adjusted p-values, computed for
    all rows at once; they equal ``statsmodels.stats.multitest.multipletests`` (the
    tests check it on random families). statsmodels itself is not called per row
    because its Holm branch runs ``gc.collect()`` on every call (statsmodels 0.15;
    PR #8671 proposed removing it): about 45 ms a journey in a Django process, which
    makes a report slow and a simulation of thousands of journeys impractical.
    ``family_of(row)``, when given and not ``None`` for a row, returns ``(weights,
    transitions)`` of a graphical procedure for that row's tested units instead
    (:func:`graph_adjusted`). A unit is rejected when its adjusted p-value is ≤ α.
    """
    p = np.atleast_2d(np.asarray(p_values, dtype=float))
    valid = np.atleast_2d(np.asarray(tested, dtype=bool)) & np.isfinite(p)
    adjusted = np.full(p.shape, np.nan)
    if p.shape[1] and valid.any():
        keys = np.where(valid, p, np.inf)
        order = np.argsort(keys, axis=1, kind="stable")
        ordered = np.take_along_axis(keys, order, axis=1)
        size = valid.sum(axis=1, keepdims=True)
        rank = np.arange(1, p.shape[1] + 1)[None, :]
        inside = rank <= size
        with np.errstate(invalid="ignore"):
            if method == "holm":
                raw = np.where(inside, (size - rank + 1) * ordered, np.inf)
                stepped = np.maximum.accumulate(raw, axis=1)
            elif method == "fdr_bh":
                raw = np.where(inside, size * ordered / rank, np.inf)
                stepped = np.minimum.accumulate(raw[:, ::-1], axis=1)[:, ::-1]
            else:
                raise ValueError(f"correction must be one of {CORRECTIONS}, got {method!r}")
        np.put_along_axis(adjusted, order, np.minimum(stepped, 1.0), axis=1)
        adjusted[~valid] = np.nan
    if family_of is not None:
        for row in range(p.shape[0]):
            graph = family_of(row) if valid[row].any() else None
            if graph is not None:
                adjusted[row, valid[row]] = graph_adjusted(p[row, valid[row]], *graph)
    with np.errstate(invalid="ignore"):
        rejected = valid & (adjusted <= alpha)
    return rejected, adjusted


def graph_adjusted(p_values: Floats, weights: Floats, transitions: Floats) -> Floats:
    """Adjusted p-values of a graphical weighted-Bonferroni procedure (Bretz et al. 2009/2011).

    ``weights`` (summing to at most 1) split α among the hypotheses at the start;
    ``transitions[i, j]`` is the share of hypothesis i's weight that moves to j once
    i is rejected (rows sum to at most 1). Repeatedly take the hypothesis with the
    smallest ``p / weight``, record the running maximum of that ratio as its adjusted
    p-value, and pass its weight on along the updated graph. Reject where the
    adjusted p-value is at most α. The complete graph with equal weights is Holm.
    """
    p = np.asarray(p_values, dtype=float)
    w = np.asarray(weights, dtype=float).copy()
    graph = np.asarray(transitions, dtype=float).copy()
    size = p.size
    adjusted = np.ones(size)
    active = np.ones(size, dtype=bool)
    running = 0.0
    for _step in range(size):
        candidates = active & (w > 0)
        if not candidates.any():
            break
        with np.errstate(divide="ignore"):
            ratio = np.where(candidates, p / np.where(candidates, w, 1.0), np.inf)
        j = int(np.argmin(ratio))
        running = max(running, min(1.0, float(ratio[j])))
        if running >= 1.0:
            break  # every hypothesis left has adjusted p-value 1
        adjusted[j] = running
        active[j] = False
        outgoing, incoming = graph[j].copy(), graph[:, j].copy()
        w = w + w[j] * outgoing
        w[j] = 0.0
        denominator = 1.0 - incoming * outgoing
        updated = graph + np.outer(incoming, outgoing)
        safe = denominator > 1e-12
        graph = np.where(safe[:, None], updated / np.where(safe, denominator, 1.0)[:, None], 0.0)
        np.fill_diagonal(graph, 0.0)
        graph[j, :] = 0.0
        graph[:, j] = 0.0
        w[~active] = 0.0
    return adjusted


def hierarchy(parents: Sequence[int], n_stages: int, tested: Bools) -> tuple[Floats, Floats] | None:
    """The graph of the below-the-journey family: stages first, then their touchpoints.

    Units are the ``n_stages`` stages followed by the touchpoints, ``parents[t]`` the
    stage index of touchpoint t (−1 for none). Returns ``(weights, transitions)`` over
    the *tested* units in order, or ``None`` when no touchpoint is tested (plain Holm).
    Roots (tested stages, and tested touchpoints whose stage is not tested) share α
    equally. A root stage passes its weight to its tested touchpoints, or to the other
    roots when it has none; a touchpoint passes its weight in equal parts to each
    sibling and to the other roots (that part split among them).
    """
    index = np.flatnonzero(tested)
    if not (index >= n_stages).any():
        return None
    position = {int(unit): k for k, unit in enumerate(index)}
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for raw in index:
        unit = int(raw)
        parent = int(parents[unit - n_stages]) if unit >= n_stages else -1
        if unit >= n_stages and parent >= 0 and parent in position:
            children.setdefault(parent, []).append(unit)
        else:
            roots.append(unit)
    size = index.size
    weights = np.zeros(size)
    transitions = np.zeros((size, size))
    for root in roots:
        weights[position[root]] = 1.0 / len(roots)
        targets = children.get(root) or [other for other in roots if other != root]
        for target in targets:
            transitions[position[root], position[target]] = 1.0 / len(targets)
    for parent, kids in children.items():
        others = [root for root in roots if root != parent]
        for kid in kids:
            parts: list[list[int]] = [[sibling] for sibling in kids if sibling != kid] + ([others] if others else [])
            for part in parts:
                for target in part:
                    transitions[position[kid], position[target]] += 1.0 / len(parts) / len(part)
    return weights, transitions


# --- Tests on counts (vectorised) ---------------------------------------------------------------


def _constrained(promoters: Floats, passives: Floats, detractors: Floats, theta: Floats) -> tuple[Floats, ...]:
    """Maximum-likelihood shares of one trinomial whose NPS (on −1…1) is fixed at θ.

    With π_P − π_D = θ and π_P + π_A + π_D = 1 the only free share is u = π_A, and the
    log-likelihood's stationary point solves ``N·u² − (2·n_A + n_P·(1−θ) + n_D·(1+θ))·u
    + n_A·(1+θ)·(1−θ) = 0``; the smaller root is the maximum (computed in the stable
    form). When no detractors (promoters) were seen the maximum may sit on the
    boundary π_D = 0 (π_P = 0): then the roots are exactly 1−θ (1+θ) and
    n_A·(1±θ)/N. Returns ``(π_P, π_A, π_D, on_detractor_edge, on_promoter_edge)``.
    """
    total = promoters + passives + detractors
    a, b = 1.0 + theta, 1.0 - theta
    linear = 2.0 * passives + promoters * b + detractors * a
    root = np.sqrt(np.maximum(linear**2 - 4.0 * total * passives * a * b, 0.0))
    denominator = linear + root
    u = np.divide(2.0 * passives * a * b, denominator, out=np.zeros_like(theta), where=denominator > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        other_d = np.where(total > 0, passives * a / total, 0.0)  # the other root when n_D = 0
        other_p = np.where(total > 0, passives * b / total, 0.0)  # the other root when n_P = 0
    on_detractor_edge = (detractors == 0) & (b <= other_d)
    on_promoter_edge = (promoters == 0) & (a <= other_p)
    u = np.where(detractors == 0, np.minimum(b, other_d), u)
    u = np.where(promoters == 0, np.minimum(a, other_p), u)
    u = np.clip(u, 0.0, np.minimum(a, b))
    return (a - u) / 2.0, u, (b - u) / 2.0, on_detractor_edge, on_promoter_edge


def _ratio(numerator: Floats, denominator: Floats) -> Floats:
    return np.divide(
        numerator, denominator, out=np.zeros(np.broadcast(numerator, denominator).shape), where=numerator > 0
    )


def _profile_slope(theta: Floats, *counts: Floats) -> Floats:
    """d/dθ of the two trinomials' profile log-likelihood (the constraint's Lagrange multiplier)."""
    slope = np.zeros_like(theta)
    for promoters, passives, detractors in (counts[:3], counts[3:]):
        p, u, d, on_d, on_p = _constrained(promoters, passives, detractors, theta)
        interior = (_ratio(promoters, p) - _ratio(detractors, d)) / 2.0
        slope = slope + np.where(
            on_d,
            _ratio(promoters, p) - _ratio(passives, u),
            np.where(on_p, _ratio(passives, u) - _ratio(detractors, d), interior),
        )
    return slope


def _loglik(counts: tuple[Floats, ...], shares: tuple[Floats, ...]) -> Floats:
    total = np.zeros_like(counts[0])
    for n, share in zip(counts, shares, strict=True):
        total = total + np.where(n > 0, n * np.log(np.where(n > 0, share, 1.0)), 0.0)
    return total


def nps_below_test(unit: npt.ArrayLike, rest: npt.ArrayLike) -> tuple[Floats, Floats]:
    """Signed-root likelihood-ratio test that the unit's NPS is below the rest's.

    ``unit`` and ``rest`` are count arrays shaped ``(..., 3)`` (promoters, passives,
    detractors). Returns ``(r, p)``: r is negative when the unit's NPS is lower and is
    standard normal under equal NPS; p = Φ(r) is the one-sided p-value. NaN where
    either side has no answers.
    """
    unit_counts = np.asarray(unit, dtype=float)
    rest_counts = np.asarray(rest, dtype=float)
    shape = np.broadcast_shapes(unit_counts.shape, rest_counts.shape)[:-1]
    unit_counts = np.broadcast_to(unit_counts, (*shape, 3)).reshape(-1, 3)
    rest_counts = np.broadcast_to(rest_counts, (*shape, 3)).reshape(-1, 3)
    unit_n, rest_n = unit_counts.sum(axis=1), rest_counts.sum(axis=1)
    statistic = np.full(unit_n.shape, np.nan)
    valid = (unit_n > 0) & (rest_n > 0)
    if valid.any():
        p1, a1, d1 = unit_counts[valid].T
        p2, a2, d2 = rest_counts[valid].T
        first, second = (p1, a1, d1), (p2, a2, d2)
        n1, n2 = unit_n[valid], rest_n[valid]
        t1, t2 = (first[0] - first[2]) / n1, (second[0] - second[2]) / n2
        low = np.clip(np.minimum(t1, t2), -1 + _EDGE, 1 - _EDGE)
        high = np.clip(np.maximum(t1, t2), -1 + _EDGE, 1 - _EDGE)
        theta = (low + high) / 2.0
        open_ = high - low > 1e-12
        if open_.any():
            args = tuple(column[open_] for column in (*first, *second))
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                result = find_root(_profile_slope, (low[open_], high[open_]), args=args)
            theta[open_] = np.where(np.isfinite(result.x), result.x, theta[open_])
        fitted_1 = _constrained(*first, theta)[:3]
        fitted_2 = _constrained(*second, theta)[:3]
        free = _loglik(first, tuple(c / n1 for c in first)) + _loglik(second, tuple(c / n2 for c in second))
        with np.errstate(divide="ignore"):
            bound = _loglik(first, fitted_1) + _loglik(second, fitted_2)
        deviance = np.maximum(2.0 * (free - bound), 0.0)
        statistic[valid] = np.sign(t1 - t2) * np.sqrt(deviance)
    statistic = statistic.reshape(shape)
    return statistic, stats.norm.cdf(statistic)


def share_above_test(
    successes: npt.ArrayLike, n: npt.ArrayLike, other_successes: npt.ArrayLike, other_n: npt.ArrayLike
) -> tuple[Floats, Floats]:
    """One-sided test that the first share is larger: ``(z, p)``.

    p is Fisher's exact one-sided p-value, the hypergeometric tail
    ``P(X ≥ k₁)`` given both margins (``scipy.stats.hypergeom``): exact, so it keeps
    its level in the far tail where a family of several units is decided (the normal
    approximation of the two-proportion z test flagged 5.6% of null journeys for a 5%
    family of nine weekly detractor shares). z is the pooled two-proportion z
    statistic, reported as the size of the difference in standard errors (0 when the
    pooled share is 0 or 1). NaN where either n is 0.
    """
    k1, n1 = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    k2, n2 = np.asarray(other_successes, dtype=float), np.asarray(other_n, dtype=float)
    valid = (n1 > 0) & (n2 > 0)
    one, other = np.where(valid, n1, 1.0), np.where(valid, n2, 1.0)
    # Invalid entries get neutral stand-ins (0 of 1), so no NaN or warning leaks from them.
    pooled = np.clip(np.where(valid, k1 + k2, 0.0) / (one + other), 0.0, 1.0)
    se = np.sqrt(pooled * (1 - pooled) * (1 / one + 1 / other))
    difference = np.where(valid, k1 / one - k2 / other, 0.0)
    z = np.where(valid, np.divide(difference, se, out=np.zeros_like(se), where=se > 0), np.nan)
    total, drawn = (n1 + n2).astype(np.int64), n1.astype(np.int64)
    p = stats.hypergeom.sf(k1.astype(np.int64) - 1, total, (k1 + k2).astype(np.int64), drawn)
    return z, np.where(valid, p, np.nan)


def nps_trend(weekly: npt.ArrayLike, weeks: npt.ArrayLike) -> dict[str, Floats]:
    """Weighted least-squares trend of the weekly NPS; ``weekly`` is ``(..., weeks, 3)``.

    Returns arrays over ``...``: ``slope`` (per week, on −1…1), ``se``, ``z``, ``p``
    (one-sided, decline), ``n``, ``weeks`` (with answers), ``first`` and ``last`` (the
    fitted NPS on −1…1 at the first and last week with answers) and ``variance``
    (within weeks). See the module docstring for the weights.
    """
    counts = np.asarray(weekly, dtype=float)
    x = np.asarray(weeks, dtype=float)
    per_week = counts.sum(axis=-1)
    total = per_week.sum(axis=-1)
    has = per_week > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_total = np.where(total > 0, total, 1.0)
        nps_week = np.where(has, (counts[..., 0] - counts[..., 2]) / np.where(has, per_week, 1.0), 0.0)
        centre = (per_week * x).sum(axis=-1) / safe_total
        spread = x - centre[..., None]
        sxx = (per_week * spread**2).sum(axis=-1)
        slope = np.where(sxx > 0, (per_week * spread * nps_week).sum(axis=-1) / np.where(sxx > 0, sxx, 1.0), 0.0)
        variance = ((counts[..., 0] + counts[..., 2]).sum(axis=-1) - (per_week * nps_week**2).sum(axis=-1)) / safe_total
        se = np.sqrt(np.where((sxx > 0) & (variance > 0), variance / np.where(sxx > 0, sxx, 1.0), np.nan))
        z = slope / se
        level = (counts[..., 0] - counts[..., 2]).sum(axis=-1) / safe_total
    any_week = has.any(axis=-1)
    first_week = np.where(any_week, np.where(has, x, np.inf).min(axis=-1), 0.0)
    last_week = np.where(any_week, np.where(has, x, -np.inf).max(axis=-1), 0.0)
    return {
        "slope": slope,
        "se": se,
        "z": z,
        "p": stats.norm.cdf(z),
        "n": total,
        "weeks": has.sum(axis=-1).astype(float),
        "first": level + slope * (first_week - centre),
        "last": level + slope * (last_week - centre),
        "span": last_week - first_week,
        "variance": variance,
    }


# --- The six kinds on batches of journeys ----------------------------------------------------------


def _finish(
    kind_p: Floats, tested: Bools, settings: FrictionSettings, family_of: Callable[[int], Any] | None = None
) -> tuple[Bools, Floats]:
    return adjust(kind_p, tested, method=settings.correction, alpha=settings.alpha, family_of=family_of)


def _nps_points(counts: Floats) -> Floats:
    n = counts.sum(axis=-1)
    return np.divide(100.0 * (counts[..., 0] - counts[..., 2]), n, out=np.full(n.shape, np.nan), where=n > 0)


def below_journey_findings(
    stages: npt.ArrayLike,
    touchpoints: npt.ArrayLike | None = None,
    parents: Sequence[int] | None = None,
    *,
    settings: FrictionSettings,
) -> Findings:
    """Each stage and touchpoint against the rest of its journey (kind 1).

    ``stages`` is ``(journeys, stages, 3)`` counts, ``touchpoints`` ``(journeys,
    touchpoints, 3)`` with ``parents[t]`` its stage's index (−1: none). The result's
    units are the stages followed by the touchpoints.
    """
    stage_counts = np.asarray(stages, dtype=float)
    if stage_counts.ndim != 3:
        raise ValueError("stages must be shaped (journeys, stages, 3)")
    journeys = stage_counts.shape[0]
    touch_counts = np.zeros((journeys, 0, 3)) if touchpoints is None else np.asarray(touchpoints, dtype=float)
    parent_index = [-1] * touch_counts.shape[1] if parents is None else [int(p) for p in parents]
    units = np.concatenate([stage_counts, touch_counts], axis=1)
    n_stages = stage_counts.shape[1]
    total = stage_counts.sum(axis=1) if n_stages else touch_counts.sum(axis=1)
    rest = np.clip(total[:, None, :] - units, 0.0, None)
    n, rest_n = units.sum(axis=-1), rest.sum(axis=-1)
    tested = (n >= settings.min_n) & (rest_n >= settings.min_n)
    statistic = np.full(n.shape, np.nan)
    if tested.any():
        statistic[tested] = nps_below_test(units[tested], rest[tested])[0]
    tested &= np.isfinite(statistic)
    p_value = stats.norm.cdf(statistic)

    def family_of(row: int) -> tuple[Floats, Floats] | None:
        return hierarchy(parent_index, n_stages, tested[row])

    graphical = settings.correction == "holm" and touch_counts.shape[1] > 0
    rejected, adjusted = _finish(p_value, tested, settings, family_of if graphical else None)
    unit_nps, rest_nps = _nps_points(units), _nps_points(rest)
    return Findings(
        tested=tested,
        statistic=statistic,
        p_value=np.where(tested, p_value, np.nan),
        p_adjusted=adjusted,
        flagged=rejected & (statistic < 0),
        effect=rest_nps - unit_nps,
        details={"nps": unit_nps, "rest_nps": rest_nps, "n": n, "rest_n": rest_n},
    )


def declining_findings(weekly: npt.ArrayLike, weeks: npt.ArrayLike, *, settings: FrictionSettings) -> Findings:
    """Each unit's weekly NPS trend, one-sided for a decline (kind 2); ``weekly`` is ``(journeys, units, weeks, 3)``."""
    trend = nps_trend(weekly, weeks)
    tested = (trend["weeks"] >= settings.min_weeks) & (trend["n"] >= settings.min_n) & np.isfinite(trend["z"])
    rejected, adjusted = _finish(trend["p"], tested, settings)
    return Findings(
        tested=tested,
        statistic=trend["z"],
        p_value=np.where(tested, trend["p"], np.nan),
        p_adjusted=adjusted,
        flagged=rejected & (trend["z"] < 0),
        effect=-100.0 * trend["slope"] * trend["span"],
        details={
            "slope": 100.0 * trend["slope"],
            "first": 100.0 * trend["first"],
            "last": 100.0 * trend["last"],
            "n": trend["n"],
            "weeks": trend["weeks"],
            "span": trend["span"],
        },
    )


def detractor_spike_findings(weekly: npt.ArrayLike, *, settings: FrictionSettings) -> Findings:
    """The last week's detractor share against the earlier weeks' (kind 6); ``(journeys, units, weeks, 3)``."""
    counts = np.asarray(weekly, dtype=float)
    last, before = counts[..., -1, :], counts[..., :-1, :].sum(axis=-2)
    n_last, n_before = last.sum(axis=-1), before.sum(axis=-1)
    tested = (n_last >= settings.min_n) & (n_before >= settings.min_n)
    z, p = share_above_test(last[..., 2], n_last, before[..., 2], n_before)
    rejected, adjusted = _finish(p, tested, settings)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n_last > 0, last[..., 2] / np.where(n_last > 0, n_last, 1.0), np.nan)
        before_share = np.where(n_before > 0, before[..., 2] / np.where(n_before > 0, n_before, 1.0), np.nan)
    return Findings(
        tested=tested,
        statistic=z,
        p_value=np.where(tested, p, np.nan),
        p_adjusted=adjusted,
        flagged=rejected & (z > 0),
        effect=share - before_share,
        details={"share": share, "before_share": before_share, "n": n_last, "before_n": n_before},
    )


def high_effort_findings(ces: npt.ArrayLike, *, settings: FrictionSettings) -> Findings:
    """CES mean against the threshold (kind 3); ``ces`` is ``(journeys, units, 7)`` counts of scores 1–7."""
    counts = np.asarray(ces, dtype=float)
    n = counts.sum(axis=-1)
    tested = n >= max(settings.min_n, 2)
    safe_n = np.where(tested, n, 2.0)
    mean = (counts * CES_SCORES).sum(axis=-1) / np.where(n > 0, n, 1.0)
    variance = (counts * (CES_SCORES - mean[..., None]) ** 2).sum(axis=-1) / (safe_n - 1)
    se = np.sqrt(variance / safe_n)
    gap = mean - settings.ces_threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        certain = np.where(gap < 0, -np.inf, np.where(gap > 0, np.inf, 0.0))  # every answer the same
        t = np.where(se > 0, gap / np.where(se > 0, se, 1.0), certain)
    p = stats.t.cdf(t, safe_n - 1)
    half = stats.t.ppf(1 - (1 - metrics.CONFIDENCE) / 2, safe_n - 1) * se
    rejected, adjusted = _finish(p, tested, settings)
    high = np.where(tested, mean + half, np.nan)
    return Findings(
        tested=tested,
        statistic=np.where(tested, t, np.nan),
        p_value=np.where(tested, p, np.nan),
        p_adjusted=adjusted,
        flagged=rejected & (high < settings.ces_threshold),
        effect=settings.ces_threshold - mean,
        details={"mean": np.where(n > 0, mean, np.nan), "ci_low": mean - half, "ci_high": high, "n": n},
    )


def _wilson(successes: Floats, n: Floats, tested: Bools) -> tuple[Floats, Floats]:
    low, high = np.full(n.shape, np.nan), np.full(n.shape, np.nan)
    if tested.any():
        interval = proportion_confint(successes[tested], n[tested], alpha=1 - metrics.CONFIDENCE, method="wilson")
        low[tested], high[tested] = interval
    return low, high


def low_response_findings(sent: npt.ArrayLike, answered: npt.ArrayLike, *, settings: FrictionSettings) -> Findings:
    """Response rate against the threshold, exact binomial (kind 5); arrays ``(journeys, units)``."""
    invitations = np.asarray(sent, dtype=float)
    answers = np.minimum(np.asarray(answered, dtype=float), invitations)
    tested = invitations >= settings.min_n
    threshold = settings.low_response_threshold
    p = np.where(tested, stats.binom.cdf(answers, np.where(tested, invitations, 1.0), threshold), np.nan)
    rejected, adjusted = _finish(p, tested, settings)
    rate = np.divide(answers, invitations, out=np.full(invitations.shape, np.nan), where=invitations > 0)
    low, high = _wilson(answers, invitations, tested)
    spread = np.sqrt(np.where(tested, invitations, 1.0) * threshold * (1 - threshold))
    return Findings(
        tested=tested,
        statistic=np.where(tested, (answers - invitations * threshold) / spread, np.nan),  # z, for the record
        p_value=p,
        p_adjusted=adjusted,
        flagged=rejected & (high < threshold),
        effect=1.0 - rate / threshold,
        details={"rate": rate, "ci_low": low, "ci_high": high, "sent": invitations, "answered": answers},
    )


def drop_off_findings(reached: npt.ArrayLike, continued: npt.ArrayLike, *, settings: FrictionSettings) -> Findings:
    """Each transition's drop-off against the journey's other transitions (kind 4); ``(journeys, stages)``."""
    customers = np.asarray(reached, dtype=float)
    onward = np.minimum(np.asarray(continued, dtype=float), customers)
    dropped = customers - onward
    rest_reached = customers.sum(axis=-1, keepdims=True) - customers
    rest_dropped = dropped.sum(axis=-1, keepdims=True) - dropped
    tested = (customers >= settings.min_n) & (rest_reached >= settings.min_n)
    z, p = share_above_test(dropped, customers, rest_dropped, rest_reached)
    rejected, adjusted = _finish(p, tested, settings)
    share = np.divide(dropped, customers, out=np.full(customers.shape, np.nan), where=customers > 0)
    rest_share = np.divide(rest_dropped, rest_reached, out=np.full(customers.shape, np.nan), where=rest_reached > 0)
    low, high = _wilson(dropped, customers, tested)
    return Findings(
        tested=tested,
        statistic=z,
        p_value=np.where(tested, p, np.nan),
        p_adjusted=adjusted,
        flagged=rejected & (z > 0),
        effect=share - rest_share,
        details={
            "share": share,
            "ci_low": low,
            "ci_high": high,
            "n": customers,
            "rest_share": rest_share,
            "rest_n": rest_reached,
        },
    )


# --- From the aggregation layer's tables to flags ----------------------------------------------------


def detect(
    *,
    units: pd.DataFrame | None = None,
    weekly: pd.DataFrame | None = None,
    ces: pd.DataFrame | None = None,
    responses: pd.DataFrame | None = None,
    drop_offs: pd.DataFrame | None = None,
    settings: FrictionSettings | None = None,
) -> list[Flag]:
    """All friction flags of one journey, in the order of :data:`KINDS`, then stages before touchpoints.

    Within a kind, units keep their journey order (``stage_order``, then ``unit_id``).
    Reasons are built in the active language.
    """
    settings = settings or FrictionSettings()
    flags: list[Flag] = []
    if units is not None and not units.empty:
        flags += _below_journey_flags(units, settings)
    if weekly is not None and not weekly.empty:
        flags += _weekly_flags(weekly, settings)
    if ces is not None and not ces.empty:
        flags += _high_effort_flags(ces, settings)
    if drop_offs is not None and not drop_offs.empty:
        flags += _drop_off_flags(drop_offs, settings)
    if responses is not None and not responses.empty:
        flags += _low_response_flags(responses, settings)
    return sorted(flags, key=lambda flag: KINDS.index(flag.kind))  # stable: keeps the journey order


def _prepare(frame: pd.DataFrame, columns: Sequence[str], counts: Sequence[str], name: str) -> pd.DataFrame:
    missing = [column for column in [*columns, *counts] if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} needs the columns {missing}")
    frame = frame.copy()
    if "level" not in frame.columns:
        frame["level"] = STAGE
    unknown = set(frame["level"]) - set(LEVELS)
    if unknown:
        raise ValueError(f"{name}: unknown level {sorted(map(str, unknown))}")
    values = frame[list(counts)].fillna(0)
    if (values < 0).to_numpy().any():
        raise ValueError(f"{name}: counts cannot be negative")
    frame[list(counts)] = values.astype("int64")
    return frame


def _ordered_units(frame: pd.DataFrame, counts: Sequence[str]) -> pd.DataFrame:
    """One row per (level, unit_id), counts summed; stages by ``stage_order`` then id, touchpoints after."""
    extra = {column: "first" for column in ("stage_order", "stage_id") if column in frame.columns}
    grouped = frame.groupby(["level", "unit_id"], sort=False, dropna=False).agg(
        {**dict.fromkeys(counts, "sum"), **extra}
    )
    grouped = grouped.reset_index()
    grouped["_level"] = grouped["level"].map(LEVELS.index)
    order = ["_level", "stage_order", "unit_id"] if "stage_order" in grouped.columns else ["_level", "unit_id"]
    return grouped.sort_values(order, na_position="last", kind="stable").reset_index(drop=True)


def _number(value: float, decimals: int = 0) -> str:
    rounded = round(float(value), decimals) + 0.0  # + 0.0 turns −0.0 into 0.0
    text = formats.number_format(rounded, decimals, use_l10n=True, force_grouping=True)
    return text.replace("-", "\u2212")


def _percent(share: float) -> str:
    return _number(100 * share, 1 if abs(share) < 0.1 else 0)


def _p_phrase(p_adjusted: float, correction: str) -> str:
    """ "p = 0.004 after Holm correction" in the active language."""
    small = p_adjusted < 0.001
    shown = _number(0.001 if small else p_adjusted, 3)
    if correction == "holm":
        template = _("p < %(p)s after Holm correction") if small else _("p = %(p)s after Holm correction")
    else:
        template = (
            _("p < %(p)s after Benjamini–Hochberg correction")
            if small
            else _("p = %(p)s after Benjamini–Hochberg correction")
        )
    return template % {"p": shown}


def _significant(value: float) -> float:
    return float(f"{float(value):.3g}")


def _round(value: Any, digits: int = 4) -> float | None:
    value = float(value)
    return None if not np.isfinite(value) else round(value, digits)


def _common_evidence(findings: Findings, index: int, settings: FrictionSettings, test: str) -> dict[str, Any]:
    return {
        "test": test,
        "statistic": _round(findings.statistic[0, index]),
        "p_value": _significant(findings.p_value[0, index]),
        "p_adjusted": _significant(findings.p_adjusted[0, index]),
        "correction": settings.correction,
        "alpha": settings.alpha,
        "family_size": int(findings.family_size[0]),
    }


def _flag(kind: str, row: pd.Series, findings: Findings, index: int, evidence: dict[str, Any], reason: str) -> Flag:
    unit_id = row["unit_id"]
    return Flag(
        kind=kind,
        level=str(row["level"]),
        unit_id=unit_id.item() if isinstance(unit_id, np.generic) else unit_id,
        severity=severity(kind, float(findings.effect[0, index]), float(findings.p_adjusted[0, index])),
        evidence=evidence,
        reason=reason,
    )


def _below_journey_flags(frame: pd.DataFrame, settings: FrictionSettings) -> list[Flag]:
    table = _ordered_units(_prepare(frame, ["unit_id"], NPS_COUNTS, "units"), NPS_COUNTS)
    stages = table[table["level"] == STAGE].reset_index(drop=True)
    touchpoints = table[table["level"] == TOUCHPOINT].reset_index(drop=True)
    stage_index = {unit_id: k for k, unit_id in enumerate(stages["unit_id"])}
    if "stage_id" in touchpoints.columns:
        parents = [stage_index.get(stage_id, -1) if pd.notna(stage_id) else -1 for stage_id in touchpoints["stage_id"]]
    else:
        parents = [-1] * len(touchpoints)
    findings = below_journey_findings(
        stages[NPS_COUNTS].to_numpy()[None],
        touchpoints[NPS_COUNTS].to_numpy()[None],
        parents,
        settings=settings,
    )
    ordered = pd.concat([stages, touchpoints], ignore_index=True)
    flags = []
    for index in map(int, np.flatnonzero(findings.flagged[0])):
        row = ordered.iloc[index]
        estimate = metrics.nps(*(int(row[column]) for column in NPS_COUNTS), min_n=settings.min_n)
        details = {name: float(values[0, index]) for name, values in findings.details.items()}
        evidence = {
            "nps": _round(estimate.value, 2),
            "ci_low": _round(estimate.ci_low, 2),
            "ci_high": _round(estimate.ci_high, 2),
            "n": estimate.n,
            "rest_nps": _round(details["rest_nps"], 2),
            "rest_n": int(details["rest_n"]),
            "gap": _round(findings.effect[0, index], 2),
            **_common_evidence(findings, index, settings, "one-sided multinomial likelihood ratio, NPS vs rest"),
        }
        reason = _(
            "NPS %(value)s (%(low)s to %(high)s, n = %(n)s) is significantly below the rest of the journey "
            "(NPS %(rest)s, n = %(rest_n)s; %(p)s)."
        ) % {
            "value": _number(estimate.value or 0.0),
            "low": _number(estimate.ci_low or 0.0),
            "high": _number(estimate.ci_high or 0.0),
            "n": _number(estimate.n),
            "rest": _number(details["rest_nps"]),
            "rest_n": _number(details["rest_n"]),
            "p": _p_phrase(findings.p_adjusted[0, index], settings.correction),
        }
        flags.append(_flag(BELOW_JOURNEY, row, findings, index, evidence, reason))
    return flags


def _weekly_flags(frame: pd.DataFrame, settings: FrictionSettings) -> list[Flag]:
    """Declining and detractor-spike flags from the weekly counts."""
    prepared = _prepare(frame, ["unit_id", "week"], NPS_COUNTS, "weekly")
    weeks = np.sort(prepared["week"].astype("int64").unique())
    table = _ordered_units(prepared, NPS_COUNTS)
    cube = np.zeros((1, len(table), len(weeks), 3))
    position = {
        (level, unit_id): k for k, (level, unit_id) in enumerate(zip(table["level"], table["unit_id"], strict=True))
    }
    week_position = {int(week): k for k, week in enumerate(weeks)}
    summed = prepared.groupby(["level", "unit_id", "week"], sort=False)[NPS_COUNTS].sum().reset_index()
    for record in summed.itertuples(index=False):
        cube[0, position[(record.level, record.unit_id)], week_position[int(record.week)]] = [
            record.promoters,
            record.passives,
            record.detractors,
        ]
    flags: list[Flag] = []
    declining = declining_findings(cube, weeks, settings=settings)
    for index in map(int, np.flatnonzero(declining.flagged[0])):
        row = table.iloc[index]
        details = {name: float(values[0, index]) for name, values in declining.details.items()}
        weeks_shown = int(round(details["span"])) + 1
        evidence = {
            "slope_per_week": _round(details["slope"], 3),
            "first": _round(details["first"], 2),
            "last": _round(details["last"], 2),
            "decline": _round(declining.effect[0, index], 2),
            "weeks": int(details["weeks"]),
            "n": int(details["n"]),
            **_common_evidence(declining, index, settings, "one-sided weighted least-squares slope of weekly NPS"),
        }
        reason = ngettext(
            "NPS is declining: its trend fell from %(first)s to %(last)s over %(weeks)s week "
            "(%(slope)s points a week, n = %(n)s; %(p)s).",
            "NPS is declining: its trend fell from %(first)s to %(last)s over %(weeks)s weeks "
            "(%(slope)s points a week, n = %(n)s; %(p)s).",
            weeks_shown,
        ) % {
            "first": _number(details["first"]),
            "last": _number(details["last"]),
            "weeks": _number(weeks_shown),
            "slope": _number(details["slope"], 1),
            "n": _number(details["n"]),
            "p": _p_phrase(declining.p_adjusted[0, index], settings.correction),
        }
        flags.append(_flag(DECLINING, row, declining, index, evidence, reason))
    spike = detractor_spike_findings(cube, settings=settings)
    for index in map(int, np.flatnonzero(spike.flagged[0])):
        row = table.iloc[index]
        details = {name: float(values[0, index]) for name, values in spike.details.items()}
        evidence = {
            "week": int(weeks[-1]),
            "detractor_share": _round(details["share"]),
            "n": int(details["n"]),
            "before_share": _round(details["before_share"]),
            "before_n": int(details["before_n"]),
            "rise": _round(spike.effect[0, index]),
            **_common_evidence(spike, index, settings, "one-sided Fisher exact test, last week vs earlier weeks"),
        }
        reason = _(
            "Detractors rose to %(share)s%% of answers in the last week (n = %(n)s) from %(before)s%% "
            "in the weeks before (n = %(before_n)s; %(p)s)."
        ) % {
            "share": _percent(details["share"]),
            "n": _number(details["n"]),
            "before": _percent(details["before_share"]),
            "before_n": _number(details["before_n"]),
            "p": _p_phrase(spike.p_adjusted[0, index], settings.correction),
        }
        flags.append(_flag(DETRACTOR_SPIKE, row, spike, index, evidence, reason))
    return flags


def _high_effort_flags(frame: pd.DataFrame, settings: FrictionSettings) -> list[Flag]:
    prepared = _prepare(frame, ["unit_id", "score"], ["n"], "ces")
    scores = prepared["score"].astype("int64")
    if not scores.between(1, 7).all():
        raise ValueError("ces: scores must lie in 1..7")
    prepared["score"] = scores
    table = _ordered_units(prepared, ["n"])
    position = {
        (level, unit_id): k for k, (level, unit_id) in enumerate(zip(table["level"], table["unit_id"], strict=True))
    }
    counts = np.zeros((1, len(table), 7))
    for record in prepared.groupby(["level", "unit_id", "score"], sort=False)["n"].sum().reset_index().itertuples():
        counts[0, position[(record.level, record.unit_id)], int(record.score) - 1] += record.n
    findings = high_effort_findings(counts, settings=settings)
    flags = []
    for index in map(int, np.flatnonzero(findings.flagged[0])):
        row = table.iloc[index]
        details = {name: float(values[0, index]) for name, values in findings.details.items()}
        evidence = {
            "ces": _round(details["mean"]),
            "ci_low": _round(details["ci_low"]),
            "ci_high": _round(details["ci_high"]),
            "n": int(details["n"]),
            "threshold": settings.ces_threshold,
            **_common_evidence(findings, index, settings, "one-sided t test of the CES mean vs the threshold"),
        }
        reason = _(
            "Customer effort score %(value)s (%(low)s to %(high)s, n = %(n)s) is entirely below the threshold "
            "of %(threshold)s: customers find this hard (%(p)s)."
        ) % {
            "value": _number(details["mean"], 1),
            "low": _number(details["ci_low"], 1),
            "high": _number(details["ci_high"], 1),
            "n": _number(details["n"]),
            "threshold": _number(settings.ces_threshold, 1),
            "p": _p_phrase(findings.p_adjusted[0, index], settings.correction),
        }
        flags.append(_flag(HIGH_EFFORT, row, findings, index, evidence, reason))
    return flags


def _drop_off_flags(frame: pd.DataFrame, settings: FrictionSettings) -> list[Flag]:
    if "continued" in frame.columns:
        frame = frame[frame["continued"].notna()]  # the last stage: no next stage, no drop-off
    prepared = _prepare(frame, ["stage_id", "order"], ["reached", "continued"], "drop_offs")
    prepared = prepared.rename(columns={"stage_id": "unit_id", "order": "stage_order"}).assign(level=STAGE)
    table = _ordered_units(prepared, ["reached", "continued"])
    findings = drop_off_findings(
        table["reached"].to_numpy()[None], table["continued"].to_numpy()[None], settings=settings
    )
    flags = []
    for index in map(int, np.flatnonzero(findings.flagged[0])):
        row = table.iloc[index]
        details = {name: float(values[0, index]) for name, values in findings.details.items()}
        evidence = {
            "drop_off": _round(details["share"]),
            "ci_low": _round(details["ci_low"]),
            "ci_high": _round(details["ci_high"]),
            "n": int(details["n"]),
            "rest_drop_off": _round(details["rest_share"]),
            "rest_n": int(details["rest_n"]),
            "excess": _round(findings.effect[0, index]),
            **_common_evidence(findings, index, settings, "one-sided Fisher exact test vs the other transitions"),
        }
        reason = _(
            "%(share)s%% of the customers who reached this stage did not reach the next one (%(low)s%% to "
            "%(high)s%%, n = %(n)s), significantly more than the journey's typical %(rest)s%% "
            "(n = %(rest_n)s; %(p)s)."
        ) % {
            "share": _percent(details["share"]),
            "low": _percent(details["ci_low"]),
            "high": _percent(details["ci_high"]),
            "n": _number(details["n"]),
            "rest": _percent(details["rest_share"]),
            "rest_n": _number(details["rest_n"]),
            "p": _p_phrase(findings.p_adjusted[0, index], settings.correction),
        }
        flags.append(_flag(DROP_OFF, row, findings, index, evidence, reason))
    return flags


def _low_response_flags(frame: pd.DataFrame, settings: FrictionSettings) -> list[Flag]:
    table = _ordered_units(_prepare(frame, ["unit_id"], ["sent", "answered"], "responses"), ["sent", "answered"])
    findings = low_response_findings(
        table["sent"].to_numpy()[None], table["answered"].to_numpy()[None], settings=settings
    )
    flags = []
    for index in map(int, np.flatnonzero(findings.flagged[0])):
        row = table.iloc[index]
        details = {name: float(values[0, index]) for name, values in findings.details.items()}
        evidence = {
            "response_rate": _round(details["rate"]),
            "ci_low": _round(details["ci_low"]),
            "ci_high": _round(details["ci_high"]),
            "sent": int(details["sent"]),
            "answered": int(details["answered"]),
            "threshold": settings.low_response_threshold,
            **_common_evidence(findings, index, settings, "one-sided exact binomial test vs the threshold"),
        }
        reason = _(
            "Only %(rate)s%% of invitations were answered (%(low)s%% to %(high)s%%, %(answered)s of %(sent)s), "
            "below %(threshold)s%%: the score may not represent the customers who did not answer (%(p)s)."
        ) % {
            "rate": _percent(details["rate"]),
            "low": _percent(details["ci_low"]),
            "high": _percent(details["ci_high"]),
            "answered": _number(details["answered"]),
            "sent": _number(details["sent"]),
            "threshold": _percent(settings.low_response_threshold),
            "p": _p_phrase(findings.p_adjusted[0, index], settings.correction),
        }
        flags.append(_flag(LOW_RESPONSE, row, findings, index, evidence, reason))
    return flags
