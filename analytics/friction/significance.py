"""The statistical tests on counts, vectorised: NPS likelihood ratio, share test, NPS trend.

:func:`nps_below_test` (signed-root multinomial likelihood ratio of two NPS values),
:func:`share_above_test` (Fisher's exact one-sided test with the two-proportion z)
and :func:`nps_trend` (weighted least-squares slope of the weekly NPS). They take
arrays of any leading shape and know nothing of journeys, settings or corrections.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.optimize.elementwise import find_root

from analytics.friction.settings import Floats

_EDGE = 1e-9  # keeps θ inside (−1, 1), where every log-likelihood is finite


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
    """d/dθ of the two trinomials' profile log-likelihood (the constraint's Lagrange multiplier).

    The profile is concave in θ, and smooth except at θ = 0 for a side with passives
    only: there both π_P and π_D meet 0, the multiplier is anywhere in ±n_A and this
    returns the right-hand slope (the detractor edge). Either way it is a supergradient,
    so its sign says on which side of θ the maximum lies.
    """
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


def _common_nps(low: Floats, high: Floats, counts: tuple[Floats, ...]) -> Floats:
    """The constrained fit's common θ: the maximum of the concave profile on [low, high].

    Where the profile's slope changes sign it is the root, found by SciPy's bracketing
    root finder; where it does not, the maximum is the end the profile falls from
    (slope ≤ 0 at ``low``) or rises to (slope ≥ 0 at ``high``). That happens only when
    a side with passives only puts its kink at θ = 0 on an end of the bracket; a kink
    at ``high`` shows as a sign change (the slope there is the right-hand one), and the
    root finder closes in on it.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        falls = _profile_slope(low, *counts) <= 0
        rises = _profile_slope(high, *counts) >= 0
        theta = np.where(falls, low, high)
        bracketed = ~(falls | rises)
        if bracketed.any():
            args = tuple(column[bracketed] for column in counts)
            theta[bracketed] = find_root(_profile_slope, (low[bracketed], high[bracketed]), args=args).x
    return theta


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
            theta[open_] = _common_nps(low[open_], high[open_], tuple(column[open_] for column in (*first, *second)))
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
    (within weeks). See :mod:`analytics.friction` for the weights.
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
