"""The metrics: NPS, CSAT, CES, response rate and drop-off, each with its interval and its n.

Pure functions on counts (small pandas DataFrames of ``score, n`` rows, or plain
numbers): no ORM, no I/O, so they are tested exhaustively and reused by the
reports, the friction detection and the simulations in ``bench/``.

Intervals (two-sided, ``confidence`` 95% by default):

- **NPS** (−100…100): the adjusted Wald interval of Rocks (2016): add ¾ to
  promoters and to detractors and 3 to n, then estimate ± z·√(var/n′) with the
  trinomial variance ``p + d − (p − d)²``. The *value* shown is the plain NPS.
- **Shares** (CSAT top-2-box, CES agreeing, response rate, drop-off): Wilson.
- **Means** (CSAT 1–5, CES 1–7): Student's t.

Every figure carries its n. Below ``min_n`` (default :data:`MIN_N`) a figure is
*insufficient data*: its value and interval are still computed where they exist
(for drill-downs), but ``sufficient`` is false, the API shows it as insufficient
and friction detection never flags it. n = 0 is a normal figure with no value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

#: Below this many answers (or invitations, or customers) a figure is "insufficient data".
MIN_N = 30
CONFIDENCE = 0.95
#: Score ranges and the "good" band of each scale.
SCALES: dict[str, tuple[int, int]] = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
CSAT_TOP_BOX = 4  # 4-5 on 1-5
CES_AGREE = 5  # 5-7 on 1-7
PROMOTER, DETRACTOR = 9, 6  # promoters 9-10, detractors 0-6


@dataclass(frozen=True)
class Estimate:
    """A figure with its interval and sample size; ``value`` is ``None`` when n = 0."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    min_n: int = MIN_N

    @property
    def sufficient(self) -> bool:
        return self.n >= self.min_n and self.value is not None

    def as_dict(self) -> dict[str, Any]:
        """The API shape: ``{value, ci_low, ci_high, n}``, or ``{insufficient_data: true, n}``."""
        if not self.sufficient:
            return {"insufficient_data": True, "n": self.n}
        return {
            "value": _round(self.value),
            "ci_low": _round(self.ci_low),
            "ci_high": _round(self.ci_high),
            "n": self.n,
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


def empty(min_n: int = MIN_N) -> Estimate:
    return Estimate(None, None, None, 0, min_n)


# --- Proportions and means ----------------------------------------------------------------


def share(successes: int, n: int, *, confidence: float = CONFIDENCE, min_n: int = MIN_N) -> Estimate:
    """A proportion (0–1) with its Wilson interval."""
    successes, n = int(successes), int(n)
    if n <= 0:
        return empty(min_n)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..n, got {successes} of {n}")
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    value = successes / n
    # Wilson always contains the share; keep it so against floating-point rounding at 0 and 1.
    return Estimate(value, max(0.0, min(float(low), value)), min(1.0, max(float(high), value)), n, min_n)


def mean(counts: Mapping[int, int], *, confidence: float = CONFIDENCE, min_n: int = MIN_N) -> Estimate:
    """The mean of scores given as ``{score: count}``, with Student's t interval (none for n < 2)."""
    scores = np.array([float(s) for s, c in counts.items() if c], dtype=float)
    weights = np.array([float(c) for c in counts.values() if c], dtype=float)
    n = int(weights.sum())
    if n == 0:
        return empty(min_n)
    average = float((scores * weights).sum() / n)
    if n < 2:
        return Estimate(average, None, None, n, min_n)
    variance = float((weights * (scores - average) ** 2).sum() / (n - 1))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1)) * math.sqrt(variance / n)
    return Estimate(average, average - half, average + half, n, min_n)


# --- NPS ------------------------------------------------------------------------------------


