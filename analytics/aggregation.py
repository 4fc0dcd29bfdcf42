"""The read side of analytics: counts per journey stage, touchpoint and period, as small DataFrames.

Every function aggregates in SQL and returns one row per group, ready for the pure
functions of :mod:`analytics.metrics`. Counts combine two sources, summed:

* the daily rollups (:mod:`analytics.models`) for the days before the workspace's
  ``RollupState.complete_until`` (answers: the per-touchpoint summary unless the
  report filters or groups by channel, language or persona), and
* the raw answers and invitations for the days from it on (today, usually),

so a report is current to the second, and each count costs two queries (the rollup
state, then one count over both sources) whatever the data size. Without a rollup
state everything is read raw: correct, only slower.

Days are UTC days: an answer belongs to the UTC date of ``Answer.created_at``, an
invitation to the UTC date of ``Invitation.sent_at``; ``week`` is the Monday of that
day's ISO week. Stage and journey are those of the touchpoint today (a touchpoint
that moved takes its history along). Every query is scoped to the workspace: a
journey of another workspace gives empty results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from django.db import connection
from django.utils import timezone

from analytics.models import AnswerRollup, AnswerSegmentRollup, AnswerTouchpointRollup, InvitationRollup, RollupState
from analytics.rollups import (
    DayRange,
    FactSource,
    adapt_datetime,
    day_start,
    raw_answers,
    raw_invitations,
    sql_vendor,
    week_start_sql,
)
from touchpoints.models import Stage, Touchpoint, Workspace

#: What ``by`` may group on.
DIMENSIONS = ("stage_id", "touchpoint_id", "channel", "persona", "survey_id", "language", "day", "week")

_DTYPES = {
    "stage_id": "int64",
    "touchpoint_id": "int64",
    "survey_id": "int64",
    "channel": "str",
    "persona": "str",
    "language": "str",
    "question_type": "str",
    "score": "int64",
    "n": "int64",
    "sent": "int64",
    "answered": "int64",
}


@dataclass(frozen=True)
class ReportFilters:
    """What a report counts: UTC days ``since``..``until`` (both included) and optional exact matches.

    ``persona`` is a persona name as the workspace spells it, or ``""`` for customers
    without a known persona. Checking the values (range length, known survey) is the
    API layer's job.
    """

    since: date
    until: date
    channel: str | None = None
    persona: str | None = None
    survey_id: int | None = None
    language: str | None = None


def _rollup_source(*, table: str, workspace_id: int, measures: dict[str, str]) -> FactSource:
    return FactSource(
        from_sql=(
            f"FROM {table} ar"
            " JOIN touchpoints_touchpoint t ON t.id = ar.touchpoint_id"
            " JOIN touchpoints_stage s ON s.id = t.stage_id"
        ),
        where=("ar.workspace_id = %s",),
        params=(workspace_id,),
        dims={
            "day": "ar.day",
            "week": week_start_sql("ar.day"),
            "journey_id": "s.journey_id",
            "stage_id": "t.stage_id",
            "touchpoint_id": "ar.touchpoint_id",
            "survey_id": "ar.survey_id",
            "channel": "ar.channel",
            "language": "ar.language",
            "persona": "ar.persona",
            "question_type": "ar.question_type",
            "score": "ar.score",
        },
        measures=measures,
        time_column="ar.day",
        is_day_column=True,
    )


def _answer_rollup_table(by: Sequence[str], filters: ReportFilters) -> str:
    """The smallest answer rollup that has every dimension the count groups or filters by."""

    def uses(*names: str) -> bool:
        return any(name in by or getattr(filters, name) is not None for name in names)

    if uses("language"):
        return AnswerRollup._meta.db_table
    if uses("channel", "persona"):
        return AnswerSegmentRollup._meta.db_table
    return AnswerTouchpointRollup._meta.db_table


def _check_by(by: Sequence[str]) -> list[str]:
    by = list(by)
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown or len(set(by)) != len(by):
        raise ValueError(f"Group by distinct dimensions among {DIMENSIONS}, not {by}.")
    return by


def _complete_until(workspace: Workspace) -> date | None:
    return RollupState.objects.filter(workspace=workspace).values_list("complete_until", flat=True).first()


def _split(filters: ReportFilters, complete_until: date | None) -> tuple[list[DayRange], list[DayRange]]:
    """The period's days as (rolled-up ranges, raw ranges)."""
    end = filters.until + timedelta(days=1)
    if filters.since >= end:
        return [], []
    boundary = min(max(complete_until or filters.since, filters.since), end)
    rolled = [(filters.since, boundary)] if filters.since < boundary else []
    raw = [(boundary, end)] if boundary < end else []
    return rolled, raw


