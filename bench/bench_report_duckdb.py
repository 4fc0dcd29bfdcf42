"""Needs ``.venv/bin/pip install duckdb==2.0.1 pyarrow==26.0.1`` (bench-only; not in requirements).

The stage report over 10M answers in PostgreSQL against DuckDB over the same rows in Parquet (issue 6).

Target: the report takes at most 2x DuckDB's time for the same aggregates, in under 1 GB of memory.

**Data.** One workspace, one journey of nine stages (three touchpoints each), one
published survey asking NPS, CSAT and CES (and an open question nobody answers
here), 600,000 customers (40% / 30% / 15% with one of three personas), and over
365 days growing linearly in volume: ``ANSWERS / 3`` answered invitations (one
response each with an NPS, a CSAT and a CES answer, so ``ANSWERS`` scale answers)
and as many again times 1.5 unanswered (a 40% response rate); channels, languages
and touchpoints drawn with unequal weights, one stage 20 NPS points worse. Built
with ``INSERT … SELECT generate_series`` and hash-based draws (deterministic), the
tables' secondary indexes dropped during the load and recreated after it, foreign
keys not checked (``session_replication_role = replica``: the ids are generated
consistent). No touchpoint events: the report's behavioural drop-off
(``stage_reach``) reads events and is not what this benchmark measures.

**Database.** On the server of ``DATABASE_URL`` (PostgreSQL only, else skipped), in
a database of its own that is kept, because generating it takes minutes:
``BENCH_REPORT_DB`` (default ``jpbench_report``; never ``journeypulse``,
``test_journeypulse`` or ``jpmain``). A rerun reuses the data when the workspace
holds ``BENCH_REPORT_ANSWERS`` answers (default 10,000,000), else it empties the
tables and generates again. The Parquet files go to ``var/bench/<database>_*.parquet`` and are reused
too (they are rewritten when the data are regenerated).

**Measured**, each in a fresh process (peak RSS: ``VmHWM``, taken before the checks below):

* ``journey_report`` for the last 90 and the last 365 days of the data, after
  ``rollups_rebuild`` (median of ``RUNS``), and once reading raw rows only (the
  rollup state cleared inside a rolled-back transaction), for context;
* DuckDB (``duckdb`` Python package, default threads) over the Parquet export:
  the rows the report aggregates (every scale answer joined to its invitation,
  touchpoint, stage and customer, exported with the aggregation layer's own joins,
  filters and column expressions through ``COPY … TO STDOUT`` and pyarrow; the
  persona column is ``raw_answers``' own: the customer's ``persona`` trait matched
  case-insensitively to the workspace's personas, ``""`` for none), computing (a)
  the same aggregates the report asks PostgreSQL for (:data:`DUCKDB_AGGREGATES`:
  answers by stage, by touchpoint, by stage and week, by touchpoint and week, and,
  for the drivers of the stages flagged ``below_journey`` (``with_drivers=True``, the
  default, as the API and the stage pages call it), by stage, channel and persona
  for those stages only (the report's ``stage_ids``, passed on to DuckDB), each by
  question type and score; invitations sent and answered by
  stage and by touchpoint over the response rate's period, which ends
  ``RESPONSE_WINDOW`` days before today at the latest, as
  ``analytics.reports.response_rate_filters`` computes it) and (b) the answers by
  stage and score alone. The response rate's period depends on the day the
  benchmark runs: the data end the day before they were generated, so from two
  days after generating on, both sides count every invitation of the period.

**Checked**: one more report per report process (untimed, after the timed ones)
runs with ``answer_counts`` and ``invitation_counts`` wrapped to record every call
(its grouping, its period and the frame it returned). The report must have asked
for exactly the aggregates DuckDB computes, over the same periods (so the check
also fails if the report starts asking for a new one, or stops computing drivers
on this data), and each of DuckDB's results must equal the report's, row for row;
in every round. (b) must equal the stage aggregate.

**Not on DuckDB's side** (the report's alone, included in its time): the rollup
state it reads before each count, its small label queries, the behavioural reach
(``stage_reach``, one query over no events here: the window now starts 30 days
before the period) and the Python part (pandas, friction detection, drivers).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ANSWERS = int(os.environ.get("BENCH_REPORT_ANSWERS", "10000000"))
DB_NAME = os.environ.get("BENCH_REPORT_DB", "jpbench_report")
FORBIDDEN = {"journeypulse", "test_journeypulse", "jpmain"}
WORKSPACE_SLUG = "bench-report"
CUSTOMERS = 600_000
DAYS = 365
RESPONSE_RATE = 0.4
ROLLUP_TABLES = (
    "analytics_answerrollup",
    "analytics_answersegmentrollup",
    "analytics_answertouchpointrollup",
    "analytics_invitationrollup",
)
#: Bumped when the generated data change, so a rerun regenerates them.
GENERATION = "v2"
RUNS = 5
#: Rounds of (report process, DuckDB process), alternating; times are the median of all ROUNDS × RUNS.
ROUNDS = 3
TARGET_RATIO = 2.0
TARGET_RSS_MB = 1024
HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "var" / "bench"
#: The export of this database's data (rewritten whenever the data are generated).
ANSWERS_FILE = OUT / f"{DB_NAME}_answers.parquet"
INVITATIONS_FILE = OUT / f"{DB_NAME}_invitations.parquet"
#: NPS (points) of each stage's answers; the fifth is the worse one.
STAGE_NPS = (30, 27, 32, 28, 8, 30, 34, 31, 26)
#: Relative answer volume of each stage's three touchpoints (a funnel: early stages answer more).
STAGE_WEIGHTS = (16, 14, 13, 12, 11, 11, 9, 8, 6)
TOUCHPOINT_SPLIT = (0.5, 0.3, 0.2)
CHANNELS = (("email", 0.5), ("embedded", 0.25), ("link", 0.2), ("webhook", 0.05))
LANGUAGES = (("en", 0.4), ("ru", 0.2), ("pl", 0.2), ("hu", 0.2))
PERSONAS = (("Bargain-hunting Bella", 0.4), ("Busy professional Piotr", 0.3), ("Loyal regular Réka", 0.15))
#: What ``journey_report`` asks the aggregation layer for on this data, in its order: (count, grouping).
#: ``answers`` as ``answer_counts`` (grouping + question type, score, n) over the period; ``invitations`` as
#: ``invitation_counts`` (grouping + sent, answered) over the response rate's period. The last two are the
#: drivers' (of the stages flagged ``below_journey`` only: the fifth stage is planted 20 NPS points worse).
DUCKDB_AGGREGATES = (
    ("answers", ("stage_id",)),
    ("answers", ("touchpoint_id",)),
    ("invitations", ("stage_id",)),
    ("invitations", ("touchpoint_id",)),
    ("answers", ("stage_id", "week")),
    ("answers", ("touchpoint_id", "week")),
    ("answers", ("stage_id", "channel", "persona")),
)
#: The drivers' count: restricted to the stages the report computes drivers for.
DRIVERS_AGGREGATE = "answers by stage_id, channel, persona"


def bench_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return None
    if DB_NAME in FORBIDDEN:
        raise SystemExit(f"BENCH_REPORT_DB={DB_NAME} is a shared database; choose a name of your own.")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{DB_NAME}"))


def ensure_database(url: str) -> bool:
    """Create the bench database when missing; True when it was created."""
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
        return True


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    sys.path.insert(0, str(HERE))
    import common  # noqa: F401 - sets Django up


def peak_rss_mb() -> float:
    """This process's peak RSS: ``VmHWM`` where Linux has it, else ``getrusage``.

    ``getrusage``'s ``ru_maxrss`` survives ``exec``: a child started by a big parent reports the
    parent's peak (this benchmark's parent reaches about 1 GB exporting), so Linux's per-image
    high-water mark is read instead.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- Generation -----------------------------------------------------------------------------------


