"""Daily rollups: the SQL that turns raw answers and invitations into counts, and their refresh.

One run of :func:`rollups_refresh` per workspace is one transaction that

1. locks the workspace's :class:`~analytics.models.RollupState` (a concurrent run waits),
2. recomputes the answer rollup of every UTC day from ``complete_until - LATE_DAYS``
   up to yesterday with one ``DELETE`` and one ``INSERT … SELECT … GROUP BY``, and
   its per-touchpoint summary from it (another ``DELETE`` and ``INSERT … SELECT``),
3. recomputes the invitation rollup of the same days, plus the older *sent* days of
   invitations answered since then (an answer moves its invitation from sent to
   answered on the day the invitation was sent), again one ``DELETE`` and one
   ``INSERT … SELECT``,
4. moves ``complete_until`` to today.

So a run costs a constant number of statements, whatever the history, and the
database does all the work: no answer is ever loaded into Python.

**Lateness policy.** A day is recomputed by the run that first finds it complete
and once more by every run of the following day (``LATE_DAYS = 1``), so a row
committed up to a day after its own day (a transaction open across midnight, a
delayed import of yesterday) is picked up. Answers to old invitations keep their
invitations' sent days current. Anything later (a backfill of older days, a
customer's changed ``persona`` trait, a renamed persona, a deleted customer's
answers) reaches older days only through :func:`rollups_rebuild`. A touchpoint
moved to another stage needs nothing: stages are looked up when reading. Between
runs (15 minutes) reports read today's rows raw, so only a late change to an
already rolled-up day waits for the next run.

The SQL builders here are shared with :mod:`analytics.aggregation`, which reads
the same raw facts for the days not rolled up yet. They speak PostgreSQL and
SQLite: the few differences (UTC date, week start, JSON trait, date arithmetic)
are chosen per connection. Values always travel as parameters; only fixed
fragments of this module are formatted into the SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from analytics.models import AnswerRollup, AnswerSegmentRollup, AnswerTouchpointRollup, InvitationRollup, RollupState
from surveys.models import SCALES, Answer, Invitation, InvitationStatus
from touchpoints.models import Stage, Touchpoint, Workspace

logger = logging.getLogger(__name__)

#: Question types whose answers are scores.
SCALE_TYPES = ("nps", "csat", "ces")
#: Invitations in these states reached the customer (with ``sent_at``): the denominator of the response rate.
SENT_STATUSES = (
    InvitationStatus.SENT,
    InvitationStatus.OPENED,
    InvitationStatus.ANSWERED,
    InvitationStatus.EXPIRED,
    InvitationStatus.DISMISSED,
)
#: Complete days recomputed again by every run (see the lateness policy above).
LATE_DAYS = 1

DayRange = tuple[date, date]  # [first, end): end exclusive


# --- Dialect ----------------------------------------------------------------------


def sql_vendor() -> str:
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise NotImplementedError(f"Analytics SQL supports PostgreSQL and SQLite, not {vendor}.")
    return vendor


def utc_day_sql(timestamp: str) -> str:
    """The UTC date of a timestamp column (SQLite stores them as UTC text)."""
    if sql_vendor() == "postgresql":
        return f"CAST(({timestamp} AT TIME ZONE 'UTC') AS date)"
    return f"date({timestamp})"


def week_start_sql(day: str) -> str:
    """The Monday of a date's ISO week (``%%`` because the SQL also takes parameters)."""
    if sql_vendor() == "postgresql":
        return f"({day} - CAST(EXTRACT(ISODOW FROM {day}) AS integer) + 1)"
    return f"date({day}, '-' || ((CAST(strftime('%%w', {day}) AS integer) + 6) %% 7) || ' days')"


def persona_trait_sql(traits: str) -> str:
    """The customer's ``persona`` trait as text (or NULL)."""
    if sql_vendor() == "postgresql":
        return f"({traits} ->> 'persona')"
    return f"json_extract({traits}, '$.persona')"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def as_date(value: date | str) -> date:
    """A date read by raw SQL: PostgreSQL gives ``date``, SQLite its ISO text."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def adapt_datetime(value: datetime) -> Any:
    """A timestamp parameter as Django stores them (naive UTC text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


def adapt_date(value: date) -> Any:
    return connection.ops.adapt_datefield_value(value)


def ranges_sql(column: str, ranges: Sequence[DayRange], *, is_day_column: bool) -> tuple[str, list[Any]]:
    """``(column >= %s AND column < %s) OR …`` for UTC day ranges of a date or timestamp column.

    Plain ranges on the column itself, so an index on it can serve them.
    """
    if not ranges:
        return "1 = 0", []
    conditions, params = [], []
    for first, end in ranges:
        conditions.append(f"({column} >= %s AND {column} < %s)")
        if is_day_column:
            params += [adapt_date(first), adapt_date(end)]
        else:
            params += [adapt_datetime(day_start(first)), adapt_datetime(day_start(end))]
    return "(" + " OR ".join(conditions) + ")", params


def day_ranges(days: Iterable[date]) -> list[DayRange]:
    """Sorted days as contiguous ``[first, end)`` ranges."""
    ranges: list[DayRange] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] == day:
            ranges[-1] = (ranges[-1][0], day + timedelta(days=1))
        else:
            ranges.append((day, day + timedelta(days=1)))
    return ranges