def _conditions(
    source: FactSource,
    *,
    workspace_id: int,
    journey_id: int,
    filters: ReportFilters,
    stage_ids: Sequence[int] | None = None,
) -> tuple[list[str], list[Any]]:
    conditions = [f"{source.dims['journey_id']} = %s", "s.workspace_id = %s"]
    params: list[Any] = [journey_id, workspace_id]
    if stage_ids is not None:
        # Only these stages' touchpoints: the rollups' (touchpoint, day) index then reads just their rows.
        conditions.append(f"{source.dims['stage_id']} IN ({', '.join(['%s'] * len(stage_ids)) or 'NULL'})")
        params.extend(int(stage_id) for stage_id in stage_ids)
    for name in ("channel", "persona", "survey_id", "language"):
        value = getattr(filters, name)
        if value is not None:
            conditions.append(f"{source.dims[name]} = %s")
            params.append(value)
    return conditions, params


def _frame(rows: list[tuple[Any, ...]], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for column in columns:
        if column in ("day", "week"):
            frame[column] = pd.to_datetime(frame[column].astype("str")).astype("datetime64[ns]")
        else:
            frame[column] = frame[column].astype(_DTYPES[column])
    return frame


def _counts(
    *,
    workspace: Workspace,
    journey_id: int,
    filters: ReportFilters,
    keys: list[str],
    raw: FactSource,
    rollup: FactSource,
    stage_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Sum the rolled-up and the raw part of a period, grouped by ``keys``."""
    measures = list(raw.measures)
    columns = [*keys, *measures]
    rolled_ranges, raw_ranges = _split(filters, _complete_until(workspace))
    rows: list[tuple[Any, ...]] = []
    for source, ranges in ((rollup, rolled_ranges), (raw, raw_ranges)):
        if not ranges:
            continue
        where, params = _conditions(
            source, workspace_id=workspace.pk, journey_id=journey_id, filters=filters, stage_ids=stage_ids
        )
        sql, sql_params = source.select(dims=keys, ranges=ranges, where=where, params=params)
        with connection.cursor() as cursor:
            cursor.execute(sql, sql_params)
            # Without groups an empty input still gives one row of zero / NULL sums: drop it.
            rows += [row for row in cursor.fetchall() if row[len(keys)]]
    frame = _frame(rows, columns)
    if not keys:
        return _frame([tuple(frame[measures].sum())], columns) if len(frame) > 1 else frame
    # A group present in both parts (a touchpoint on a rolled-up day and today, by week) is summed.
    frame = frame.groupby(keys, as_index=False, sort=False)[measures].sum()
    return frame.sort_values(keys, ignore_index=True).astype({column: _DTYPES[column] for column in measures})


def answer_counts(
    *,
    workspace: Workspace,
    journey_id: int,
    filters: ReportFilters,
    by: Sequence[str] = (),
    stage_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Scale answers per group and score: columns ``[*by, "question_type", "score", "n"]``.

    ``stage_ids`` keeps only those stages' answers (``None``: the whole journey).

    Counts answers to NPS (0–10), CSAT (1–5) and CES (1–7) questions of the
    journey's touchpoints (through the invitation), from complete and partial
    responses, on the UTC days of their ``created_at`` within the filters. Sorted by
    the group columns; ``day`` and ``week`` are ``datetime64`` (midnight UTC, naive).
    """
    by = _check_by(by)
    return _counts(
        workspace=workspace,
        journey_id=journey_id,
        filters=filters,
        keys=[*by, "question_type", "score"],
        raw=raw_answers(workspace_id=workspace.pk),
        stage_ids=stage_ids,
        rollup=_rollup_source(
            table=_answer_rollup_table(by, filters), workspace_id=workspace.pk, measures={"n": "SUM(ar.n)"}
        ),
    )


def invitation_counts(
    *, workspace: Workspace, journey_id: int, filters: ReportFilters, by: Sequence[str] = ()
) -> pd.DataFrame:
    """Invitations sent and answered per group: columns ``[*by, "sent", "answered"]``.

    Sent: invitations of the journey's touchpoints that reached the customer, on the
    UTC day of ``sent_at``; answered: those of them with a response holding at least
    one answer (counted on the day the invitation was sent, so a rate is a share of
    one cohort). The response rate is ``answered / sent``.
    """
    by = _check_by(by)
    return _counts(
        workspace=workspace,
        journey_id=journey_id,
        filters=filters,
        keys=by,
        raw=raw_invitations(workspace_id=workspace.pk),
        rollup=_rollup_source(
            table=InvitationRollup._meta.db_table,
            workspace_id=workspace.pk,
            measures={"sent": "SUM(ar.sent)", "answered": "SUM(ar.answered)"},
        ),
    )


def _within_window_sql() -> str:
    """``e2.occurred_at`` at most the parameter's number of days after ``f.first_at``.

    SQLite keeps timestamps as text and its date functions count milliseconds, so
    there the bound is exact to the millisecond (half a millisecond of slack absorbs
    the rounding of ``julianday``).
    """
    if sql_vendor() == "postgresql":
        return "e2.occurred_at <= f.first_at + %s * INTERVAL '1 day'"
    return "julianday(e2.occurred_at) <= julianday(f.first_at) + %s + 0.5 / 86400000.0"


def stage_reach(
    *,
    workspace: Workspace,
    journey_id: int,
    since: date,
    until: date,
    window_days: int = 30,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Customers reaching each stage, and behavioural drop-off between consecutive stages, from touchpoint events.

    One row per stage of the journey, in order:

    - ``reached``: customers with an event at one of the stage's touchpoints on UTC
      days ``since``..``until`` (the funnel).
    - ``cohort``: customers whose ``window_days`` window after their first event at
      the stage **ended** in the period and has ended by ``now``: those whose first
      event lies in the period shifted back by the window. Only they have had
      their whole window to reach the next stage; counting customers whose window
      is still open would inflate drop-off (a transition that takes a week looks
      lost for a customer seen yesterday). A period that ends today therefore
      measures the customers of ``window_days`` earlier; the period's length is kept.
      A customer's "first event" is the first within the period so shifted, so one
      who comes back to the stage months later counts again in that later cohort.
    - ``continued``: of the cohort, those with an event at the next stage within
      ``window_days`` after their first event at this stage.

    The last stage has no next one: ``cohort`` and ``continued`` are missing
    (``<NA>``). Anonymous events (no customer) do not count. One query.
    """
    sql = (  # fixed fragments only; values are parameters
        "WITH stages AS ("  # noqa: S608
        ' SELECT id, "order", LEAD(id) OVER (ORDER BY "order") AS next_id'
        " FROM touchpoints_stage WHERE workspace_id = %s AND journey_id = %s"
        "), firsts AS ("
        " SELECT t.stage_id, e.customer_id, MIN(e.occurred_at) AS first_at,"
        "  MAX(CASE WHEN e.occurred_at >= %s THEN 1 ELSE 0 END) AS in_period"
        " FROM touchpoints_touchpointevent e JOIN touchpoints_touchpoint t ON t.id = e.touchpoint_id"
        " WHERE e.workspace_id = %s AND e.customer_id IS NOT NULL AND e.occurred_at >= %s AND e.occurred_at < %s"
        " AND t.stage_id IN (SELECT id FROM stages)"
        " GROUP BY t.stage_id, e.customer_id"
        ")"
        ' SELECT st.id, st."order", COUNT(CASE WHEN f.in_period = 1 THEN 1 END),'
        " CASE WHEN st.next_id IS NULL THEN NULL ELSE COUNT(CASE WHEN f.first_at < %s THEN 1 END) END,"
        " CASE WHEN st.next_id IS NULL THEN NULL ELSE COUNT(CASE WHEN f.first_at < %s AND EXISTS ("
        "  SELECT 1 FROM touchpoints_touchpointevent e2 JOIN touchpoints_touchpoint t2 ON t2.id = e2.touchpoint_id"
        "  WHERE e2.workspace_id = %s AND e2.customer_id = f.customer_id AND t2.stage_id = st.next_id"
        f"  AND e2.occurred_at >= f.first_at AND {_within_window_sql()}"
        " ) THEN 1 END) END"
        " FROM stages st LEFT JOIN firsts f ON f.stage_id = st.id"
        ' GROUP BY st.id, st."order", st.next_id ORDER BY st."order"'
    )
    start: datetime = day_start(since)
    end: datetime = day_start(until + timedelta(days=1))
    window = timedelta(days=window_days)
    # The cohort's first events: [start − window, cohort_end); the windows of all of them have ended.
    cohort_end = min(end, now or timezone.now()) - window
    params = [
        workspace.pk,
        journey_id,
        adapt_datetime(start),
        workspace.pk,
        adapt_datetime(start - window),
        adapt_datetime(end),
        adapt_datetime(cohort_end),
        adapt_datetime(cohort_end),
        workspace.pk,
        window_days,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    frame = pd.DataFrame(rows, columns=["stage_id", "order", "reached", "cohort", "continued"])
    return frame.astype(
        {"stage_id": "int64", "order": "int64", "reached": "int64", "cohort": "Int64", "continued": "Int64"}
    )


def journey_stages(*, workspace: Workspace, journey_id: int) -> pd.DataFrame:
    """The journey's stages in order, for labelling: ``stage_id``, ``order``, ``name``."""
    rows = list(
        Stage.objects.for_workspace(workspace)
        .filter(journey_id=journey_id)
        .order_by("order")
        .values_list("pk", "order", "name")
    )
    frame = pd.DataFrame(rows, columns=["stage_id", "order", "name"])
    return frame.astype({"stage_id": "int64", "order": "int64", "name": "str"})


def journey_touchpoints(*, workspace: Workspace, journey_id: int) -> pd.DataFrame:
    """The journey's touchpoints by stage order, for labelling: ``touchpoint_id``, ``stage_id``, ``name``, ``channel``.

    ``channel`` is the touchpoint's own channel (web, app, …), not the invitation
    channel that ``answer_counts`` groups on.
    """
    rows = list(
        Touchpoint.objects.for_workspace(workspace)
        .filter(stage__journey_id=journey_id)
        .order_by("stage__order", "order", "pk")
        .values_list("pk", "stage_id", "name", "channel")
    )
    frame = pd.DataFrame(rows, columns=["touchpoint_id", "stage_id", "name", "channel"])
    return frame.astype({"touchpoint_id": "int64", "stage_id": "int64", "name": "str", "channel": "str"})
