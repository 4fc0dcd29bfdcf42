"""The DataFrame entry point: :func:`detect` turns one journey's count tables into flags.

Each table (see :mod:`analytics.friction` for the columns) is checked, summed per
unit and put in journey order, passed to its kind's ``*_findings`` function as a
batch of one journey, and every flagged unit becomes a :class:`Flag` with its
evidence and a reason in the active language.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from analytics import metrics
from analytics.friction.findings import (
    Findings,
    below_journey_findings,
    declining_findings,
    detractor_spike_findings,
    drop_off_findings,
    high_effort_findings,
    low_response_findings,
)
from analytics.friction.flags import (
    Flag,
    common_evidence,
    format_number,
    format_percent,
    make_flag,
    p_phrase,
    round_finite,
)
from analytics.friction.settings import (
    BELOW_JOURNEY,
    DECLINING,
    DETRACTOR_SPIKE,
    DROP_OFF,
    HIGH_EFFORT,
    KINDS,
    LEVELS,
    LOW_RESPONSE,
    NPS_COUNTS,
    STAGE,
    TOUCHPOINT,
    FrictionSettings,
)


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


def _flagged(findings: Findings, table: pd.DataFrame) -> Iterator[tuple[int, pd.Series, dict[str, float]]]:
    """Each flagged unit of a one-journey batch: its index, its row of ``table`` and its details as floats."""
    for index in map(int, np.flatnonzero(findings.flagged[0])):
        yield index, table.iloc[index], {name: float(values[0, index]) for name, values in findings.details.items()}


def _below_journey_flags(frame: pd.DataFrame, settings: FrictionSettings) -> list[Flag]:
    table = _ordered_units(_prepare(frame, ["unit_id"], NPS_COUNTS, "units"), NPS_COUNTS)
    stages = table[table["level"] == STAGE].reset_index(drop=True)
    touchpoints = table[table["level"] == TOUCHPOINT].reset_index(drop=True)
    parents = _parents(stages, touchpoints)
    findings = below_journey_findings(
        stages[NPS_COUNTS].to_numpy()[None],
        touchpoints[NPS_COUNTS].to_numpy()[None],
        parents,
        settings=settings,
    )
    ordered = pd.concat([stages, touchpoints], ignore_index=True)
    flags = []
    for index, row, details in _flagged(findings, ordered):
        estimate = metrics.nps(*(int(row[column]) for column in NPS_COUNTS), min_n=settings.min_n)
        evidence = {
            "nps": round_finite(estimate.value, 2),
            "ci_low": round_finite(estimate.ci_low, 2),
            "ci_high": round_finite(estimate.ci_high, 2),
            "n": estimate.n,
            "rest_nps": round_finite(details["rest_nps"], 2),
            "rest_n": int(details["rest_n"]),
            "gap": round_finite(findings.effect[0, index], 2),
            **common_evidence(findings, index, settings, "one-sided multinomial likelihood ratio, NPS vs rest"),
        }
        reason = _(
            "NPS %(value)s (%(low)s to %(high)s, n = %(n)s) is significantly below the rest of the journey "
            "(NPS %(rest)s, n = %(rest_n)s; %(p)s)."
        ) % {
            "value": format_number(estimate.value or 0.0),
            "low": format_number(estimate.ci_low or 0.0),
            "high": format_number(estimate.ci_high or 0.0),
            "n": format_number(estimate.n),
            "rest": format_number(details["rest_nps"]),
            "rest_n": format_number(details["rest_n"]),
            "p": p_phrase(findings.p_adjusted[0, index], settings.correction),
        }
        flags.append(make_flag(BELOW_JOURNEY, row, findings, index, evidence, reason))
    return flags


def _parents(stages: pd.DataFrame, touchpoints: pd.DataFrame) -> list[int]:
    """Each touchpoint's stage as an index into ``stages`` (−1: unknown), from the optional ``stage_id`` column."""
    if "stage_id" not in touchpoints.columns:
        return [-1] * len(touchpoints)
    stage_index = {unit_id: k for k, unit_id in enumerate(stages["unit_id"])}
    return [stage_index.get(stage_id, -1) if pd.notna(stage_id) else -1 for stage_id in touchpoints["stage_id"]]