# --- Fact sources -----------------------------------------------------------------


@dataclass(frozen=True)
class FactSource:
    """Rows to count (``FROM`` and base ``WHERE``), the dimensions they can be grouped by and the measures.

    ``time_column`` holds the UTC moment (or day) that places a row in a period.
    """

    from_sql: str
    where: tuple[str, ...]
    params: tuple[Any, ...]
    dims: Mapping[str, str]
    measures: Mapping[str, str]
    time_column: str
    is_day_column: bool = False

    def select(
        self, *, dims: Sequence[str], ranges: Sequence[DayRange], where: Sequence[str] = (), params: Sequence[Any] = ()
    ) -> tuple[str, list[Any]]:
        """``SELECT dims…, measures… FROM … WHERE … GROUP BY dims…`` and its parameters."""
        time_sql, time_params = ranges_sql(self.time_column, ranges, is_day_column=self.is_day_column)
        expressions = [self.dims[name] for name in dims]
        select = [f"{expression} AS {name}" for expression, name in zip(expressions, dims, strict=True)]
        select += [f"{expression} AS {name}" for name, expression in self.measures.items()]
        sql = "SELECT {} {} WHERE {}".format(
            ", ".join(select), self.from_sql, " AND ".join([*self.where, time_sql, *where])
        )
        if expressions:
            sql += " GROUP BY " + ", ".join(expressions)
        return sql, [*self.params, *time_params, *params]


def _persona_join(customer_alias: str) -> str:
    """Map the ``persona`` trait to the workspace's persona name, case-insensitively (one name per spelling).

    On SQLite ``LOWER`` folds ASCII letters only; PostgreSQL folds every letter.
    """
    return (
        "LEFT JOIN (SELECT LOWER(name) AS name_key, MIN(name) AS name FROM touchpoints_persona"  # noqa: S608
        " WHERE workspace_id = %s GROUP BY LOWER(name)) p"
        f" ON p.name_key = LOWER({persona_trait_sql(customer_alias + '.traits')})"
    )


_JOURNEY_JOINS = "JOIN touchpoints_touchpoint t ON t.id = i.touchpoint_id JOIN touchpoints_stage s ON s.id = t.stage_id"
_LANGUAGE = "COALESCE(NULLIF(r.language, ''), i.language)"


def raw_answers(*, workspace_id: int) -> FactSource:
    """Scale answers (NPS, CSAT, CES; in range) of invitations with a touchpoint, by the UTC day of ``created_at``."""
    scale_sql = " OR ".join("(q.type = %s AND a.number BETWEEN %s AND %s)" for _type in SCALE_TYPES)
    scale_params = [value for kind in SCALE_TYPES for value in (kind, *SCALES[kind])]
    day = utc_day_sql("a.created_at")
    return FactSource(
        from_sql=(
            "FROM surveys_answer a"
            " JOIN surveys_question q ON q.id = a.question_id"
            " JOIN surveys_response r ON r.id = a.response_id"
            " JOIN surveys_invitation i ON i.id = r.invitation_id"
            f" {_JOURNEY_JOINS}"
            " JOIN touchpoints_customer c ON c.id = i.customer_id"
            f" {_persona_join('c')}"
        ),
        where=("a.workspace_id = %s", "a.number IS NOT NULL", f"({scale_sql})"),
        params=(workspace_id, workspace_id, *scale_params),
        dims={
            "workspace_id": "a.workspace_id",
            "day": day,
            "week": week_start_sql(day),
            "journey_id": "s.journey_id",
            "stage_id": "t.stage_id",
            "touchpoint_id": "i.touchpoint_id",
            "survey_id": "i.survey_id",
            "channel": "i.channel",
            "language": _LANGUAGE,
            "persona": "COALESCE(p.name, '')",
            "question_type": "q.type",
            "score": "a.number",
        },
        measures={"n": "COUNT(*)"},
        time_column="a.created_at",
    )


