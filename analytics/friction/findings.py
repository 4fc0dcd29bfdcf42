"""The six kinds of friction on batches of journeys: one ``*_findings`` function per kind.

Each takes count arrays shaped ``(journeys, units, …)`` and returns :class:`Findings`
(tested, statistic, raw and corrected p-values, flagged, effect). :func:`detect
<analytics.friction.detection.detect>` runs them on a batch of one; the simulations in
``bench/`` run them on thousands of journeys, so they measure the code that flags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analytics import metrics
from analytics.friction.correction import adjust, hierarchy
from analytics.friction.settings import CES_SCORES, Bools, Floats, FrictionSettings, Ints
from analytics.friction.significance import nps_below_test, nps_trend, share_above_test


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


def _finish(
    kind_p: Floats, tested: Bools, settings: FrictionSettings, family_of: Callable[[int], Any] | None = None
) -> tuple[Bools, Floats]:
    return adjust(kind_p, tested, method=settings.correction, alpha=settings.alpha, family_of=family_of)


def _graph(
    settings: FrictionSettings, parents: Sequence[int] | None, n_units: int, tested: Bools
) -> Callable[[int], Any] | None:
    """The graphical Holm family of stages and their touchpoints, or ``None`` for a flat family.

    Units are the stages followed by the touchpoints, ``parents[t]`` the stage index
    of touchpoint t (−1: none); see :func:`analytics.friction.correction.hierarchy`.
    A touchpoint is only worth testing once its stage is found, so a journey's many
    touchpoints do not dilute the stages' first test (the package docstring says what
    a second bad stage pays). Benjamini–Hochberg keeps one flat family.
    """
    if not parents or settings.correction != "holm":
        return None
    n_stages = n_units - len(parents)
    return lambda row: hierarchy(list(parents), n_stages, tested[row])


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

    rejected, adjusted = _finish(p_value, tested, settings, _graph(settings, parent_index, units.shape[1], tested))
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


def declining_findings(
    weekly: npt.ArrayLike,
    weeks: npt.ArrayLike,
    *,
    settings: FrictionSettings,
    parents: Sequence[int] | None = None,
) -> Findings:
    """Each unit's weekly NPS trend, one-sided for a decline (kind 2); ``weekly`` is ``(journeys, units, weeks, 3)``.

    With ``parents`` (one per touchpoint), the units are the stages followed by the
    touchpoints and the family is graphical (see :func:`_graph`).
    """
    trend = nps_trend(weekly, weeks)
    tested = (trend["weeks"] >= settings.min_weeks) & (trend["n"] >= settings.min_n) & np.isfinite(trend["z"])
    n_units = np.asarray(weekly).shape[1]
    rejected, adjusted = _finish(trend["p"], tested, settings, _graph(settings, parents, n_units, tested))
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


def detractor_spike_findings(
    weekly: npt.ArrayLike, *, settings: FrictionSettings, parents: Sequence[int] | None = None
) -> Findings:
    """The last week's detractor share against the earlier weeks' (kind 6); ``(journeys, units, weeks, 3)``.

    ``parents`` as in :func:`declining_findings`.
    """
    counts = np.asarray(weekly, dtype=float)
    last, before = counts[..., -1, :], counts[..., :-1, :].sum(axis=-2)
    n_last, n_before = last.sum(axis=-1), before.sum(axis=-1)
    tested = (n_last >= settings.min_n) & (n_before >= settings.min_n)
    z, p = share_above_test(last[..., 2], n_last, before[..., 2], n_before)
    rejected, adjusted = _finish(p, tested, settings, _graph(settings, parents, counts.shape[1], tested))
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