def _weekly_flags(frame: pd.DataFrame, settings: FrictionSettings) -> list[Flag]:
    """Declining and detractor-spike flags from the weekly counts (stages, then touchpoints within found stages)."""
    prepared = _prepare(frame, ["unit_id", "week"], NPS_COUNTS, "weekly")
    weeks = np.sort(prepared["week"].astype("int64").unique())
    table = _ordered_units(prepared, NPS_COUNTS)  # stages first, then touchpoints
    parents = _parents(table[table["level"] == STAGE], table[table["level"] == TOUCHPOINT]) or None
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
    declining = declining_findings(cube, weeks, settings=settings, parents=parents)
    for index, row, details in _flagged(declining, table):
        weeks_shown = int(round(details["span"])) + 1
        evidence = {
            "slope_per_week": round_finite(details["slope"], 3),
            "first": round_finite(details["first"], 2),
            "last": round_finite(details["last"], 2),
            "decline": round_finite(declining.effect[0, index], 2),
            "weeks": int(details["weeks"]),
            "n": int(details["n"]),
            **common_evidence(declining, index, settings, "one-sided weighted least-squares slope of weekly NPS"),
        }
        reason = ngettext(
            "NPS is declining: its trend fell from %(first)s to %(last)s over %(weeks)s week "
            "(%(slope)s points a week, n = %(n)s; %(p)s).",
            "NPS is declining: its trend fell from %(first)s to %(last)s over %(weeks)s weeks "
            "(%(slope)s points a week, n = %(n)s; %(p)s).",
            weeks_shown,
        ) % {
            "first": format_number(details["first"]),
            "last": format_number(details["last"]),
            "weeks": format_number(weeks_shown),
            "slope": format_number(details["slope"], 1),
            "n": format_number(details["n"]),
            "p": p_phrase(declining.p_adjusted[0, index], settings.correction),
        }
        flags.append(make_flag(DECLINING, row, declining, index, evidence, reason))
    spike = detractor_spike_findings(cube, settings=settings, parents=parents)
    for index, row, details in _flagged(spike, table):
        evidence = {
            "week": int(weeks[-1]),
            "detractor_share": round_finite(details["share"]),
            "n": int(details["n"]),
            "before_share": round_finite(details["before_share"]),
            "before_n": int(details["before_n"]),
            "rise": round_finite(spike.effect[0, index]),
            **common_evidence(spike, index, settings, "one-sided Fisher exact test, last week vs earlier weeks"),
        }
        reason = _(
            "Detractors rose to %(share)s%% of answers in the last week (n = %(n)s) from %(before)s%% "
            "in the weeks before (n = %(before_n)s; %(p)s)."
        ) % {
            "share": format_percent(details["share"]),
            "n": format_number(details["n"]),
            "before": format_percent(details["before_share"]),
            "before_n": format_number(details["before_n"]),
            "p": p_phrase(spike.p_adjusted[0, index], settings.correction),
        }
        flags.append(make_flag(DETRACTOR_SPIKE, row, spike, index, evidence, reason))
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
    for index, row, details in _flagged(findings, table):
        evidence = {
            "ces": round_finite(details["mean"]),
            "ci_low": round_finite(details["ci_low"]),
            "ci_high": round_finite(details["ci_high"]),
            "n": int(details["n"]),
            "threshold": settings.ces_threshold,
            **common_evidence(findings, index, settings, "one-sided t test of the CES mean vs the threshold"),
        }
        reason = _(
            "Customer effort score %(value)s (%(low)s to %(high)s, n = %(n)s) is entirely below the threshold "
            "of %(threshold)s: customers find this hard (%(p)s)."
        ) % {
            "value": format_number(details["mean"], 1),
            "low": format_number(details["ci_low"], 1),
            "high": format_number(details["ci_high"], 1),
            "n": format_number(details["n"]),
            "threshold": format_number(settings.ces_threshold, 1),
            "p": p_phrase(findings.p_adjusted[0, index], settings.correction),
        }
        flags.append(make_flag(HIGH_EFFORT, row, findings, index, evidence, reason))
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
    for index, row, details in _flagged(findings, table):
        evidence = {
            "drop_off": round_finite(details["share"]),
            "ci_low": round_finite(details["ci_low"]),
            "ci_high": round_finite(details["ci_high"]),
            "n": int(details["n"]),
            "rest_drop_off": round_finite(details["rest_share"]),
            "rest_n": int(details["rest_n"]),
            "excess": round_finite(findings.effect[0, index]),
            **common_evidence(findings, index, settings, "one-sided Fisher exact test vs the other transitions"),
        }
        reason = _(
            "%(share)s%% of the customers who reached this stage did not reach the next one (%(low)s%% to "
            "%(high)s%%, n = %(n)s), significantly more than the journey's typical %(rest)s%% "
            "(n = %(rest_n)s; %(p)s)."
        ) % {
            "share": format_percent(details["share"]),
            "low": format_percent(details["ci_low"]),
            "high": format_percent(details["ci_high"]),
            "n": format_number(details["n"]),
            "rest": format_percent(details["rest_share"]),
            "rest_n": format_number(details["rest_n"]),
            "p": p_phrase(findings.p_adjusted[0, index], settings.correction),
        }
        flags.append(make_flag(DROP_OFF, row, findings, index, evidence, reason))
    return flags


def _low_response_flags(frame: pd.DataFrame, settings: FrictionSettings) -> list[Flag]:
    table = _ordered_units(_prepare(frame, ["unit_id"], ["sent", "answered"], "responses"), ["sent", "answered"])
    findings = low_response_findings(
        table["sent"].to_numpy()[None], table["answered"].to_numpy()[None], settings=settings
    )
    flags = []
    for index, row, details in _flagged(findings, table):
        evidence = {
            "response_rate": round_finite(details["rate"]),
            "ci_low": round_finite(details["ci_low"]),
            "ci_high": round_finite(details["ci_high"]),
            "sent": int(details["sent"]),
            "answered": int(details["answered"]),
            "threshold": settings.low_response_threshold,
            **common_evidence(findings, index, settings, "one-sided exact binomial test vs the threshold"),
        }
        reason = _(
            "Only %(rate)s%% of invitations were answered (%(low)s%% to %(high)s%%, %(answered)s of %(sent)s), "
            "below %(threshold)s%%: the score may not represent the customers who did not answer (%(p)s)."
        ) % {
            "rate": format_percent(details["rate"]),
            "low": format_percent(details["ci_low"]),
            "high": format_percent(details["ci_high"]),
            "answered": format_number(details["answered"]),
            "sent": format_number(details["sent"]),
            "threshold": format_percent(settings.low_response_threshold),
            "p": p_phrase(findings.p_adjusted[0, index], settings.correction),
        }
        flags.append(make_flag(LOW_RESPONSE, row, findings, index, evidence, reason))
    return flags