def raw_invitations(*, workspace_id: int) -> FactSource:
    """Sent invitations with a touchpoint, by the UTC day of ``sent_at``, and whether each was answered."""
    day = utc_day_sql("i.sent_at")
    statuses = ", ".join(["%s"] * len(SENT_STATUSES))
    return FactSource(
        from_sql=(
            "FROM surveys_invitation i"
            f" {_JOURNEY_JOINS}"
            " JOIN touchpoints_customer c ON c.id = i.customer_id"
            " LEFT JOIN surveys_response r ON r.invitation_id = i.id"
            f" {_persona_join('c')}"
        ),
        where=("i.workspace_id = %s", "i.sent_at IS NOT NULL", f"i.status IN ({statuses})"),
        params=(workspace_id, workspace_id, *SENT_STATUSES),
        dims={
            "workspace_id": "i.workspace_id",
            "day": day,
            "week": week_start_sql(day),
            "journey_id": "s.journey_id",
            "stage_id": "t.stage_id",
            "touchpoint_id": "i.touchpoint_id",
            "survey_id": "i.survey_id",
            "channel": "i.channel",
            "language": _LANGUAGE,
            "persona": "COALESCE(p.name, '')",
        },
        measures={
            "sent": "COUNT(*)",
            "answered": (
                "SUM(CASE WHEN EXISTS (SELECT 1 FROM surveys_answer a WHERE a.response_id = r.id) THEN 1 ELSE 0 END)"
            ),
        },
        time_column="i.sent_at",
    )


# --- Refresh ----------------------------------------------------------------------

_ANSWER_COLUMNS = (
    "workspace_id",
    "day",
    "touchpoint_id",
    "survey_id",
    "channel",
    "language",
    "persona",
    "question_type",
    "score",
)
_INVITATION_COLUMNS = _ANSWER_COLUMNS[:-2]


def _recompute(
    table: str, source: FactSource, columns: Sequence[str], workspace_id: int, ranges: list[DayRange]
) -> int:
    """Replace a workspace's rows of ``table`` for the day ranges: one DELETE, one INSERT … SELECT."""
    if not ranges:
        return 0
    delete_sql, delete_params = ranges_sql("day", ranges, is_day_column=True)
    select_sql, select_params = source.select(dims=columns, ranges=ranges)
    insert_columns = ", ".join([*columns, *source.measures])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE workspace_id = %s AND {delete_sql}", [workspace_id, *delete_params])  # noqa: S608 - fixed fragments
        cursor.execute(f"INSERT INTO {table} ({insert_columns}) {select_sql}", select_params)  # noqa: S608 - fixed fragments
        return cursor.rowcount


#: The coarser answer rollups, each a sum of :class:`AnswerRollup` over the dimensions it drops.
_COARSER_ANSWER_ROLLUPS = (
    (AnswerSegmentRollup, "workspace_id, day, touchpoint_id, survey_id, channel, persona, question_type, score"),
    (AnswerTouchpointRollup, "workspace_id, day, touchpoint_id, survey_id, question_type, score"),
)


def _recompute_touchpoint_answers(workspace_id: int, ranges: list[DayRange]) -> None:
    """Replace the days' rows of the coarser answer rollups by sums of the :class:`AnswerRollup` rows just written."""
    if not ranges:
        return
    days_sql, days_params = ranges_sql("day", ranges, is_day_column=True)
    fine = AnswerRollup._meta.db_table
    with connection.cursor() as cursor:
        for model, columns in _COARSER_ANSWER_ROLLUPS:
            coarse = model._meta.db_table
            cursor.execute(f"DELETE FROM {coarse} WHERE workspace_id = %s AND {days_sql}", [workspace_id, *days_params])  # noqa: S608 - fixed fragments
            cursor.execute(
                f"INSERT INTO {coarse} ({columns}, n) SELECT {columns}, SUM(n) FROM {fine}"  # noqa: S608 - fixed fragments
                f" WHERE workspace_id = %s AND {days_sql} GROUP BY {columns}",
                [workspace_id, *days_params],
            )


def _answered_sent_days(workspace_id: int, *, answered_since: date, sent_before: date) -> list[date]:
    """Sent days before ``sent_before`` of invitations with answers created since ``answered_since``."""
    sql = (
        f"SELECT DISTINCT {utc_day_sql('i.sent_at')}"  # noqa: S608 - fixed fragments
        " FROM surveys_answer a"
        " JOIN surveys_response r ON r.id = a.response_id"
        " JOIN surveys_invitation i ON i.id = r.invitation_id"
        " WHERE a.workspace_id = %s AND a.created_at >= %s"
        " AND i.touchpoint_id IS NOT NULL AND i.sent_at IS NOT NULL AND i.sent_at < %s"
    )
    params = [workspace_id, adapt_datetime(day_start(answered_since)), adapt_datetime(day_start(sent_before))]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [as_date(row[0]) for row in cursor.fetchall()]


