"""Drivers of a stage's gap (issue 6): which touchpoints, channels or personas make it up.

Pure functions on the count tables of the aggregation layer (no ORM), like
:mod:`analytics.metrics`. :func:`breakdown` takes the NPS answers of **one stage**
split by one dimension and the journey's reference NPS, and returns each value's
contribution to the stage's gap, largest first.

Input
-----
Either shape, filtered to the stage (extra columns are ignored):

- ``[dimension, promoters, passives, detractors]``, or
- ``[dimension, question_type, score, n]`` as
  ``analytics.aggregation.answer_counts(by=[..., dimension])`` returns it; only
  ``question_type == "nps"`` rows count (0–6 detractor, 7–8 passive, 9–10 promoter).

Rows of the same value are summed. The dimension must *partition* the stage's
answers (each answer has one touchpoint, one invitation channel, one persona, ``""``
for none), otherwise the decomposition below does not hold. Negative counts and NPS
scores outside 0–10 raise ``ValueError``.

The decomposition
-----------------
Write the stage's N answers as values v with nᵥ answers, Pᵥ promoters, Dᵥ
detractors, and NPSᵥ = 100·(Pᵥ − Dᵥ)/nᵥ. The NPS is the mean of per-answer scores
(+100 a promoter, 0 a passive, −100 a detractor), so the stage's NPS is the
answer-weighted mean of its values' NPS::

    NPS_stage = Σᵥ sᵥ · NPSᵥ,        sᵥ = nᵥ / N   (the value's *share* of the stage's answers; Σᵥ sᵥ = 1)

With R the reference NPS (the rest of the journey: ``rest_nps`` in the evidence of
a ``below_journey`` flag), the stage's **gap** G = R − NPS_stage (positive when the
stage is below, as in :mod:`analytics.friction`) splits exactly::

    G = Σᵥ sᵥ · (R − NPSᵥ) = Σᵥ sᵥ · gᵥ = Σᵥ cᵥ,        gᵥ = R − NPSᵥ,   cᵥ = sᵥ · gᵥ

The **contribution** cᵥ is the number of NPS points of the stage's gap that v
accounts for; it is also how much the gap would shrink if v scored like the
reference. It is positive for a value below the reference (it pulls the stage
down) and negative for one above it (it holds the stage up); it weighs how much
worse a value is (gᵥ) by how much of the stage it is (sᵥ), so a slightly worse
touchpoint with most of the answers can outrank a much worse but small one.

The issue phrases it as "share of detractors × score gap". Each value's
``detractor_share`` (Dᵥ / D_stage: where the unhappy customers are) is reported,
but weighting the gaps by it does not add up to the stage's gap (Σᵥ (Dᵥ / D)·gᵥ ≠ G
in general), so contributions use the share of answers.

Sufficiency and order
---------------------
A value with fewer than ``min_n`` answers is *insufficient data* (as in
:mod:`analytics.metrics`): it is kept, because its answers are part of the stage
and its contribution part of the sum, but ``is_sufficient`` is false and it comes
after every sufficient value, so a small value with an extreme NPS never heads the
list. Within each group, values are ordered by contribution, largest first (ties
in the dimension's sorted order). A value with no NPS answers has share 0,
contribution 0 and no NPS or gap. A stage with no answers has no NPS and no gap,
and every contribution is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics import metrics

NPS_COUNTS = ("promoters", "passives", "detractors")
_ANSWER_COLUMNS = ("question_type", "score", "n")


@dataclass(frozen=True)
class Driver:
    """One value of the dimension within the stage; see the module docstring for the figures."""

    value: Any
    nps: metrics.Estimate
    share: float  # of the stage's answers, 0–1
    detractors: int
    detractor_share: float | None  # of the stage's detractors, 0–1; None when the stage has none
    gap: float | None  # reference − NPS, in NPS points; None when n = 0
    contribution: float  # share × gap, in NPS points of the stage's gap

    @property
    def n(self) -> int:
        return self.nps.n

    @property
    def is_sufficient(self) -> bool:
        return self.nps.sufficient

    def as_dict(self) -> dict[str, Any]:
        """The API shape; an insufficient value shows no NPS and no gap (as :meth:`metrics.Estimate.as_dict`)."""
        return {
            "value": self.value,
            "n": self.n,
            "is_sufficient": self.is_sufficient,
            "share": _round(self.share),
            "detractors": self.detractors,
            "detractor_share": _round(self.detractor_share),
            "nps": self.nps.as_dict(),
            "gap": _round(self.gap) if self.is_sufficient else None,
            "contribution": _round(self.contribution),
        }


@dataclass(frozen=True)
class Breakdown:
    """A stage's gap to the reference and its drivers, in order (sufficient first, then by contribution)."""

    dimension: str
    reference_nps: float
    stage: metrics.Estimate  # the stage's NPS over all values
    gap: float | None  # reference − stage NPS; None when the stage has no answers
    drivers: tuple[Driver, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "reference_nps": _round(self.reference_nps),
            "stage": self.stage.as_dict(),
            "gap": _round(self.gap),
            "drivers": [driver.as_dict() for driver in self.drivers],
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _python(value: Any) -> Any:
    """A plain Python value (JSON-friendly): numpy scalars unwrapped, NaN as ``None``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def nps_counts(frame: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """``[dimension, promoters, passives, detractors]`` per value, from either input shape (module docstring).

    One row per value, sorted by value (a missing value, NaN, is kept as a group).
    """
    if dimension not in frame.columns:
        raise ValueError(f"the counts need the column {dimension!r}")
    if set(NPS_COUNTS) <= set(frame.columns):
        table = frame[[dimension, *NPS_COUNTS]].copy()
    elif set(_ANSWER_COLUMNS) <= set(frame.columns):
        answers = frame[frame["question_type"] == "nps"]
        scores = answers["score"].astype("int64").to_numpy()
        if not ((scores >= 0) & (scores <= 10)).all():
            raise ValueError("NPS scores must lie in 0..10")
        n = answers["n"].fillna(0).to_numpy()
        table = pd.DataFrame(
            {
                dimension: answers[dimension].to_numpy(),
                "promoters": np.where(scores >= metrics.PROMOTER, n, 0),
                "passives": np.where((scores > metrics.DETRACTOR) & (scores < metrics.PROMOTER), n, 0),
                "detractors": np.where(scores <= metrics.DETRACTOR, n, 0),
            }
        )
    else:
        raise ValueError(f"the counts need the columns {list(NPS_COUNTS)} or {list(_ANSWER_COLUMNS)}")
    counts = table[list(NPS_COUNTS)].fillna(0)
    if (counts < 0).to_numpy().any():
        raise ValueError("counts cannot be negative")
    table[list(NPS_COUNTS)] = counts.astype("int64")
    if table.empty:
        empty = {dimension: pd.Series(dtype=frame[dimension].dtype)}
        return pd.DataFrame({**empty, **{column: pd.Series(dtype="int64") for column in NPS_COUNTS}})
    return table.groupby(dimension, sort=True, dropna=False, as_index=False)[list(NPS_COUNTS)].sum()


def breakdown(
    frame: pd.DataFrame,
    *,
    dimension: str,
    reference_nps: float,
    min_n: int = metrics.MIN_N,
    confidence: float = metrics.CONFIDENCE,
) -> Breakdown:
    """Each value's share, NPS (adjusted-Wald interval), gap and contribution to the stage's gap.

    ``frame`` holds the NPS answers of one stage by ``dimension`` (either shape of
    the module docstring); ``reference_nps`` is the journey's reference NPS on
    −100…100 (the rest of the journey). The contributions sum to ``gap``, the
    stage's gap (the module docstring derives it). Values with fewer than
    ``min_n`` answers are kept but marked and placed after the sufficient ones.
    """
    reference = float(reference_nps)
    if not -100.0 <= reference <= 100.0:  # also rejects NaN
        raise ValueError(f"reference_nps must lie in −100..100, got {reference_nps}")
    table = nps_counts(frame, dimension)
    promoters, passives, detractors = (int(table[column].sum()) for column in NPS_COUNTS)
    stage = metrics.nps(promoters, passives, detractors, confidence=confidence, min_n=min_n)
    drivers = []
    for value, value_promoters, value_passives, value_detractors in zip(
        table[dimension], table["promoters"], table["passives"], table["detractors"], strict=True
    ):
        estimate = metrics.nps(value_promoters, value_passives, value_detractors, confidence=confidence, min_n=min_n)
        share = estimate.n / stage.n if stage.n else 0.0
        gap = None if estimate.value is None else reference - estimate.value
        drivers.append(
            Driver(
                value=_python(value),
                nps=estimate,
                share=share,
                detractors=int(value_detractors),
                detractor_share=int(value_detractors) / detractors if detractors else None,
                gap=gap,
                contribution=0.0 if gap is None else share * gap,
            )
        )
    # Stable: ties keep the sorted order of the values.
    ordered = sorted(drivers, key=lambda driver: (not driver.is_sufficient, -driver.contribution))
    return Breakdown(
        dimension=dimension,
        reference_nps=reference,
        stage=stage,
        gap=None if stage.value is None else reference - stage.value,
        drivers=tuple(ordered),
    )
