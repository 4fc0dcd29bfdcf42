"""The journey report: every stage and touchpoint with its scores, rates, drop-off and friction flags.

One service, :func:`journey_report`, used by the API, the dashboard pages and the
CSV export alike, so they always agree. It asks :mod:`analytics.aggregation` for
counts (SQL, a fixed number of queries), hands them to the pure functions of
:mod:`analytics.metrics` and :mod:`analytics.friction`, and returns plain
dataclasses; nothing here touches a raw answer row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd
from django.utils import timezone
from django.utils.translation import gettext as _

from analytics import drivers, friction, metrics
from analytics.aggregation import (
    ReportFilters,
    answer_counts,
    invitation_counts,
    journey_stages,
    journey_touchpoints,
    stage_reach,
)
from analytics.metrics import Estimate
from analytics.report_settings import friction_settings
from config.errors import ApplicationError
from surveys.models import Survey
from surveys.precision import RESPONSE_WINDOW
from touchpoints.models import Journey, Workspace

#: The figures of a unit, in the order the API and the CSV list them.
FIGURES = ("nps", "csat", "csat_mean", "ces", "ces_agree", "response_rate", "drop_off")
#: The longest period one report may cover.
PERIOD_MAX_DAYS = 731
#: The days a report may name: none before this one, and none further ahead than this many days
#: (far-off dates would overflow date arithmetic; nothing is ever recorded there anyway).
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAYS_AHEAD = 366
#: Days after a customer's first event at a stage in which reaching the next stage counts.
DROP_OFF_WINDOW_DAYS = 30
#: What a flagged stage's gap to the journey is broken down by (:mod:`analytics.drivers`).
DRIVER_DIMENSIONS = ("touchpoint", "channel", "persona")


@dataclass
class UnitReport:
    """One stage or touchpoint of the journey."""

    level: str  # "stage" | "touchpoint"
    id: int
    name: str
    stage_id: int
    order: int
    figures: dict[str, Estimate | None]
    flags: list[friction.Flag] = field(default_factory=list)
    #: Only for a stage flagged ``below_journey``: its gap to the rest of the journey per
    #: :data:`DRIVER_DIMENSIONS` (a touchpoint driver's ``value`` is the touchpoint's id).
    drivers: dict[str, drivers.Breakdown] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "stage": self.stage_id,
            "order": self.order,
            **{name: (value.as_dict() if value is not None else None) for name, value in self.figures.items()},
            "flags": [flag.as_dict() for flag in self.flags],
            "drivers": {name: table.as_dict() for name, table in self.drivers.items()} or None,
        }


@dataclass
class JourneyReport:
    journey_id: int
    journey_name: str
    filters: ReportFilters
    stages: list[UnitReport]
    touchpoints: list[UnitReport]
    min_n: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "journey": {"id": self.journey_id, "name": self.journey_name},
            "period": {"since": self.filters.since.isoformat(), "until": self.filters.until.isoformat()},
            "filters": {
                "channel": self.filters.channel,
                "persona": self.filters.persona,
                "survey": self.filters.survey_id,
                "language": self.filters.language,
            },
            "min_n": self.min_n,
            "stages": [unit.as_dict() for unit in self.stages],
            "touchpoints": [unit.as_dict() for unit in self.touchpoints],
        }

    def units(self) -> Iterable[UnitReport]:
        yield from self.stages
        yield from self.touchpoints


def _figures(
    scores: pd.DataFrame, invitations: pd.DataFrame, key: str, unit_id: int, min_n: int
) -> dict[str, Estimate | None]:
    answers = scores[scores[key] == unit_id] if not scores.empty else scores
    sent = answered = 0
    if not invitations.empty:
        rows = invitations[invitations[key] == unit_id]
        sent, answered = int(rows["sent"].sum()), int(rows["answered"].sum())
    return {**metrics.unit_figures(answers, sent=sent, answered=answered, min_n=min_n), "drop_off": None}


def response_rate_filters(filters: ReportFilters, today: date | None = None) -> ReportFilters:
    """The filters of a response rate: without the invitations sent in the last days, which may still be answered.

    An invitation sent yesterday counts as sent but has not had its chance to be
    answered (most answers come within :data:`surveys.precision.RESPONSE_WINDOW`),
    so counting it would bias the rate low, and a unit near the threshold would be
    flagged ``low_response`` by the calendar. The period ends
    ``RESPONSE_WINDOW`` days before today at the latest (it may then be empty: n = 0).
    """
    today = today or timezone.now().date()
    return replace(filters, until=min(filters.until, today - timedelta(days=RESPONSE_WINDOW.days)))


def journey_report(
    *,
    workspace: Workspace,
    journey: Journey,
    filters: ReportFilters,
    settings: friction.FrictionSettings | None = None,
    with_drivers: bool = True,
) -> JourneyReport:
    """Scores, rates, drop-off and friction flags of every stage and touchpoint of ``journey``.

    ``settings`` defaults to the workspace's thresholds (:func:`analytics.report_settings.friction_settings`).
    ``with_drivers=False`` skips the drivers of flagged stages (one count call) for
    callers that never show them (the journey view, the flag refresh, the digest).
    """
    settings = settings or friction_settings(workspace=workspace)
    min_n = settings.min_n
    stages = journey_stages(workspace=workspace, journey_id=journey.pk)
    points = journey_touchpoints(workspace=workspace, journey_id=journey.pk)
    by_stage = answer_counts(workspace=workspace, journey_id=journey.pk, filters=filters, by=["stage_id"])
    by_point = answer_counts(workspace=workspace, journey_id=journey.pk, filters=filters, by=["touchpoint_id"])
    rate_filters = response_rate_filters(filters)
    sent_stage = invitation_counts(workspace=workspace, journey_id=journey.pk, filters=rate_filters, by=["stage_id"])
    sent_point = invitation_counts(
        workspace=workspace, journey_id=journey.pk, filters=rate_filters, by=["touchpoint_id"]
    )
    reach = stage_reach(
        workspace=workspace,
        journey_id=journey.pk,
        since=filters.since,
        until=filters.until,
        window_days=DROP_OFF_WINDOW_DAYS,
    )
    weekly = answer_counts(workspace=workspace, journey_id=journey.pk, filters=filters, by=["stage_id", "week"])
    weekly_point = answer_counts(
        workspace=workspace, journey_id=journey.pk, filters=filters, by=["touchpoint_id", "week"]
    )

    stage_units = []
    orders = dict(zip(stages["stage_id"], stages["order"], strict=True))
    for row in stages.itertuples(index=False):
        figures = _figures(by_stage, sent_stage, "stage_id", int(row.stage_id), min_n)
        reached = reach[reach["stage_id"] == row.stage_id]
        if not reached.empty and not pd.isna(reached.iloc[0]["continued"]):
            figures["drop_off"] = metrics.drop_off(
                int(reached.iloc[0]["cohort"]), int(reached.iloc[0]["continued"]), min_n=min_n
            )
        stage_units.append(
            UnitReport("stage", int(row.stage_id), str(row.name), int(row.stage_id), int(row.order), figures)
        )
    point_units = [
        UnitReport(
            "touchpoint",
            int(row.touchpoint_id),
            str(row.name),
            int(row.stage_id),
            int(orders.get(row.stage_id, 0)),
            _figures(by_point, sent_point, "touchpoint_id", int(row.touchpoint_id), min_n),
        )
        for row in points.itertuples(index=False)
    ]
    report = JourneyReport(journey.pk, journey.name, filters, stage_units, point_units, min_n)
    _attach_flags(
        report,
        settings,
        by_stage=by_stage,
        by_point=by_point,
        sent_stage=sent_stage,
        sent_point=sent_point,
        weekly=weekly,
        weekly_point=weekly_point,
        reach=reach,
    )
    if with_drivers:
        _attach_drivers(report, workspace=workspace, journey=journey, by_stage=by_stage, by_point=by_point)
    return report


def _nps_split(frame: pd.DataFrame, key: str | list[str]) -> pd.DataFrame:
    """``[key, promoters, passives, detractors]`` from NPS answer counts."""
    answers = frame[frame["question_type"] == "nps"] if not frame.empty else frame
    if answers.empty:
        keys = [key] if isinstance(key, str) else list(key)
        return pd.DataFrame(columns=[*keys, "promoters", "passives", "detractors"])
    bucket = pd.cut(answers["score"], bins=[-1, metrics.DETRACTOR, metrics.PROMOTER - 1, 10], labels=False)
    split = (
        answers.assign(bucket=bucket.map({0: "detractors", 1: "passives", 2: "promoters"}))
        .pivot_table(index=key, columns="bucket", values="n", aggfunc="sum", fill_value=0, observed=False)
        .reindex(columns=["promoters", "passives", "detractors"], fill_value=0)
        .reset_index()
    )
    split.columns.name = None
    return split


def _friction_inputs(
    report: JourneyReport,
    *,
    by_stage: pd.DataFrame,
    by_point: pd.DataFrame,
    sent_stage: pd.DataFrame,
    sent_point: pd.DataFrame,
    weekly: pd.DataFrame,
    weekly_point: pd.DataFrame,
    reach: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """The count tables of :func:`analytics.friction.detect`, from the aggregation layer's frames."""
    orders = {unit.id: unit.order for unit in report.stages}
    stage_of = {unit.id: unit.stage_id for unit in report.touchpoints}
    stages = _nps_split(by_stage, "stage_id").rename(columns={"stage_id": "unit_id"})
    points = _nps_split(by_point, "touchpoint_id").rename(columns={"touchpoint_id": "unit_id"})
    units = pd.concat(
        [
            stages.assign(level="stage", stage_id=stages["unit_id"]),
            points.assign(level="touchpoint", stage_id=points["unit_id"].map(stage_of)),
        ],
        ignore_index=True,
    )
    units["stage_order"] = units["stage_id"].map(orders)
    weekly_parts = []
    if not weekly.empty:
        stage_weeks = _nps_split(weekly, ["stage_id", "week"]).rename(columns={"stage_id": "unit_id"})
        weekly_parts.append(stage_weeks.assign(level="stage", stage_id=stage_weeks["unit_id"]))
    if not weekly_point.empty:
        point_weeks = _nps_split(weekly_point, ["touchpoint_id", "week"]).rename(columns={"touchpoint_id": "unit_id"})
        weekly_parts.append(point_weeks.assign(level="touchpoint", stage_id=point_weeks["unit_id"].map(stage_of)))
    weeks = pd.concat(weekly_parts, ignore_index=True) if weekly_parts else pd.DataFrame()
    if not weeks.empty:
        weeks = weeks[weeks["stage_id"].notna()]  # a touchpoint moved out of the journey since
        # Weeks since the first: a week without answers stays a gap in the trend, not squeezed out.
        weeks["week"] = ((weeks["week"] - weeks["week"].min()).dt.days // 7).astype(int)
    ces = pd.concat(
        [
            frame[frame["question_type"] == "ces"].rename(columns={key: "unit_id"}).assign(level=level)
            for frame, key, level in ((by_stage, "stage_id", "stage"), (by_point, "touchpoint_id", "touchpoint"))
            if not frame.empty
        ]
        or [pd.DataFrame(columns=["unit_id", "level", "score", "n"])],
        ignore_index=True,
    )
    responses = pd.concat(
        [
            frame.rename(columns={key: "unit_id"}).assign(level=level)
            for frame, key, level in ((sent_stage, "stage_id", "stage"), (sent_point, "touchpoint_id", "touchpoint"))
            if not frame.empty
        ]
        or [pd.DataFrame(columns=["unit_id", "level", "sent", "answered"])],
        ignore_index=True,
    )
    # The drop-off test's customers are the settled cohort (see aggregation.stage_reach), not the funnel's.
    drop_offs = (
        reach[reach["continued"].notna()]
        .drop(columns=["reached"])
        .rename(columns={"cohort": "reached"})
        .astype({"reached": "int64", "continued": "int64"})
        if not reach.empty
        else reach
    )
    return {
        "units": units[units["stage_order"].notna()],
        "weekly": weeks,
        "ces": ces[["unit_id", "level", "score", "n"]],
        "responses": responses[["unit_id", "level", "sent", "answered"]],
        "drop_offs": drop_offs[["stage_id", "order", "reached", "continued"]] if not drop_offs.empty else drop_offs,
    }


def _attach_flags(report: JourneyReport, settings: friction.FrictionSettings, **frames: pd.DataFrame) -> None:
    """Friction flags of the report's units (see :mod:`analytics.friction`)."""
    flags = friction.detect(**_friction_inputs(report, **frames), settings=settings)
    units = {(unit.level, unit.id): unit for unit in report.units()}
    for flag in flags:
        unit = units.get((flag.level, int(flag.unit_id)))
        if unit is not None:
            unit.flags.append(flag)


def _rest_of_journey_nps(report: JourneyReport, by_stage: pd.DataFrame) -> dict[int, float]:
    """The reference of each stage flagged ``below_journey``: the NPS of the rest of the journey.

    The rest is the journey's other stages pooled, as in that test of
    :mod:`analytics.friction`; other stages have no significant gap to explain.
    """
    split = _nps_split(by_stage, "stage_id")
    if split.empty:
        return {}
    columns = ["promoters", "passives", "detractors"]
    totals = split[columns].sum()
    references = {}
    for unit in report.stages:
        nps = unit.figures["nps"]
        below = any(flag.kind == friction.BELOW_JOURNEY for flag in unit.flags)
        if not below or nps is None or not nps.sufficient or nps.value is None:
            continue
        rest = totals - split.loc[split["stage_id"] == unit.id, columns].sum()
        rest_n = int(rest.sum())
        if rest_n < report.min_n:
            continue
        reference = 100 * (int(rest["promoters"]) - int(rest["detractors"])) / rest_n
        if reference > nps.value:
            references[unit.id] = reference
    return references


def _attach_drivers(
    report: JourneyReport, *, workspace: Workspace, journey: Journey, by_stage: pd.DataFrame, by_point: pd.DataFrame
) -> None:
    """The drivers of each stage flagged below the journey (one more count call, of those stages, only if any)."""
    references = _rest_of_journey_nps(report, by_stage)
    if not references:
        return
    stage_of = {unit.id: unit.stage_id for unit in report.touchpoints}
    # One count for both splits, of the flagged stages only.
    split = answer_counts(
        workspace=workspace,
        journey_id=journey.pk,
        filters=report.filters,
        by=["stage_id", "channel", "persona"],
        stage_ids=sorted(references),
    )
    tables = {
        "touchpoint": by_point.rename(columns={"touchpoint_id": "touchpoint"}).assign(
            stage_id=by_point["touchpoint_id"].map(stage_of)
        ),
        **{
            dimension: split.groupby(["stage_id", dimension, "question_type", "score"], as_index=False)["n"].sum()
            for dimension in DRIVER_DIMENSIONS[1:]
        },
    }
    for unit in report.stages:
        if unit.id not in references:
            continue
        unit.drivers = {
            dimension: drivers.breakdown(
                frame[frame["stage_id"] == unit.id],
                dimension=dimension,
                reference_nps=references[unit.id],
                min_n=report.min_n,
            )
            for dimension, frame in tables.items()
        }


def report_filters_build(
    *,
    workspace: Workspace,
    since: date | None = None,
    until: date | None = None,
    channel: str | None = None,
    persona: str | None = None,
    survey_id: int | None = None,
    language: str | None = None,
    today: date | None = None,
) -> ReportFilters:
    """The filters of a report, checked: the rules the API, the pages and their CSVs share.

    ``until`` defaults to today and ``since`` to 90 days before it. Each day lies
    between :data:`EARLIEST_DAY` and :data:`LATEST_DAYS_AHEAD` days ahead (further
    would overflow date arithmetic), the first day is on or before the last, the
    period is at most :data:`PERIOD_MAX_DAYS` long, and a survey belongs to the
    workspace. A broken rule raises :class:`~config.errors.ApplicationError` naming
    its field. The values' own form (a known channel, a language tag) is the
    caller's parsing.
    """
    today = today or timezone.now().date()
    latest = today + timedelta(days=LATEST_DAYS_AHEAD)
    for name, day in (("since", since), ("until", until)):
        if day is not None and not EARLIEST_DAY <= day <= latest:
            raise ApplicationError.for_field(
                name,
                _("Give a day between %(earliest)s and %(latest)s.")
                % {"earliest": EARLIEST_DAY.isoformat(), "latest": latest.isoformat()},
            )
    until = until or today
    since = since or default_period(until)[0]
    if since > until:
        raise ApplicationError.for_field("since", _("Give a first day on or before the last day."))
    if until - since > timedelta(days=PERIOD_MAX_DAYS - 1):
        raise ApplicationError.for_field(
            "since", _("A report covers at most %(days)d days.") % {"days": PERIOD_MAX_DAYS}
        )
    if survey_id is not None and not Survey.objects.for_workspace(workspace).filter(pk=survey_id).exists():
        raise ApplicationError.for_field("survey", _("Unknown survey."))
    return ReportFilters(
        since=since, until=until, channel=channel, persona=persona, survey_id=survey_id, language=language
    )


def default_period(today: date, days: int = 90) -> tuple[date, date]:
    """The last ``days`` days up to and including ``today``."""
    return today - timedelta(days=days - 1), today
