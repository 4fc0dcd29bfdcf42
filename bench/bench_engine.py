"""Trigger decisions per second: the set-based engine against one evaluation per event.

One workspace, one touchpoint (``order_delivered``) and three rules of three
published surveys: conditions on properties and traits, sampling (0.3 and 0.5),
recontact periods, a daily cap, quiet hours, an email channel with a link
fallback, and the workspace's 14-day contact policy between surveys. ``EVENTS``
events are ingested through ``events_ingest`` with the evaluation receiver
disconnected: four in five come from a new customer, one in five from a returning
one (in the same batch or an earlier one); some customers have no email, a few
have unsubscribed. Then the same events are decided, batch by batch of 1,000 (one
ingest request's), in two ways:

- set-based: ``events_evaluate(event_ids=batch)``, one call (or task) per batch;
- one per event: ``events_evaluate(event_ids=[id])`` per event, in the same order:
  the engine as one task per event would invoke it.

For each batch: set-based, undo (its decisions and invitations deleted,
``evaluated_at`` cleared), one per event, undo, set-based again, so every run of a
batch starts from the same state (the batches before it decided) and a moment's
noise on this shared machine hits both. All of it twice:

- in process: the calls timed in this process (one connection, ``config.settings.test``);
- through Celery (Redis DB 9, one ``--pool=solo`` worker process, production-like
  settings): ``evaluate_triggers`` tasks sent with ``delay()``; the clock runs from
  the first send until the batch's events are all evaluated (polled every 10 ms), so
  sending is included, as the worker starts while the rest is still being sent.

Every way must reach the same outcome for every (event, rule): otherwise the
comparison is of different work and the section says so. Target: set-based
decisions/s >= 20x one task per event.

Needs PostgreSQL and Redis: ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/jpbench2``
(a ``test_`` database is created on it and dropped), ``BENCH_BROKER_URL`` (default
``redis://127.0.0.1:6379/9``, emptied before and after). ``BENCH_ENGINE_EVENTS``
changes the number of events (default 5,000).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from common import bench_database  # first: sets Django up
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

EVENTS = int(os.environ.get("BENCH_ENGINE_EVENTS", "5000"))
BATCH = 1000
TARGET_RATIO = 20.0
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")
ROOT = Path(__file__).resolve().parent.parent
#: Tables a reset empties or rewrites, vacuumed afterwards so no run pays for the previous one's dead rows.
VACUUMED = (
    "VACUUM ANALYZE surveys_invitation",
    "VACUUM ANALYZE surveys_triggerdecision",
    "VACUUM ANALYZE touchpoints_touchpointevent",
    "VACUUM ANALYZE touchpoints_customer",
)


def log(message: str) -> None:
    """Progress goes to stderr; stdout is the Markdown section."""
    print(message, file=sys.stderr, flush=True)  # noqa: T201


def chunks(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


# --- Data -------------------------------------------------------------------------------


def build_workspace() -> tuple[Any, list[Any]]:
    """A workspace with one mapped touchpoint and three active rules on it."""
    from surveys import rules
    from surveys import services as survey_services
    from touchpoints import services

    workspace = services.workspace_create(name="Bench", slug="bench")
    journey = services.journey_create(workspace=workspace, name="Bench", from_template=True)
    touchpoint = services.touchpoint_create(
        workspace=workspace,
        stage_id=journey.stages.first().pk,
        name="Delivery",
        channel="web",
        event_names=["order_delivered"],
    )

    def published(template: str) -> Any:
        survey = survey_services.survey_create_from_template(workspace=workspace, template=template)
        return survey_services.survey_publish(workspace=workspace, survey_id=survey.pk)

    specs = [
        (
            published("transactional_nps"),
            {
                "channel": "email",
                "fallback_channel": "link",
                "delay_minutes": 120,
                "sampling_rate": 0.3,
                "recontact_days": 30,
                "conditions": [{"field": "properties.total", "operator": "gt", "value": 50}],
                "quiet_hours_start": "21:00",
                "quiet_hours_end": "08:00",
            },
        ),
        (
            published("csat_support"),
            {
                "channel": "email",
                "recontact_days": 90,
                "daily_cap": 150,
                "conditions": [{"field": "traits.plan", "operator": "in", "value": ["pro", "business"]}],
            },
        ),
        (
            published("ces_support"),
            {
                "channel": "link",
                "sampling_rate": 0.5,
                "recontact_days": 60,
                "conditions": [{"field": "properties.express", "operator": "ne", "value": True}],
            },
        ),
    ]
    trigger_rules = [
        rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data=data)
        for survey, data in specs
    ]
    return workspace, trigger_rules


def ingest_events(workspace: Any) -> tuple[list[int], int]:
    """Store ``EVENTS`` events, unevaluated, oldest first; returns their ids in decision order and the customers."""
    from touchpoints.models import Customer, TouchpointEvent
    from touchpoints.services import events_ingest

    rng = random.Random(20261123)  # noqa: S311 - reproducible data, not security
    start = timezone.now() - timedelta(minutes=10)
    customers: list[str] = []
    traits: dict[str, dict[str, Any]] = {}
    items = []
    for n in range(EVENTS):
        if n % 5 == 4:  # a returning customer, from this batch or an earlier one
            user_id = rng.choice(customers[-3 * BATCH :])
        else:
            user_id = f"c{len(customers)}"
            customers.append(user_id)
            traits[user_id] = {
                "plan": rng.choice(["free", "free", "pro", "business"]),
                "language": rng.choice(["pl", "en", "hu", "ru"]),
                **({"email": f"{user_id}@example.com"} if rng.random() < 0.8 else {}),
            }
        items.append(
            {
                "event": "order_delivered",
                "user_id": user_id,
                "message_id": f"bench-{n}",
                "timestamp": (start + timedelta(milliseconds=100 * n)).isoformat(),
                "properties": {
                    "order": f"A-{n}",
                    "total": round(rng.uniform(5, 300), 2),
                    "currency": "PLN",
                    "express": rng.random() < 0.3,
                },
                "traits": traits[user_id],
            }
        )
    for batch in chunks(items, BATCH):
        result = events_ingest(workspace=workspace, items=batch)
        assert not result.errors, result.errors[:3]
        assert result.accepted == len(batch), result
    unsubscribed = rng.sample(customers, len(customers) // 100)
    Customer.objects.filter(workspace=workspace, external_id__in=unsubscribed).update(unsubscribed_at=timezone.now())
    event_ids = list(
        TouchpointEvent.objects.filter(workspace=workspace, evaluated_at__isnull=True)
        .order_by("occurred_at", "pk")
        .values_list("pk", flat=True)
    )
    assert len(event_ids) == EVENTS, len(event_ids)
    # Ids ascend with time, so a batch's events are a range of ids (polled as one in evaluate_through_celery).
    assert event_ids == sorted(event_ids), "events were not stored in the order they happened"
    return event_ids, len(customers)


def reset(workspace: Any) -> None:
    """Back to "ingested, nothing decided": the same rows, the same ids, so sampling decides the same."""
    from surveys.models import Invitation, TriggerDecision
    from touchpoints.models import TouchpointEvent

    Invitation.objects.filter(workspace=workspace).delete()
    TriggerDecision.objects.filter(workspace=workspace).delete()
    TouchpointEvent.objects.filter(workspace=workspace).update(evaluated_at=None)
    with connection.cursor() as cursor:
        for statement in VACUUMED:
            cursor.execute(statement)


def undo(workspace: Any, event_ids: list[int]) -> None:
    """Back to the state before these events were decided (those before them stay decided)."""
    from surveys.models import Invitation, TriggerDecision
    from touchpoints.models import TouchpointEvent

    Invitation.objects.filter(workspace=workspace, event_id__in=event_ids).delete()
    TriggerDecision.objects.filter(workspace=workspace, event_id__in=event_ids).delete()
    TouchpointEvent.objects.filter(workspace=workspace, pk__in=event_ids).update(evaluated_at=None)


def snapshot(workspace: Any, event_ids: list[int]) -> tuple[dict[tuple[int, int], str], int]:
    """Every (event, rule) → outcome of these events, and the number of their invitations."""
    from surveys.models import Invitation, TriggerDecision

    decisions = {
        (event_id, rule_id): outcome
        for event_id, rule_id, outcome in TriggerDecision.objects.filter(
            workspace=workspace, event_id__in=event_ids
        ).values_list("event_id", "rule_id", "outcome")
    }
    return decisions, Invitation.objects.filter(workspace=workspace, event_id__in=event_ids).count()


# --- In process ---------------------------------------------------------------------------


def evaluate_in_process(messages: list[list[int]], now: datetime) -> tuple[int, float]:
    """Decisions made and seconds taken for one ``events_evaluate`` per message."""
    from surveys.triggers import events_evaluate

    decisions = 0
    start = time.perf_counter()
    for event_ids in messages:
        decisions += events_evaluate(event_ids=event_ids, now=now).decisions
    return decisions, time.perf_counter() - start


def count_queries(workspace: Any, messages: list[list[int]], now: datetime) -> int:
    from surveys.triggers import events_evaluate

    reset(workspace)
    with CaptureQueriesContext(connection) as queries:
        for event_ids in messages:
            events_evaluate(event_ids=event_ids, now=now)
    return len(queries)


# --- Through Celery -----------------------------------------------------------------------


def database_url() -> str:
    settings = connection.settings_dict
    password = f":{quote(settings['PASSWORD'], safe='')}" if settings.get("PASSWORD") else ""
    return (
        f"postgres://{quote(settings['USER'], safe='')}{password}@{settings['HOST'] or '127.0.0.1'}"
        f":{settings['PORT'] or 5432}/{settings['NAME']}"
    )


@contextmanager
def celery_worker() -> Iterator[None]:
    """A real worker process on ``BROKER_URL``, production-like settings (DEBUG off, persistent connections)."""
    import redis

    from config.celery import app

    redis.Redis.from_url(BROKER_URL).flushdb()
    app.conf.broker_url = BROKER_URL
    app.conf.task_always_eager = False
    node = f"bench-engine-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DEBUG": "false",
        "CONN_MAX_AGE": "60",
        "LOG_LEVEL": "INFO",
    }
    with tempfile.NamedTemporaryFile("w+", prefix="bench-engine-worker-", suffix=".log") as worker_log:
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and the celery module
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-n", node, "-l", "INFO"],
            cwd=ROOT,
            env=env,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            replies: list[Any] = []
            while not replies:
                if worker.poll() is not None or time.monotonic() > deadline:
                    worker_log.seek(0)
                    raise RuntimeError(f"The Celery worker did not start:\n{worker_log.read()[-3000:]}")
                replies = app.control.ping(destination=[node], timeout=1.0)
            yield
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            redis.Redis.from_url(BROKER_URL).flushdb()


def evaluate_through_celery(workspace: Any, messages: list[list[int]]) -> tuple[float, float]:
    """Send one ``evaluate_triggers`` task per message to the running worker; time until all is decided.

    Returns (seconds spent sending, seconds from the first send until the messages' events are all
    evaluated, sending included: the worker starts on the first task while the rest are sent, as
    behind a stream of ingest requests). The messages' events are a range of ids (see
    :func:`ingest_events`), so one cheap query polls them, every 10 ms.

    No pausing the worker meanwhile: after ``cancel_consumer`` its pending ``BRPOP`` may still take
    the first message and put it back at the end of the queue, which reorders the evaluations
    (and, with throttles that depend on order, the decisions); after ``add_consumer`` it only
    listens to a new queue when its current ``BRPOP`` times out, a second later.
    """
    from surveys.tasks import evaluate_triggers
    from touchpoints.models import TouchpointEvent

    pending = TouchpointEvent.objects.filter(
        workspace=workspace, pk__gte=messages[0][0], pk__lte=messages[-1][-1], evaluated_at__isnull=True
    )
    start = time.perf_counter()
    for event_ids in messages:
        evaluate_triggers.delay(workspace.pk, event_ids)
    sent = time.perf_counter() - start
    deadline = time.monotonic() + 1800
    while pending.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("The worker did not evaluate every event within 30 minutes.")
        time.sleep(0.01)
    return sent, time.perf_counter() - start


# --- Series and report --------------------------------------------------------------------------

Run = Callable[[list[list[int]]], tuple[float, float]]


def series(workspace: Any, batches: list[list[int]], run: Run, name: str) -> list[dict[str, Any]]:
    """Per batch: set-based, undo, one per event, undo, set-based again; the noise of a moment hits both.

    Before each run the batches before it are decided and it and those after are not, as after a
    reset: every run of a batch starts from the same state and must reach the same decisions.
    """
    reset(workspace)
    run([[pk] for pk in batches[0][:50]])  # warm-up (imports, connections, caches), not timed
    undo(workspace, batches[0])
    segments = []
    for index, batch in enumerate(batches):
        segment: dict[str, Any] = {"set": [], "single": [], "set_enqueue": [], "single_enqueue": [], "snapshots": []}
        for position, (kind, messages) in enumerate((("set", [batch]), ("single", chunks(batch, 1)), ("set", [batch]))):
            if position:
                undo(workspace, batch)
            enqueued, seconds = run(messages)
            segment[kind].append(seconds)
            segment[f"{kind}_enqueue"].append(enqueued)
            segment["snapshots"].append(snapshot(workspace, batch))
            log(f"{name}, batch {index + 1}, {kind}: {seconds:.2f} s")
        segments.append(segment)
    return segments


def broker_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def main() -> int:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("skipped: needs PostgreSQL (set DATABASE_URL=postgres://…) and Redis")  # noqa: T201
        return 0
    if not broker_answers():
        print(f"skipped: needs Redis at {BROKER_URL} (set BENCH_BROKER_URL)")  # noqa: T201
        return 0
    with bench_database():
        from touchpoints.signals import events_ingested

        # Setup only stores events: nothing may evaluate them behind the benchmark's back.
        events_ingested.disconnect(dispatch_uid="surveys.enqueue_evaluation")
        log("setting up…")
        workspace, trigger_rules = build_workspace()
        event_ids, customers = ingest_events(workspace)
        batches = chunks(event_ids, BATCH)
        now = timezone.now()
        queries_batch = count_queries(workspace, batches[:1], now)
        queries_single = count_queries(workspace, [[event_ids[0]]], now)

        results = {
            "in process": series(
                workspace, batches, lambda messages: (0.0, evaluate_in_process(messages, now)[1]), "in process"
            )
        }
        with celery_worker():
            results["through Celery"] = series(
                workspace,
                batches,
                lambda messages: evaluate_through_celery(workspace, messages),
                "through Celery",
            )
        report(results, trigger_rules, customers, queries_batch, queries_single)
    return 0


def report(
    results: dict[str, list[dict[str, Any]]],
    trigger_rules: list[Any],
    customers: int,
    queries_batch: int,
    queries_single: int,
) -> None:
    reference = results["in process"]
    differing = {
        way: sum(
            snap != reference[index]["snapshots"][0]
            for index, segment in enumerate(segments)
            for snap in segment["snapshots"]
        )
        for way, segments in results.items()
    }
    is_same_work = not any(differing.values())
    decisions_per_batch = [len(segment["snapshots"][0][0]) for segment in reference]

    def rate(way: str, kind: str) -> float:
        segments = results[way]
        seconds = sum(sum(segment[kind]) for segment in segments)
        runs = len(segments[0][kind])
        return runs * sum(decisions_per_batch) / seconds

    def segment_ratio(segment: dict[str, Any]) -> float:
        set_seconds = sum(segment["set"]) / len(segment["set"])
        return segment["single"][0] / set_seconds

    rule_names = ", ".join(f"{rule.survey.name} ({describe(rule)})" for rule in trigger_rules)
    print(f"{EVENTS:,} events of {customers:,} customers, {len(trigger_rules)} rules: {rule_names}.")  # noqa: T201
    print()  # noqa: T201
    print(  # noqa: T201
        f"Per batch of {BATCH:,} events: set-based (one call or task for the batch), then undone and decided "
        "one event at a time (one call or task each), then undone and set-based again."
    )
    print()  # noqa: T201
    print("| way | seconds, all batches | decisions per run | decisions/s |")  # noqa: T201
    print("|---|---|---|---|")  # noqa: T201
    labels = {"set": "set-based", "single": "one per event"}
    for way, segments in results.items():
        for kind, label in labels.items():
            seconds = " / ".join(
                f"{sum(segment[kind][run] for segment in segments):.2f}" for run in range(len(segments[0][kind]))
            )
            print(  # noqa: T201
                f"| {label}, {way} | {seconds} | {sum(decisions_per_batch):,} | {rate(way, kind):,.0f} |"
            )
    print()  # noqa: T201
    print("| batch | " + " | ".join(f"{way}: set-based s | one per event s | ratio" for way in results) + " |")  # noqa: T201
    print("|---|" + "---|---|---|" * len(results))  # noqa: T201
    for index in range(len(reference)):
        cells = []
        for segments in results.values():
            segment = segments[index]
            cells.append(
                f"{' / '.join(f'{value:.2f}' for value in segment['set'])} | {segment['single'][0]:.2f} | "
                f"{segment_ratio(segment):.1f}×"
            )
        print(f"| {index + 1} | " + " | ".join(cells) + " |")  # noqa: T201
    print()  # noqa: T201
    celery = results["through Celery"]
    print(  # noqa: T201
        f"- sending the tasks (within the times above, the worker already busy): "
        f"{sum(sum(s['set_enqueue']) for s in celery):.2f} s for the set-based tasks (both runs), "
        f"{sum(sum(s['single_enqueue']) for s in celery):.2f} s for one task per event"
    )
    print(f"- queries: {queries_batch} per batch of {BATCH:,} events, {queries_single} per single event")  # noqa: T201
    print(  # noqa: T201
        "- worker: `celery -A config worker --pool=solo -l INFO`, `config.settings.local` with DEBUG=false, "
        "CONN_MAX_AGE=60, broker Redis DB 9; in process: `config.settings.test` (DEBUG off), one connection"
    )
    print()  # noqa: T201
    counts = Counter(outcome for segment in reference for outcome in segment["snapshots"][0][0].values())
    invitations = sum(segment["snapshots"][0][1] for segment in reference)
    print(  # noqa: T201
        "- outcomes: "
        + ", ".join(f"{outcome} {n:,}" for outcome, n in counts.most_common())
        + f"; {invitations:,} invitations"
    )
    same = (
        "identical in every run of every way"
        if is_same_work
        else "DIFFERENT: "
        + ", ".join(f"{way}: {n} batch run(s) differ" for way, n in differing.items() if n)
        + " (the ratios below compare different work)"
    )
    print(f"- outcome of every (event, rule) and invitations per batch, against the first in-process run: {same}")  # noqa: T201
    print()  # noqa: T201
    print("| ratio, set-based ÷ one per event (decisions/s) | all batches | median of batches | target |")  # noqa: T201
    print("|---|---|---|---|")  # noqa: T201
    rows = [
        (way, rate(way, "set") / rate(way, "single"), statistics.median(segment_ratio(s) for s in segments))
        for way, segments in results.items()
    ]
    for label, overall, median in rows:
        is_met = is_same_work and overall >= TARGET_RATIO and median >= TARGET_RATIO
        print(  # noqa: T201
            f"| {label} | {overall:.1f}× | {median:.1f}× | ≥ {TARGET_RATIO:.0f}×: {'met' if is_met else 'MISSED'} |"
        )


def describe(rule: Any) -> str:
    parts = [f"{len(rule.conditions)} condition"]
    if rule.sampling_rate < 1:
        parts.append(f"sampling {rule.sampling_rate:g}")
    parts.append(f"recontact {rule.recontact_days} d")
    if rule.daily_cap:
        parts.append(f"daily cap {rule.daily_cap}")
    if rule.quiet_hours_start:
        parts.append("quiet hours")
    parts.append(rule.channel + (f"→{rule.fallback_channel}" if rule.fallback_channel else ""))
    return ", ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