def nps(
    promoters: int, passives: int, detractors: int, *, confidence: float = CONFIDENCE, min_n: int = MIN_N
) -> Estimate:
    """NPS = % promoters − % detractors, with the adjusted-Wald interval (clipped to ±100)."""
    promoters, passives, detractors = int(promoters), int(passives), int(detractors)
    if min(promoters, passives, detractors) < 0:
        raise ValueError("counts cannot be negative")
    n = promoters + passives + detractors
    if n == 0:
        return empty(min_n)
    value = 100 * (promoters - detractors) / n
    adjusted_n = n + 3
    p, d = (promoters + 0.75) / adjusted_n, (detractors + 0.75) / adjusted_n
    centre = p - d
    half = _z(confidence) * math.sqrt((p + d - centre**2) / adjusted_n)
    return Estimate(value, max(-100.0, 100 * (centre - half)), min(100.0, 100 * (centre + half)), n, min_n)


# --- From score counts ------------------------------------------------------------------


def score_counts(frame: pd.DataFrame) -> dict[int, int]:
    """``{score: n}`` from a DataFrame with ``score`` and ``n`` columns (repeated scores are summed)."""
    if frame.empty:
        return {}
    grouped = frame.groupby("score")["n"].sum()
    return {int(score): int(count) for score, count in grouped.items() if count}


def nps_from_counts(counts: Mapping[int, int], **kwargs: Any) -> Estimate:
    promoters = sum(c for s, c in counts.items() if s >= PROMOTER)
    detractors = sum(c for s, c in counts.items() if s <= DETRACTOR)
    passives = sum(counts.values()) - promoters - detractors
    return nps(promoters, passives, detractors, **kwargs)


@dataclass(frozen=True)
class Csat:
    top_box: Estimate  # share scoring 4-5
    mean: Estimate


@dataclass(frozen=True)
class Ces:
    mean: Estimate
    agree: Estimate  # share scoring 5-7


def csat_from_counts(counts: Mapping[int, int], **kwargs: Any) -> Csat:
    n = sum(counts.values())
    top = sum(c for s, c in counts.items() if s >= CSAT_TOP_BOX)
    return Csat(top_box=share(top, n, **kwargs), mean=mean(counts, **kwargs))


def ces_from_counts(counts: Mapping[int, int], **kwargs: Any) -> Ces:
    n = sum(counts.values())
    agree = sum(c for s, c in counts.items() if s >= CES_AGREE)
    return Ces(mean=mean(counts, **kwargs), agree=share(agree, n, **kwargs))


def response_rate(sent: int, answered: int, **kwargs: Any) -> Estimate:
    """Answered / sent (Wilson). More answers than invitations sent cannot happen; it is clipped."""
    return share(min(int(answered), int(sent)), int(sent), **kwargs)


def drop_off(reached: int, continued: int, **kwargs: Any) -> Estimate:
    """Of the customers who reached a stage, the share who did *not* reach the next one (Wilson)."""
    return share(int(reached) - min(int(continued), int(reached)), int(reached), **kwargs)


# --- Tables -----------------------------------------------------------------------------


def unit_figures(answers: pd.DataFrame, *, sent: int, answered: int, min_n: int = MIN_N) -> dict[str, Estimate | None]:
    """A unit's scale figures and response rate, from its answer counts ``[question_type, score, n]``.

    ``nps``, ``csat`` (top-2 box), ``csat_mean``, ``ces`` (mean), ``ces_agree`` and
    ``response_rate`` (``answered`` of ``sent``): what every report row shows.
    """
    per_type = {kind: score_counts(part) for kind, part in answers.groupby("question_type")} if len(answers) else {}
    csat = csat_from_counts(per_type.get("csat", {}), min_n=min_n)
    ces = ces_from_counts(per_type.get("ces", {}), min_n=min_n)
    return {
        "nps": nps_from_counts(per_type.get("nps", {}), min_n=min_n),
        "csat": csat.top_box,
        "csat_mean": csat.mean,
        "ces": ces.mean,
        "ces_agree": ces.agree,
        "response_rate": response_rate(sent, answered, min_n=min_n),
    }