def _cumulative(pairs: tuple[tuple[str, float], ...]) -> list[tuple[str, float]]:
    total, out = 0.0, []
    for value, weight in pairs:
        total += weight
        out.append((value, total))
    return out


def _pick_sql(u: str, pairs: tuple[tuple[str, float], ...], *, otherwise: str = "''") -> str:
    """A CASE choosing a quoted value by the uniform ``u`` (weights summing to at most 1)."""
    cases = " ".join(f"WHEN {u} < {bound:.6f} THEN '{value}'" for value, bound in _cumulative(pairs))
    return f"(CASE {cases} ELSE {otherwise} END)"


def build_schema_objects(end: datetime) -> dict[str, object]:
    """The workspace, journey, touchpoints, personas and survey, through the services."""
    from surveys import services as survey_services
    from touchpoints import services
    from touchpoints.models import Channel

    workspace = services.workspace_create(name=workspace_name(end), slug=WORKSPACE_SLUG)
    for name, _share in PERSONAS:
        services.persona_create(workspace=workspace, name=name)
    journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
    stages = list(journey.stages.order_by("order"))
    touchpoints = [
        services.touchpoint_create(
            workspace=workspace,
            stage_id=stage.pk,
            name=f"{stage.name} {index + 1}",
            channel=Channel.WEB,
            event_names=[f"stage_{stage.order}_{index + 1}"],
        )
        for stage in stages
        for index in range(3)
    ]
    survey = survey_services.survey_create(
        workspace=workspace,
        name="Bench survey",
        kind="nps",
        default_language="en",
        languages=["en"],
        texts={"en": {"title": "Bench"}},
    )
    for kind in ("nps", "csat", "ces", "text"):
        labels = {"low_label": "Low", "high_label": "High"} if kind != "text" else {}
        survey_services.question_add(
            workspace=workspace, survey_id=survey.pk, type=kind, texts={"en": {"text": f"Your {kind}?", **labels}}
        )
    survey = survey_services.survey_publish(workspace=workspace, survey_id=survey.pk)
    return {"workspace": workspace, "stages": stages, "touchpoints": touchpoints, "survey": survey}


