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
- ``weekly`` — the report's weeks per unit: ``unit_id, [level], [stage_id], week, promoters, passives,
  detractors``, ``week`` an integer, 0 = oldest (a week without answers is simply absent). The
  latest week in the table is the report's last week. ``stage_id`` is a touchpoint's stage.
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
   touchpoints by α (strong control), and the first stage found costs nothing: each
   stage is tested at the share it has in stage-only Holm. The prices: once a stage
   is found, its share goes to its touchpoints rather than back to the other stages,
   so a *second* bad stage needs stronger evidence than under stage-only Holm
   (unless the first stage's touchpoints are found too, which passes the share on);
   and a touchpoint is tested only inside a stage that is itself flagged, so a bad
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
   from the first to the last week with answers. Touchpoints are tested as in kind
   1, in the graph under their stage: a declining touchpoint is named once its
   stage is found declining (the stages' first test is not diluted by them; the
   price for a second declining stage is as in kind 1).
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
   Effect: the rise in percentage points. Touchpoints as for ``declining``.

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

Modules
-------
- :mod:`~analytics.friction.settings` — kinds, levels, severity bands, :class:`FrictionSettings`.
- :mod:`~analytics.friction.significance` — the tests on counts: :func:`nps_below_test`,
  :func:`share_above_test`, :func:`nps_trend`.
- :mod:`~analytics.friction.correction` — :func:`adjust` (Holm, Benjamini–Hochberg),
  :func:`graph_adjusted` and :func:`hierarchy` (the graphical procedure).
- :mod:`~analytics.friction.findings` — :class:`Findings` and the six ``*_findings`` functions.
- :mod:`~analytics.friction.flags` — :class:`Flag`, :func:`severity`, the wording of evidence.
- :mod:`~analytics.friction.detection` — :func:`detect`, from the DataFrames to flags.

Everything public is importable from the package itself (``friction.detect``,
``friction.Flag``, ``friction.adjust``, …).
"""

from __future__ import annotations

from analytics.friction.correction import adjust, graph_adjusted, hierarchy
from analytics.friction.detection import detect
from analytics.friction.findings import (
    Findings,
    below_journey_findings,
    declining_findings,
    detractor_spike_findings,
    drop_off_findings,
    high_effort_findings,
    low_response_findings,
)
from analytics.friction.flags import Flag, severity
from analytics.friction.settings import (
    BELOW_JOURNEY,
    CES_SCORES,
    CORRECTIONS,
    DECLINING,
    DETRACTOR_SPIKE,
    DROP_OFF,
    HIGH,
    HIGH_EFFORT,
    KIND_LABELS,
    KINDS,
    LEVELS,
    LOW,
    LOW_RESPONSE,
    MEDIUM,
    NPS_COUNTS,
    SEVERITY_BANDS,
    SEVERITY_LABELS,
    STAGE,
    STRONG_EVIDENCE,
    TOUCHPOINT,
    Bools,
    Floats,
    FrictionSettings,
    Ints,
)
from analytics.friction.significance import nps_below_test, nps_trend, share_above_test

__all__ = [
    "BELOW_JOURNEY",
    "CES_SCORES",
    "CORRECTIONS",
    "DECLINING",
    "DETRACTOR_SPIKE",
    "DROP_OFF",
    "HIGH",
    "HIGH_EFFORT",
    "KINDS",
    "KIND_LABELS",
    "SEVERITY_LABELS",
    "LEVELS",
    "LOW",
    "LOW_RESPONSE",
    "MEDIUM",
    "NPS_COUNTS",
    "SEVERITY_BANDS",
    "STAGE",
    "STRONG_EVIDENCE",
    "TOUCHPOINT",
    "Bools",
    "Findings",
    "Flag",
    "Floats",
    "FrictionSettings",
    "Ints",
    "adjust",
    "below_journey_findings",
    "declining_findings",
    "detect",
    "detractor_spike_findings",
    "drop_off_findings",
    "graph_adjusted",
    "hierarchy",
    "high_effort_findings",
    "low_response_findings",
    "nps_below_test",
    "nps_trend",
    "severity",
    "share_above_test",
]
