"""Seeded simulations of journeys, for the friction tests and ``bench/bench_friction_accuracy.py``.

Pure numpy generators, plus the issue's reference procedures (SciPy's normal
distribution, and Holm through :func:`analytics.friction.adjust`, which equals
statsmodels' ``multipletests``); no database, no Django settings. Every generator
takes a ``numpy.random.Generator``, so a
seed fixes the result, and returns arrays shaped like the inputs of the
``*_findings`` functions in :mod:`analytics.friction` (``(journeys, units, …)``).

The simulated customers
-----------------------
- A stage at NPS 20 answers 45% promoters, 30% passives, 25% detractors
  (:data:`NPS_20`).
- A stage *g* NPS points worse (:func:`worse`) either moves g/2 points of promoters to
  detractors (``into="detractors"``, the default: 37.5 / 30 / 32.5 for g = 15) or
  moves g points of promoters to passives (``into="passives"``: 30 / 45 / 25). The
  first keeps the passives and widens the spread (NPS variance 0.70 against 0.66),
  so it is the harder case to detect and the closer to the issue's figures for the
  reference (about 60% at n = 300): it is the one the targets are checked on; the
  second is reported beside it.
- A declining stage goes linearly from NPS 20 in the first week to 20 − decline in
  the last, by the same move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from analytics.friction import adjust

Into = Literal["detractors", "passives"]
Counts = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

#: Promoters, passives, detractors of a stage at NPS 20.
NPS_20 = np.array([0.45, 0.30, 0.25])


def worse(points: float | Floats, *, into: Into = "detractors", base: Floats = NPS_20) -> Floats:
    """The composition ``points`` NPS points below ``base`` (broadcasts over an array of points)."""
    gap = np.asarray(points, dtype=float)[..., None] / 100.0
    if into == "detractors":
        shift = np.array([-0.5, 0.0, 0.5])
    elif into == "passives":
        shift = np.array([-1.0, 1.0, 0.0])
    else:
        raise ValueError(f"into must be 'detractors' or 'passives', got {into!r}")
    composition = base + gap * shift
    if (composition < 0).any():
        raise ValueError("the change is larger than the base composition allows")
    return composition


@dataclass(frozen=True)
class Journeys:
    """Current-period counts: ``stages`` ``(J, S, 3)``; ``planted[j]`` the worse stage (−1: none).

    With touchpoints, ``touchpoints`` is ``(J, S·k, 3)``, ``parents[t]`` its stage, and
    each stage's counts are the sum of its touchpoints'.
    """

    stages: Counts
    planted: npt.NDArray[np.int64]
    touchpoints: Counts | None = None
    parents: npt.NDArray[np.int64] | None = None


def journeys(
    rng: np.random.Generator,
    *,
    count: int,
    n_per_stage: int,
    stages: int = 9,
    gap: float = 15.0,
    into: Into = "detractors",
    planted: bool = True,
    touchpoints_per_stage: int = 0,
    plant: Literal["stage", "touchpoint"] = "stage",
) -> Journeys:
    """``count`` journeys of ``stages`` stages at NPS 20, one of them (at random) ``gap`` points worse.

    ``planted=False`` gives null journeys. With ``touchpoints_per_stage = k`` every stage
    is k touchpoints of ``n_per_stage // k`` answers; ``plant="touchpoint"`` makes only
    the first touchpoint of the planted stage worse (the stage then ``gap / k`` worse).
    """
    which = rng.integers(0, stages, size=count) if planted else np.full(count, -1)
    k = max(touchpoints_per_stage, 1)
    probabilities = np.broadcast_to(NPS_20, (count, stages, k, 3)).copy()
    rows = np.flatnonzero(which >= 0)
    if rows.size:
        columns = slice(None) if plant == "stage" else slice(0, 1)
        probabilities[rows, which[rows], columns] = worse(gap, into=into)
    per_unit = n_per_stage // k if touchpoints_per_stage else n_per_stage
    draws = rng.multinomial(per_unit, probabilities)  # (J, S, k, 3)
    if not touchpoints_per_stage:
        return Journeys(stages=draws[:, :, 0], planted=which)
    return Journeys(
        stages=draws.sum(axis=2),
        planted=which,
        touchpoints=draws.reshape(count, stages * k, 3),
        parents=np.repeat(np.arange(stages), k),
    )


@dataclass(frozen=True)
class Weekly:
    """Weekly counts ``(J, S, W, 3)`` for weeks ``0 … W−1``; ``planted[j]`` the declining stage (−1: none)."""

    counts: Counts
    weeks: npt.NDArray[np.int64]
    planted: npt.NDArray[np.int64]


def weekly_journeys(
    rng: np.random.Generator,
    *,
    count: int,
    n_per_stage: int = 3000,
    stages: int = 9,
    weeks: int = 8,
    decline: float = 20.0,
    into: Into = "detractors",
    planted: bool = True,
) -> Weekly:
    """Journeys over ``weeks`` weeks, ``n_per_stage`` answers per stage spread evenly over the weeks.

    Every stage stays at NPS 20, except (``planted=True``) one per journey whose NPS
    falls linearly by ``decline`` points from the first week to the last.
    """
    which = rng.integers(0, stages, size=count) if planted else np.full(count, -1)
    probabilities = np.broadcast_to(NPS_20, (count, stages, weeks, 3)).copy()
    rows = np.flatnonzero(which >= 0)
    if rows.size:
        probabilities[rows, which[rows]] = worse(np.linspace(0.0, decline, weeks), into=into)
    draws = rng.multinomial(n_per_stage // weeks, probabilities)
    return Weekly(counts=draws, weeks=np.arange(weeks), planted=which)


def ces_shares(mean: float) -> Floats:
    """Shares of the CES scores 1–7 with the given mean: the maximum-entropy (exponentially tilted) shape."""
    scores = np.arange(1, 8, dtype=float)
    low, high = -20.0, 20.0
    for _step in range(200):
        tilt = (low + high) / 2
        weights = np.exp(tilt * (scores - 4))
        if (weights * scores).sum() / weights.sum() < mean:
            low = tilt
        else:
            high = tilt
    weights = np.exp((low + high) / 2 * (scores - 4))
    return weights / weights.sum()


def ces_counts(rng: np.random.Generator, *, count: int, units: int, n: int, mean: float) -> Counts:
    """CES answers ``(J, units, 7)`` of ``n`` customers per unit with the given true mean."""
    return rng.multinomial(n, np.broadcast_to(ces_shares(mean), (count, units, 7)))


def response_counts(
    rng: np.random.Generator, *, count: int, units: int, sent: int, rate: float
) -> tuple[Counts, Counts]:
    """``(sent, answered)``, both ``(J, units)``: ``sent`` invitations per unit answered at ``rate``."""
    invitations = np.full((count, units), sent, dtype=np.int64)
    return invitations, rng.binomial(invitations, rate)


def funnel_counts(
    rng: np.random.Generator, *, count: int, stages: int, customers: int, drop_off: float | Floats
) -> tuple[Counts, Counts]:
    """``(reached, continued)``, both ``(J, stages − 1)``: a funnel of ``customers`` and per-transition drop-off."""
    rates = np.broadcast_to(np.asarray(drop_off, dtype=float), (stages - 1,))
    reached = np.zeros((count, stages - 1), dtype=np.int64)
    continued = np.zeros_like(reached)
    current = np.full(count, customers, dtype=np.int64)
    for transition in range(stages - 1):
        reached[:, transition] = current
        current = rng.binomial(current, 1.0 - rates[transition])
        continued[:, transition] = current
    return reached, continued


# --- The reference procedures --------------------------------------------------------------


def _holm_rows(p_values: Floats, alpha: float) -> Bools:
    """Holm within each row (journey); :func:`analytics.friction.adjust` equals ``multipletests``, only faster."""
    return adjust(p_values, np.isfinite(p_values), method="holm", alpha=alpha)[0]


def reference_below_flags(stages: npt.ArrayLike, *, alpha: float = 0.05) -> Bools:
    """The issue's reference: each stage's NPS against the rest of its journey.

    Two-sample z test with the NPS variance ``p + d − (p − d)²`` of each sample
    (unpooled), two-sided, Holm-corrected within the journey; a flag is a rejection
    where the stage is below the rest. ``stages`` is ``(J, S, 3)``; returns ``(J, S)``.
    """
    counts = np.asarray(stages, dtype=float)
    rest = counts.sum(axis=1, keepdims=True) - counts
    n, rest_n = counts.sum(axis=-1), rest.sum(axis=-1)
    p, d = counts[..., 0] / n, counts[..., 2] / n
    rest_p, rest_d = rest[..., 0] / rest_n, rest[..., 2] / rest_n
    variance = (p + d - (p - d) ** 2) / n + (rest_p + rest_d - (rest_p - rest_d) ** 2) / rest_n
    z = ((p - d) - (rest_p - rest_d)) / np.sqrt(variance)
    return _holm_rows(2 * stats.norm.sf(np.abs(z)), alpha) & (z < 0)


def reference_declining_flags(weekly: npt.ArrayLike, weeks: npt.ArrayLike, *, alpha: float = 0.05) -> Bools:
    """The issue's reference for a decline: a one-sided slope test, Holm across the stages.

    Weighted least squares of the weekly NPS on the week with weights ``n_w / v_w``
    (each week's own NPS variance ``p + d − (p − d)²``), z = slope / se, one-sided.
    ``weekly`` is ``(J, S, W, 3)``; returns ``(J, S)``.
    """
    counts = np.asarray(weekly, dtype=float)
    x = np.asarray(weeks, dtype=float)
    n = counts.sum(axis=-1)
    p, d = counts[..., 0] / n, counts[..., 2] / n
    y = p - d
    weight = n / (p + d - y**2)
    centre = (weight * x).sum(axis=-1, keepdims=True) / weight.sum(axis=-1, keepdims=True)
    sxx = (weight * (x - centre) ** 2).sum(axis=-1)
    slope = (weight * (x - centre) * y).sum(axis=-1) / sxx
    z = slope * np.sqrt(sxx)
    return _holm_rows(stats.norm.cdf(z), alpha) & (z < 0)