def _earliest_day(workspace_id: int) -> date | None:
    """The first UTC day with an answer or a sent invitation (the start of a first or full rollup)."""
    firsts = [
        Answer.objects.filter(workspace_id=workspace_id).aggregate(first=Min("created_at"))["first"],
        Invitation.objects.filter(workspace_id=workspace_id, sent_at__isnull=False).aggregate(first=Min("sent_at"))[
            "first"
        ],
    ]
    moments = [moment for moment in firsts if moment is not None]
    return min(moments).astimezone(UTC).date() if moments else None


def _refresh_workspace(*, workspace_id: int, now: datetime, since: date | None, is_rebuild: bool) -> int:
    today = now.astimezone(UTC).date()
    with transaction.atomic():
        RollupState.objects.get_or_create(workspace_id=workspace_id)
        state = RollupState.objects.select_for_update().get(workspace_id=workspace_id)
        if is_rebuild:
            start = since or _earliest_day(workspace_id) or today
        elif state.complete_until is not None:
            start = state.complete_until - timedelta(days=LATE_DAYS)
        else:
            start = _earliest_day(workspace_id) or today
        start = min(start, today)
        days = [start + timedelta(days=offset) for offset in range((today - start).days)]
        _recompute(
            AnswerRollup._meta.db_table,
            raw_answers(workspace_id=workspace_id),
            _ANSWER_COLUMNS,
            workspace_id,
            day_ranges(days),
        )
        _recompute_touchpoint_answers(workspace_id, day_ranges(days))
        answered_days = _answered_sent_days(workspace_id, answered_since=start, sent_before=start)
        _recompute(
            InvitationRollup._meta.db_table,
            raw_invitations(workspace_id=workspace_id),
            _INVITATION_COLUMNS,
            workspace_id,
            day_ranges([*days, *answered_days]),
        )
        state.complete_until, state.refreshed_at = today, now
        state.save(update_fields=["complete_until", "refreshed_at"])
    logger.debug(
        "Workspace %s rolled up from %s: %s days, %s earlier sent days",
        workspace_id,
        start,
        len(days),
        len(answered_days),
    )
    return len(days) + len(answered_days)


def rollups_refresh(*, workspace: Workspace | None = None, now: datetime | None = None) -> int:
    """Bring the rollups of one workspace (or of all) up to yesterday (UTC); returns the days recomputed.

    Incremental: a workspace already complete until today recomputes only
    yesterday again (the lateness policy in the module docstring) and the sent
    days of invitations answered since. A first run rolls up the whole history.
    Each workspace is its own transaction, so one slow workspace never holds
    the others' results back; over every workspace, one that fails is logged with
    its id and the others go on (the next run tries it again). Asked for one
    workspace, its error is raised. Idempotent: a rerun writes the same rows.
    """
    now = now or timezone.now()
    if workspace is not None:
        return _refresh_workspace(workspace_id=workspace.pk, now=now, since=None, is_rebuild=False)
    days = 0
    for workspace_id in Workspace.objects.order_by("pk").values_list("pk", flat=True):
        try:
            days += _refresh_workspace(workspace_id=workspace_id, now=now, since=None, is_rebuild=False)
        except Exception:  # one workspace's failure must not leave the others' rollups behind
            logger.exception(
                "Rollup refresh of workspace %s failed", workspace_id, extra={"workspace_id": workspace_id}
            )
    return days


def rollups_rebuild(*, workspace: Workspace, since: date | None = None, now: datetime | None = None) -> int:
    """Recompute a workspace's rollups from ``since`` (default: its first data) up to yesterday (UTC).

    For what the incremental refresh leaves alone: answers or invitations written
    more than :data:`LATE_DAYS` days late (imports, backfills), a customer's changed
    persona, or a deleted customer's answers in older days. One ``INSERT … SELECT``
    per table however long the period. Returns the days recomputed.
    """
    days = _refresh_workspace(workspace_id=workspace.pk, now=now or timezone.now(), since=since, is_rebuild=True)
    _analyze()
    return days


#: Tables whose planner statistics a rebuild refreshes: the rollups it rewrote, and the journeys'
#: small tables, which autovacuum may never analyse (below its 50-row threshold); without their
#: statistics the planner guessed their size, and in bench_report_duckdb a raw count walked every
#: invitation instead of starting from the journey's few touchpoints.
ANALYZED_TABLES = (
    AnswerRollup._meta.db_table,
    AnswerSegmentRollup._meta.db_table,
    AnswerTouchpointRollup._meta.db_table,
    InvitationRollup._meta.db_table,
    Stage._meta.db_table,
    Touchpoint._meta.db_table,
)


def _analyze() -> None:
    """PostgreSQL: fresh statistics after a bulk rewrite (SQLite plans without them)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in ANALYZED_TABLES:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