def generate() -> dict[str, float]:
    """Write the bench data with SQL; returns the seconds each step took."""
    from django.db import connection, transaction

    from surveys.models import Question

    timings: dict[str, float] = {}
    end = data_end()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE touchpoints_workspace, analytics_answerrollup, analytics_answertouchpointrollup,"
            " analytics_invitationrollup RESTART IDENTITY CASCADE"
        )
    objects = build_schema_objects(end)
    workspace, survey = objects["workspace"], objects["survey"]
    questions = dict(Question.objects.filter(survey=survey).values_list("type", "pk"))
    # 100 slots: touchpoint ids and stage indexes by weight, so one uniform draw picks both.
    slots: list[tuple[int, int]] = []
    total = sum(STAGE_WEIGHTS)
    for stage_index, weight in enumerate(STAGE_WEIGHTS):
        for split, touchpoint in zip(
            TOUCHPOINT_SPLIT, objects["touchpoints"][3 * stage_index : 3 * stage_index + 3], strict=True
        ):
            slots += [(touchpoint.pk, stage_index)] * round(1000 * weight / total * split)
    touchpoint_array = "ARRAY[" + ",".join(str(tp) for tp, _stage in slots) + "]::bigint[]"
    stage_array = "ARRAY[" + ",".join(str(stage) for _tp, stage in slots) + "]::int[]"
    promoter_array = "ARRAY[" + ",".join(f"{(0.7 + nps / 100) / 2:.4f}" for nps in STAGE_NPS) + "]::float8[]"
    answered = ANSWERS // 3 + (1 if ANSWERS % 3 else 0)
    invitations = round(answered / RESPONSE_RATE)
    slot_sql = f"(1 + floor(bench_u(g, 1) * {len(slots)})::int)"
    # Linear growth: the density of sent_at rises with time (sqrt of a uniform).
    # Sent until 34 hours before the end, so every answer (5 to 2,005 minutes later) is in by then.
    sent_sql = f"(bench_end - interval '34 hours' - interval '{DAYS} days' * (1 - sqrt(bench_u(g, 2))))"
    answered_sql = f"({sent_sql} + interval '1 minute' * (5 + 2000 * bench_u(g, 3)))"
    language_sql = _pick_sql("bench_u(g, 4)", LANGUAGES, otherwise="'hu'")
    channel_sql = _pick_sql("bench_u(g, 6)", CHANNELS, otherwise="'email'")
    persona_sql = _pick_sql("bench_u(g, 9)", PERSONAS)
    params = {"workspace": workspace.pk, "survey": survey.pk}

    steps = [
        (
            "functions",
            "CREATE OR REPLACE FUNCTION bench_u(g bigint, salt int) RETURNS double precision"
            " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS"
            " $$ SELECT (hashint8(g * 31 + salt * 1000003)::bigint + 2147483648)::float8 / 4294967296.0 $$",
        ),
        (
            "customers",
            "INSERT INTO touchpoints_customer (workspace_id, external_id, email, language, timezone, traits,"
            " first_seen_at, last_seen_at, created_at, updated_at)"
            f" SELECT %(workspace)s, 'c' || g, 'c' || g || '@example.com', {language_sql}, '',"
            f" CASE WHEN {persona_sql} = '' THEN '{{}}'::jsonb ELSE jsonb_build_object('persona', {persona_sql}) END,"
            " bench_start, bench_end, bench_start, bench_end"
            f" FROM generate_series(1, {CUSTOMERS}) g",
        ),
        (
            "invitations",
            "INSERT INTO surveys_invitation (id, workspace_id, survey_id, customer_id, touchpoint_id, channel,"
            " language, status, token, send_at, expires_at, sent_at, opened_at, answered_at, expired_at,"
            " delivery_attempts, last_error, created_at, updated_at)"
            f" SELECT g, %(workspace)s, %(survey)s, bench_customer0 + 1 + floor(bench_u(g, 5) * {CUSTOMERS})::bigint,"
            f" ({touchpoint_array})[{slot_sql}], {channel_sql},"
            f" {language_sql},"
            f" CASE WHEN g <= {answered} THEN 'answered'"
            f" WHEN {sent_sql} < bench_end - interval '14 days' THEN 'expired' ELSE 'sent' END,"
            f" 'b' || md5(g::text), {sent_sql}, {sent_sql} + interval '14 days', {sent_sql},"
            f" CASE WHEN g <= {answered} THEN {answered_sql} - interval '1 minute' END,"
            f" CASE WHEN g <= {answered} THEN {answered_sql} END,"
            f" CASE WHEN g > {answered} AND {sent_sql} < bench_end - interval '14 days'"
            f" THEN {sent_sql} + interval '14 days' END,"
            f" 0, '', {sent_sql}, {sent_sql}"
            f" FROM generate_series(1, {invitations}) g",
        ),
        (
            "responses",
            "INSERT INTO surveys_response (id, workspace_id, survey_id, invitation_id, language, started_at,"
            " completed_at, is_complete, created_at, updated_at)"
            f" SELECT g, %(workspace)s, %(survey)s, g, {language_sql}, {answered_sql} - interval '40 seconds',"
            f" {answered_sql}, true, {answered_sql}, {answered_sql}"
            f" FROM generate_series(1, {answered}) g",
        ),
        (
            "answers",
            # answer k: response k / 3 + 1 (= its invitation g), question k % 3 (NPS, CSAT, CES).
            "INSERT INTO surveys_answer (workspace_id, response_id, question_id, number, choices, text,"
            " created_at, updated_at)"
            " SELECT %(workspace)s, g, CASE q WHEN 0 THEN %(nps)s WHEN 1 THEN %(csat)s ELSE %(ces)s END,"
            " CASE q"
            f"  WHEN 0 THEN CASE WHEN u < ({promoter_array})[({stage_array})[{slot_sql}] + 1]"
            "    THEN 9 + (v < 0.55)::int"
            f"   WHEN u < ({promoter_array})[({stage_array})[{slot_sql}] + 1] + 0.3 THEN 7 + (v < 0.55)::int"
            "    ELSE floor(7 * sqrt(v))::int END"
            "  WHEN 1 THEN 1 + (u > 0.06)::int + (u > 0.14)::int + (u > 0.30)::int + (u > 0.68)::int"
            "  ELSE 1 + (u > 0.03)::int + (u > 0.07)::int + (u > 0.13)::int + (u > 0.23)::int + (u > 0.43)::int"
            "   + (u > 0.73)::int END,"
            f" '[]'::jsonb, '', {answered_sql}, {answered_sql}"
            " FROM (SELECT k / 3 + 1 AS g, k %% 3 AS q, bench_u(k, 7) AS u, bench_u(k, 8) AS v"
            f"  FROM generate_series(0, {ANSWERS - 1}) k) answers",
        ),
    ]
    params.update({"nps": questions["nps"], "csat": questions["csat"], "ces": questions["ces"]})
    tables = ["touchpoints_customer", "surveys_invitation", "surveys_response", "surveys_answer"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # no FK triggers: ids are consistent
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            [tables],
        )
        secondary = cursor.fetchall()
        for name, _definition in secondary:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM touchpoints_customer")
        customer0 = cursor.fetchone()[0]
        for name, sql in steps:
            started = time.perf_counter()
            sql = (
                sql.replace("bench_customer0", str(customer0))
                .replace("bench_start", f"(CAST(%(end)s AS timestamptz) - interval '{DAYS} days')")
                .replace("bench_end", "CAST(%(end)s AS timestamptz)")
            )
            cursor.execute(sql, {**params, "end": end})
            timings[name] = time.perf_counter() - started
            print(f"  {name}: {timings[name]:.0f} s", file=sys.stderr, flush=True)
        started = time.perf_counter()
        for _name, definition in secondary:
            cursor.execute(definition)
        for table in ("surveys_invitation", "surveys_response"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        timings["indexes"] = time.perf_counter() - started
        print(f"  indexes: {timings['indexes']:.0f} s", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Every table: the journey's nine stages and 27 touchpoints too, which autovacuum never analyzes
        # (too few changes); without their statistics the planner walks all of a journey's invitations
        # to find today's answers (see bench/RESULTS.md).
        cursor.execute("ANALYZE")
    timings["analyze"] = time.perf_counter() - started
    return timings


# --- Export to Parquet -----------------------------------------------------------------------------


def _copy_to_parquet(sql: str, params: list[object], path: Path, schema: object) -> int:
    """``COPY (sql) TO STDOUT`` as CSV into a temp file, then to Parquet with pyarrow (bounded memory)."""
    import pyarrow.csv as pv
    import pyarrow.parquet as pq
    from django.db import connection

    csv_path = path.with_suffix(".csv")
    with connection.cursor() as cursor, csv_path.open("wb") as handle:
        raw = cursor.cursor
        with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
            for block in copy:
                handle.write(block)
    reader = pv.open_csv(
        csv_path,
        read_options=pv.ReadOptions(column_names=schema.names, block_size=64 << 20),
        convert_options=pv.ConvertOptions(column_types=schema),
    )
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    csv_path.unlink()
    return rows


def export(workspace_id: int) -> dict[str, float]:
    """The rows the report aggregates, through the aggregation layer's own joins and filters."""
    import pyarrow as pa

    from analytics.rollups import raw_answers, raw_invitations

    OUT.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    answer_columns = ["day", "stage_id", "touchpoint_id", "survey_id", "channel", "language", "persona"]
    answer_columns += ["question_type", "score"]
    source = raw_answers(workspace_id=workspace_id)
    select = ", ".join(f"{source.dims[name]} AS {name}" for name in answer_columns)
    sql = f"SELECT {select} {source.from_sql} WHERE {' AND '.join(source.where)}"
    schema = pa.schema(
        [
            ("day", pa.date32()),
            ("stage_id", pa.int64()),
            ("touchpoint_id", pa.int64()),
            ("survey_id", pa.int64()),
            ("channel", pa.string()),
            ("language", pa.string()),
            ("persona", pa.string()),
            ("question_type", pa.string()),
            ("score", pa.int16()),
        ]
    )
    started = time.perf_counter()
    rows = _copy_to_parquet(sql, list(source.params), ANSWERS_FILE, schema)
    timings["answers"], timings["answer_rows"] = time.perf_counter() - started, rows

    source = raw_invitations(workspace_id=workspace_id)
    columns = ["day", "stage_id", "touchpoint_id"]
    select = ", ".join(f"{source.dims[name]} AS {name}" for name in columns)
    answered = "CASE WHEN EXISTS (SELECT 1 FROM surveys_answer a WHERE a.response_id = r.id) THEN 1 ELSE 0 END"
    sql = f"SELECT {select}, {answered} AS answered {source.from_sql} WHERE {' AND '.join(source.where)}"
    schema = pa.schema(
        [("day", pa.date32()), ("stage_id", pa.int64()), ("touchpoint_id", pa.int64()), ("answered", pa.int8())]
    )
    started = time.perf_counter()
    rows = _copy_to_parquet(sql, list(source.params), INVITATIONS_FILE, schema)
    timings["invitations"], timings["invitation_rows"] = time.perf_counter() - started, rows
    return timings


# --- Measurements (each in its own process) -------------------------------------------------------


def measure_report(periods: list[tuple[str, str, str]], *, raw: bool) -> dict[str, object]:
    from django.db import transaction

    from analytics.aggregation import ReportFilters
    from analytics.models import RollupState
    from analytics.reports import journey_report
    from touchpoints.models import Journey, Workspace

    workspace = Workspace.objects.get(slug=WORKSPACE_SLUG)
    journey = Journey.objects.get(workspace=workspace)
    baseline = peak_rss_mb()
    result: dict[str, object] = {"baseline_rss_mb": baseline, "periods": {}}
    with transaction.atomic():
        if raw:
            RollupState.objects.filter(workspace=workspace).update(complete_until=None)
        for since, until, _rate_until in periods:
            filters = ReportFilters(since=date.fromisoformat(since), until=date.fromisoformat(until))
            times = []
            for _run in range(1 if raw else RUNS):
                started = time.perf_counter()
                report = journey_report(workspace=workspace, journey=journey, filters=filters)
                times.append(time.perf_counter() - started)
            breakdown = {} if raw else report_breakdown(workspace, journey, filters)
            result["periods"][f"{since}..{until}"] = {
                "times": times,
                "nps_n": {unit.name: unit.figures["nps"].n if unit.figures["nps"] else 0 for unit in report.stages},
                "flags": sorted({(unit.name, flag.kind) for unit in report.units() for flag in unit.flags}),
                "drivers": {unit.name: sorted(unit.drivers) for unit in report.stages if unit.drivers},
                "breakdown": breakdown,
            }
        # The memory the reports took, before the checks below hold every count in Python lists.
        result["peak_rss_mb"] = peak_rss_mb()
        if not raw:
            for since, until, _rate_until in periods:
                filters = ReportFilters(since=date.fromisoformat(since), until=date.fromisoformat(until))
                result["periods"][f"{since}..{until}"]["counts"] = recorded_counts(workspace, journey, filters)
        transaction.set_rollback(True)
    return result


def _json_rows(rows: object) -> list[list[object]]:
    """Rows as sorted JSON-able lists: numbers as ``int``, days and weeks as ISO dates, the rest as text."""
    out = []
    for row in rows:
        values: list[object] = []
        for value in row:
            if hasattr(value, "isoformat"):
                values.append(value.isoformat()[:10])
            elif isinstance(value, str):
                values.append(value)
            else:
                values.append(int(value))
        out.append(values)
    return sorted(out)


def recorded_counts(workspace: object, journey: object, filters: object) -> dict[str, dict[str, object]]:
    """Every count one more report asks the aggregation layer for, with its period and result, by name."""
    from unittest import mock

    from analytics import reports

    calls: dict[str, dict[str, object]] = {}

    def recording(function: object, kind: str) -> object:
        def wrapper(**kwargs: object) -> object:
            frame = function(**kwargs)
            name = f"{kind} by {', '.join(kwargs['by'])}"
            period = kwargs["filters"]
            calls[name] = {
                "period": [period.since.isoformat(), period.until.isoformat()],
                "rows": _json_rows(frame.itertuples(index=False)),
                "stage_ids": sorted(kwargs["stage_ids"]) if kwargs.get("stage_ids") is not None else None,
            }
            return frame

        return wrapper

    with (
        mock.patch.object(reports, "answer_counts", recording(reports.answer_counts, "answers")),
        mock.patch.object(reports, "invitation_counts", recording(reports.invitation_counts, "invitations")),
    ):
        reports.journey_report(workspace=workspace, journey=journey, filters=filters)
    return calls


#: Where a report's time goes, by the tables its queries read (first match).
QUERY_KINDS = (
    ("answer rollup by touchpoint (stages, touchpoints, weeks)", ("analytics_answertouchpointrollup",)),
    ("answer rollup by channel and persona (drivers)", ("analytics_answersegmentrollup",)),
    ("answer rollup by channel, language, persona", ("analytics_answerrollup",)),
    ("invitation rollups", ("analytics_invitationrollup",)),
    # Before the answers: an invitation count's ``answered`` measure reads ``FROM surveys_answer a`` too.
    ("last day's invitations, raw", ("FROM surveys_invitation i",)),
    ("last day's answers, raw", ("FROM surveys_answer a",)),
    ("rollup state (once per count)", ("analytics_rollupstate",)),
    ("behavioural reach (events)", ("WITH stages AS",)),
)


def report_breakdown(workspace: object, journey: object, filters: object) -> dict[str, float]:
    """Seconds of one more report by kind of query, and the rest (Python: pandas, friction, labels)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from analytics.reports import journey_report

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        journey_report(workspace=workspace, journey=journey, filters=filters)
        total = time.perf_counter() - started
    seconds: dict[str, float] = {}
    for query in queries.captured_queries:
        kind = next((name for name, marks in QUERY_KINDS if any(mark in query["sql"] for mark in marks)), "other")
        seconds[kind] = seconds.get(kind, 0.0) + float(query["time"])
    seconds["Python (pandas, friction) and the rest"] = total - sum(seconds.values())
    seconds["total"] = total
    return seconds


def duckdb_sql(kind: str, by: tuple[str, ...], stage_ids: list[int] | None = None) -> str:
    """DuckDB's query for one of :data:`DUCKDB_AGGREGATES` (parameters ``$since``, ``$until``)."""
    columns = ", ".join("date_trunc('week', day)::date AS week" if name == "week" else name for name in by)
    stages = "" if stage_ids is None else f" AND stage_id IN ({', '.join(str(int(i)) for i in stage_ids) or 'NULL'})"
    if kind == "answers":
        return (
            f"SELECT {columns}, question_type, score, count(*) AS n FROM '{ANSWERS_FILE}'"  # noqa: S608 - our names
            f" WHERE day BETWEEN $since AND $until{stages} GROUP BY ALL"
        )
    return (
        f"SELECT {columns}, count(*) AS sent, sum(answered) AS answered FROM '{INVITATIONS_FILE}'"  # noqa: S608
        " WHERE day BETWEEN $since AND $until GROUP BY ALL"
    )


def measure_duckdb(periods: list[tuple[str, str, str, list[int] | None]]) -> dict[str, object]:
    """DuckDB's times; each period's fourth item is the stages the report computed drivers for (None: none)."""
    import duckdb

    stage_only = duckdb_sql("answers", ("stage_id",))
    connection = duckdb.connect()
    baseline = peak_rss_mb()
    result: dict[str, object] = {"baseline_rss_mb": baseline, "threads": None, "periods": {}}
    result["threads"] = connection.execute("SELECT current_setting('threads')").fetchone()[0]
    for since, until, rate_until, driver_stages in periods:
        aggregates = {
            f"{kind} by {', '.join(by)}": (kind, duckdb_sql(kind, by, driver_stages if "channel" in by else None))
            for kind, by in DUCKDB_AGGREGATES
            if driver_stages is not None or "channel" not in by
        }
        answer_period = {"since": date.fromisoformat(since), "until": date.fromisoformat(until)}
        # The response rate's period: the invitations of the last days are left out, as in the report.
        rate_period = {"since": date.fromisoformat(since), "until": date.fromisoformat(rate_until)}
        full_times, stage_times = [], []
        for _run in range(RUNS):
            started = time.perf_counter()
            rows = {
                name: connection.execute(sql, answer_period if kind == "answers" else rate_period).fetchall()
                for name, (kind, sql) in aggregates.items()
            }
            full_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            by_stage = connection.execute(stage_only, answer_period).fetchall()
            stage_times.append(time.perf_counter() - started)
        result["periods"][f"{since}..{until}"] = {
            "full_times": full_times,
            "stage_times": stage_times,
            "stage_only": _json_rows(by_stage),
            "counts": {
                name: {
                    "period": [since, until if kind == "answers" else rate_until],
                    "rows": _json_rows(rows[name]),
                    "stage_ids": driver_stages if name == DRIVERS_AGGREGATE else None,
                }
                for name, (kind, _sql) in aggregates.items()
            },
        }
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def compare_counts(report: dict[str, object], duck: dict[str, object]) -> list[str]:
    """What differs between the report's recorded counts and DuckDB's for one period (empty: all equal)."""
    problems = []
    ours, theirs = report["counts"], duck["counts"]
    for name in sorted(set(ours) - set(theirs)):
        problems.append(f"the report asks for {name}, DuckDB does not compute it")
    for name in sorted(set(theirs) - set(ours)):
        problems.append(f"DuckDB computes {name}, the report does not ask for it")
    for name in sorted(set(ours) & set(theirs)):
        if ours[name].get("stage_ids") != theirs[name].get("stage_ids"):
            problems.append(
                f"{name}: stages {ours[name].get('stage_ids')} in the report, {theirs[name].get('stage_ids')}"
            )
        elif ours[name]["period"] != theirs[name]["period"]:
            problems.append(f"{name}: period {ours[name]['period']} in the report, {theirs[name]['period']} in DuckDB")
        elif ours[name]["rows"] != theirs[name]["rows"]:
            problems.append(
                f"{name}: {len(ours[name]['rows'])} rows in the report and {len(theirs[name]['rows'])} "
                "in DuckDB, not all equal"
            )
    stage = theirs.get("answers by stage_id", {}).get("rows")
    if duck["stage_only"] != stage:
        problems.append("DuckDB's stage × score query differs from its stage aggregate")
    return problems


def run_measure(kind: str, url: str, periods: list) -> dict[str, object]:
    """``kind`` measured in a fresh process of this script, so its peak RSS is its own."""
    command = [sys.executable, __file__, "--measure", kind, "--periods", json.dumps(periods)]
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script
        command, capture_output=True, text=True, check=False, env={**os.environ, "DATABASE_URL": url}
    )
    if completed.returncode != 0:
        raise SystemExit(f"--measure {kind} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --- Main ---------------------------------------------------------------------------------------------


def data_end() -> datetime:
    """Where generated data end: noon UTC yesterday. Rollups are rebuilt as of then, so a report reads
    the rollups up to the day before and that last half day (about 27,000 answers) raw, like a report
    at noon; and the measurement is the same whichever day it runs on."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(hours=12)


def workspace_name(end: datetime) -> str:
    return f"Bench report {GENERATION}, {ANSWERS} answers until {end.isoformat()}"


def generated_end(name: str) -> datetime | None:
    """The data end of a workspace generated with these settings (``None``: other settings, regenerate)."""
    prefix = f"Bench report {GENERATION}, {ANSWERS} answers until "
    return datetime.fromisoformat(name.removeprefix(prefix)) if name.startswith(prefix) else None


def main() -> int:
    url = bench_url()
    if url is None:
        print("skipped: needs PostgreSQL (set DATABASE_URL=postgres://…; the data go to BENCH_REPORT_DB)")
        return 0
    started_all = time.perf_counter()
    created = ensure_database(url)
    setup_django(url)
    from django.core.management import call_command
    from django.db import connection

    from analytics.aggregation import ReportFilters
    from analytics.models import RollupState
    from analytics.reports import response_rate_filters
    from analytics.rollups import rollups_rebuild
    from surveys.models import Answer
    from touchpoints.models import Workspace

    setup: list[str] = []
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    setup.append(
        f"database `{DB_NAME}` {'created' if created else 'reused'}, migrated in {time.perf_counter() - started:.0f} s"
    )
    workspace = Workspace.objects.filter(slug=WORKSPACE_SLUG).first()
    have = Answer.objects.filter(workspace=workspace).count() if workspace else 0
    end = generated_end(workspace.name) if workspace else None
    regenerated = end is None or have != ANSWERS
    if regenerated:
        print(f"generating {ANSWERS:,} answers (found {have:,})…", file=sys.stderr, flush=True)
        timings = generate()
        workspace = Workspace.objects.get(slug=WORKSPACE_SLUG)
        end = generated_end(workspace.name)
        assert end is not None
        setup.append(
            "generated with `INSERT … SELECT generate_series`: "
            + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
        )
    else:
        setup.append(f"reused the {have:,} answers generated before")
    state = RollupState.objects.filter(workspace=workspace).first()
    if regenerated or state is None or state.complete_until != end.date():
        print("rollups_rebuild…", file=sys.stderr, flush=True)
        started = time.perf_counter()
        days = rollups_rebuild(workspace=workspace, now=end)
        setup.append(
            f"`rollups_rebuild` as of the data's end ({end:%Y-%m-%d %H:%M} UTC): {days} days in "
            f"{time.perf_counter() - started:.0f} s"
        )
    else:
        setup.append(f"rollups complete until the data's last day ({end:%Y-%m-%d}) already")
    with connection.cursor() as cursor:
        for table in ROLLUP_TABLES:
            cursor.execute(f"ANALYZE {table}")
    setup.append(
        "rollup tables analyzed before measuring (the steady state: autovacuum analyzes them soon after a "
        "rebuild; until then the planner takes them for empty)"
    )
    answers_file = ANSWERS_FILE
    if regenerated or not answers_file.exists() or not INVITATIONS_FILE.exists():
        print("exporting to Parquet…", file=sys.stderr, flush=True)
        exported = export(workspace.pk)
        setup.append(
            f"exported {exported['answer_rows']:,.0f} answer rows in {exported['answers']:.0f} s and "
            f"{exported['invitation_rows']:,.0f} invitation rows in {exported['invitations']:.0f} s "
            f"(`COPY … TO STDOUT` → pyarrow → Parquet, {answers_file.stat().st_size / 2**20:,.0f} MB of answers)"
        )
    else:
        setup.append(f"reused the Parquet export ({answers_file.stat().st_size / 2**20:,.0f} MB of answers)")

    last = end.date()
    # (first day, last day, last day of the response rate's invitations: RESPONSE_WINDOW before today at most)
    periods = []
    for days in (90, 365):
        since = last - timedelta(days=days - 1)
        rate_until = response_rate_filters(ReportFilters(since=since, until=last)).until
        periods.append((since.isoformat(), last.isoformat(), rate_until.isoformat()))
    print("measuring…", file=sys.stderr, flush=True)
    rounds = []
    for _round in range(ROUNDS):  # alternating, so the shared machine's noise hits both sides
        report_round = run_measure("report", url, periods)
        # DuckDB counts the drivers of the stages the report computed them for.
        duck_periods = [
            (
                *period,
                report_round["periods"][f"{period[0]}..{period[1]}"]["counts"]
                .get(DRIVERS_AGGREGATE, {})
                .get("stage_ids"),
            )
            for period in periods
        ]
        rounds.append((report_round, run_measure("duckdb", url, duck_periods)))
    raw = run_measure("raw", url, periods)
    report, duck = merge_rounds(rounds)
    print_results(setup, periods, report, duck, raw, time.perf_counter() - started_all)
    return 0


def merge_rounds(rounds: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """All rounds' times together (the first round's breakdown), the highest peak RSS, each round's ratio
    (median report / median DuckDB) to show the spread, and each round's count check."""
    per_round = {
        key: (
            [
                statistics.median(one["periods"][key]["times"]) / statistics.median(two["periods"][key]["full_times"])
                for one, two in rounds
            ],
            [compare_counts(one["periods"][key], two["periods"][key]) for one, two in rounds],
        )
        for key in rounds[0][0]["periods"]
    }
    report, duck = rounds[0]
    for other_report, other_duck in rounds[1:]:
        for key, values in report["periods"].items():
            values["times"] += other_report["periods"][key]["times"]
            duck["periods"][key]["full_times"] += other_duck["periods"][key]["full_times"]
            duck["periods"][key]["stage_times"] += other_duck["periods"][key]["stage_times"]
        report["peak_rss_mb"] = max(report["peak_rss_mb"], other_report["peak_rss_mb"])
        duck["peak_rss_mb"] = max(duck["peak_rss_mb"], other_duck["peak_rss_mb"])
    for key, values in report["periods"].items():
        values["round_ratios"], checks = per_round[key]
        values["problems"] = sorted({problem for problems in checks for problem in problems})
    return report, duck


def print_results(
    setup: list[str],
    periods: list[tuple[str, str, str]],
    report: dict,
    duck: dict,
    raw: dict,
    elapsed: float,
) -> None:
    print(
        f"{ANSWERS:,} scale answers (NPS, CSAT, CES; {ANSWERS // 3:,} responses, "
        f"{round(ANSWERS / 3 / RESPONSE_RATE):,} invitations, {CUSTOMERS:,} customers) of one journey of "
        f"nine stages and 27 touchpoints over {DAYS} days, in PostgreSQL (server defaults: "
        "shared_buffers 128 MB, work_mem 4 MB, 2 parallel workers per gather). "
        f"Times are medians of {ROUNDS} rounds × {RUNS} runs, the report and DuckDB alternating round by round, "
        "each measurement in a fresh process; memory is that process's "
        "peak RSS (`VmHWM`; `getrusage` would report the parent's peak), Django and pandas included. "
        "The data end at noon UTC yesterday and the rollups are rebuilt as of then, so each report reads "
        "rollups up to the day before and the last half day raw, as at noon; the response rate's invitations "
        f"end {periods[0][2]} (`response_rate_filters`: 3 days before today at most)."
    )
    print()
    for line in setup:
        print(f"- {line}")
    print()
    aggregates = len(DUCKDB_AGGREGATES)
    print(
        f"| period | `journey_report` (rollups) | DuckDB, the report's {aggregates} aggregates | ratio | "
        "DuckDB, answers by stage and score only | ratio | counts equal | report without rollups (raw, 1 run) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    verdicts = []
    for since, until, _rate_until in periods:
        key = f"{since}..{until}"
        ours = report["periods"][key]
        theirs = duck["periods"][key]
        report_time = statistics.median(ours["times"])
        full_time = statistics.median(theirs["full_times"])
        stage_time = statistics.median(theirs["stage_times"])
        equal = not ours["problems"]
        days = (date.fromisoformat(until) - date.fromisoformat(since)).days + 1
        raw_time = raw["periods"][key]["times"][0]
        n = sum(row[-1] for row in theirs["stage_only"])
        print(
            f"| last {days} days ({n:,} answers) | {report_time * 1000:,.0f} ms | {full_time * 1000:,.0f} ms | "
            f"{report_time / full_time:.2f}× | {stage_time * 1000:,.0f} ms | {report_time / stage_time:.2f}× | "
            f"{'yes' if equal else 'NO'} | {raw_time:,.1f} s |"
        )
        verdicts.append((days, report_time / full_time, report_time / stage_time, equal, ours["round_ratios"]))
    print()
    keys = [f"{since}..{until}" for since, until, _rate_until in periods]
    print(
        "The aggregates (rows each; every round checked: the report's calls recorded, DuckDB's the same set, "
        "the same periods, the same rows):"
    )
    print()
    print("| aggregate | period | " + " | ".join(f"last {verdict[0]} days" for verdict in verdicts) + " |")
    print("|---|---|" + "---|" * len(keys))
    for kind, by in DUCKDB_AGGREGATES:
        name = f"{kind} by {', '.join(by)}"
        period = "the report's" if kind == "answers" else "the response rate's"
        rows = [duck["periods"][key]["counts"][name]["rows"] for key in keys]
        print(f"| {name} | {period} | " + " | ".join(f"{len(found):,}" for found in rows) + " |")
    print()
    problems = [
        f"- DIFFERENT, last {days} days: {problem}"
        for days, key in zip([verdict[0] for verdict in verdicts], keys, strict=True)
        for problem in report["periods"][key]["problems"]
    ]
    if problems:
        print("\n".join(problems))
        print()
    print("Where the report's time goes (one more run in the first round, by the tables its queries read):")
    print()
    names = [name for name, _marks in QUERY_KINDS] + ["other", "Python (pandas, friction) and the rest", "total"]
    print("| part | " + " | ".join(f"last {verdict[0]} days" for verdict in verdicts) + " |")
    print("|---|" + "---|" * len(keys))
    for name in names:
        values = [report["periods"][key]["breakdown"].get(name) for key in keys]
        if any(values):
            print(f"| {name} | " + " | ".join(f"{(value or 0) * 1000:,.0f} ms" for value in values) + " |")
    print()
    year = report["periods"][keys[-1]]
    flags = ", ".join(f"{name} {kind}" for name, kind in year["flags"]) or "none"
    drivers = "; ".join(
        f"last {days} days: " + (", ".join(report["periods"][key]["drivers"]) or "none")
        for days, key in zip([verdict[0] for verdict in verdicts], keys, strict=True)
    )
    print(
        f"Peak RSS: report process {report['peak_rss_mb']:,.0f} MB (after Django setup "
        f"{report['baseline_rss_mb']:,.0f} MB); raw-reading report process {raw['peak_rss_mb']:,.0f} MB; "
        f"DuckDB process {duck['peak_rss_mb']:,.0f} MB ({duck['threads']} threads). "
        f"Flags in the 365-day report: {flags}. Stages with drivers: {drivers}. NPS answers per stage there: "
        + ", ".join(f"{name} {n:,}" for name, n in year["nps_n"].items())
        + "."
    )
    print()
    memory_ok = report["peak_rss_mb"] < TARGET_RSS_MB
    for days, full_ratio, stage_ratio, equal, round_ratios in verdicts:
        spread = " / ".join(f"{ratio:.2f}×" for ratio in round_ratios)
        print(
            f"- last {days} days: {full_ratio:.2f}× DuckDB on the same aggregates (target ≤ {TARGET_RATIO:g}×: "
            f"{'met' if full_ratio <= TARGET_RATIO else 'MISSED'}; round by round {spread}); "
            f"{stage_ratio:.2f}× DuckDB on stage × score alone "
            f"({'met' if stage_ratio <= TARGET_RATIO else 'MISSED'}); counts {'equal' if equal else 'DIFFERENT'}"
        )
    print(
        f"- memory: report process peak {report['peak_rss_mb']:,.0f} MB (target < {TARGET_RSS_MB:,} MB: "
        f"{'met' if memory_ok else 'MISSED'})"
    )
    print()
    print(f"Whole benchmark: {elapsed:,.0f} s.")


def measure_main(kind: str, periods: list[tuple[str, str, str]]) -> int:
    if kind == "duckdb":
        result = measure_duckdb(periods)
    else:
        url = bench_url()
        assert url is not None
        setup_django(url)
        result = measure_report(periods, raw=kind == "raw")
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", choices=["report", "raw", "duckdb"])
    parser.add_argument("--periods", default="[]")
    arguments = parser.parse_args()
    if arguments.measure:
        sys.exit(measure_main(arguments.measure, [tuple(period) for period in json.loads(arguments.periods)]))
    sys.exit(main())
