"""The trigger engine on real PostgreSQL, Redis and a real Celery worker process.

Each test runs the web side in this process (pytest-django's live server, or
services called directly) and the worker as a separate ``celery worker``
process on the same test database and a Redis database of its own, so what is
tested is what runs in production: commit, enqueue, a message through Redis, a
worker that may die, the sweep.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection, connections

from surveys import rules, services
from surveys.models import DecisionOutcome, Invitation, TriggerDecision
from surveys.receivers import enqueue_evaluation
from surveys.tasks import sweep_events
from surveys.triggers import events_evaluate
from tests.integration.test_postgres import race
from tests.touchpoints.factories import TouchpointEventNameFactory
from touchpoints.models import ApiKey, TouchpointEvent
from touchpoints.services import apikey_create, events_ingest
from touchpoints.signals import events_ingested

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent.parent
#: The Redis database these tests use as the broker, purged before each.
BROKER_DB = 5
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"
#: Ingest requests (of 1,000 events each) waiting for the worker that gets killed.
BATCHES = 5


def wait_for(
    condition: Callable[[], bool], *, timeout: float = 60, what: str = "the condition", every: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextlib.contextmanager
def broker(url: str) -> Iterator[None]:
    """Send this process's tasks to ``url`` (not eagerly) for the duration; pools are rebuilt both ways."""
    from config.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager

    def reset() -> None:  # as Celery does after a fork: new pools for the new URL
        app._pool = None  # noqa: SLF001 - Celery keeps its connection pools here
        app.amqp._producer_pool = None  # noqa: SLF001

    app.conf.broker_url, app.conf.task_always_eager = url, False
    reset()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved
        reset()


class Worker:
    """A real ``celery worker`` process on the test database; ``start``, ``kill`` (SIGKILL), ``stop``."""

    def __init__(self, broker_url: str, log: Path) -> None:
        self.broker_url, self.log = broker_url, log
        self.app_name = f"jp-worker-{uuid.uuid4().hex[:8]}"
        self.process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        settings = connection.settings_dict
        database = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": database,
            "CELERY_BROKER_URL": self.broker_url,
            "PGAPPNAME": self.app_name,  # libpq: lets the test see the worker's transactions
        }

    def start(self) -> None:
        from config.celery import app

        node = f"{self.app_name}@localhost"
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and the celery module
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-n", node, "-l", "WARNING"],
            cwd=ROOT,
            env=self.env(),
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        with broker(self.broker_url):
            while time.monotonic() < deadline:
                assert self.process.poll() is None, f"the worker exited while starting: {self.log.read_text()}"
                if app.control.ping(destination=[node], timeout=1.0):
                    return
        raise AssertionError(f"the worker did not answer a ping within 60 s: {self.log.read_text()}")

    def in_transaction(self) -> bool:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND xact_start IS NOT NULL",
                [self.app_name],
            )
            return cursor.fetchone()[0] > 0

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def broker_url(redis_url: str) -> str:
    import redis

    url = redis_url.rsplit("/", 1)[0] + f"/{BROKER_DB}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def worker(postgres, broker_url, tmp_path) -> Iterator[Worker]:
    process = Worker(broker_url, tmp_path / "worker.log")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def setup(workspace):
    """A published NPS survey fired by ``order_delivered`` through a link rule; returns (touchpoint, write key)."""
    survey = services.survey_create_from_template(workspace=workspace, template="transactional_nps")
    services.survey_publish(workspace=workspace, survey_id=survey.pk)
    touchpoint = TouchpointEventNameFactory(
        workspace=workspace, touchpoint__stage__journey__workspace=workspace, name="order_delivered"
    ).touchpoint
    rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data={"channel": "link"})
    key = apikey_create(workspace=workspace, name="it", kind=ApiKey.Kind.WRITE)[1]
    return survey, touchpoint, key


def post(url: str, key: str, body: object) -> tuple[int, dict, float]:
    request = urllib.request.Request(  # noqa: S310 - the live server's http URL
        f"{url}/api/v1/events",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.status, json.loads(response.read()), time.monotonic() - started


def all_evaluated() -> bool:
    return not TouchpointEvent.objects.filter(evaluated_at__isnull=True).exists()


def test_twenty_concurrent_identical_posts_store_one_event_and_one_invitation(live_server, worker, broker_url, setup):
    _survey, _touchpoint, key = setup
    worker.start()
    body = {"event": "order_delivered", "user_id": "ann", "properties": {"order": "A-1"}}  # no message id: derived
    barrier = threading.Barrier(20)

    def send(_index: int) -> tuple[int, dict, float]:
        barrier.wait(timeout=10)
        try:
            return post(live_server.url, key, body)
        finally:
            connections.close_all()

    with broker(broker_url), ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(send, range(20)))
    assert [status for status, _body, _time in answers] == [200] * 20
    assert sum(answer["accepted"] for _status, answer, _time in answers) == 1
    assert sum(answer["duplicates"] for _status, answer, _time in answers) == 19
    wait_for(lambda: Invitation.objects.exists() and all_evaluated(), what="the worker's invitation")
    time.sleep(1)  # room for a wrong second invitation to appear
    assert TouchpointEvent.objects.count() == 1
    assert Invitation.objects.count() == 1
    assert TriggerDecision.objects.count() == 1


def test_broker_down_ingest_answers_then_the_sweep_invites_everyone(live_server, worker, broker_url, setup):
    _survey, _touchpoint, key = setup
    with broker(UNREACHABLE_BROKER):
        answers = [post(live_server.url, key, {"event": "order_delivered", "user_id": f"c{i}"}) for i in range(10)]
    assert [status for status, _body, _time in answers] == [200] * 10
    assert max(seconds for _status, _body, seconds in answers) < 10, "ingest must not hang on a dead broker"
    assert TouchpointEvent.objects.filter(evaluated_at__isnull=True).count() == 10
    assert not Invitation.objects.exists()

    worker.start()  # the broker is back
    with broker(broker_url):
        sweep_events.delay(grace_seconds=0)
    wait_for(lambda: Invitation.objects.count() == 10 and all_evaluated(), what="the sweep's invitations")
    assert set(Invitation.objects.values_list("status", flat=True)) == {Invitation.Status.SENT}


def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(worker, broker_url, setup, workspace):
    import redis

    survey, touchpoint, _key = setup
    rules.rule_update(
        workspace=workspace,
        rule_id=survey.trigger_rules.get().pk,
        data={"sampling_rate": 0.5, "conditions": [{"field": "properties.total", "operator": "gt", "value": 10}]},
    )
    with broker(broker_url):  # five ingest requests: five tasks wait in Redis for a worker
        for batch in range(BATCHES):
            items = [
                {"event": "order_delivered", "user_id": f"b{batch}-{i}", "properties": {"total": i % 40}}
                for i in range(1000)
            ]
            with connection.cursor():
                result = events_ingest(workspace=workspace, items=items)
            assert result.accepted == 1000
    assert redis.Redis.from_url(broker_url).llen("celery") == BATCHES
    worker.start()
    wait_for(worker.in_transaction, timeout=60, what="the worker to start a batch", every=0.002)
    worker.kill()
    half_done = TouchpointEvent.objects.filter(evaluated_at__isnull=True).count()
    assert half_done > 0, "the worker finished before it could be killed; the test proves nothing"

    worker.start()  # a restart; the killed task's message stays unacknowledged, the sweep covers it
    with broker(broker_url):
        sweep_events.delay(grace_seconds=0)
    wait_for(all_evaluated, timeout=120, what="every event to be evaluated")

    decisions = TriggerDecision.objects.all()
    assert decisions.count() == BATCHES * 1000  # one per event and rule: none lost, none twice
    invited = set(decisions.filter(outcome=DecisionOutcome.INVITED).values_list("event_id", "rule_id"))
    invitations = list(Invitation.objects.values_list("event_id", "rule_id"))
    assert len(invitations) == len(set(invitations)) == len(invited)
    assert set(invitations) == invited
    assert 0 < len(invited) < BATCHES * 1000


def test_concurrent_evaluations_of_one_customer_never_both_pass_the_throttle(postgres, setup, workspace):
    events_ingested.disconnect(enqueue_evaluation, dispatch_uid="surveys.enqueue_evaluation")
    try:
        pairs = []
        for n in range(15):
            items = [
                {"event": "order_delivered", "user_id": f"same-{n}", "message_id": f"{n}-a"},
                {"event": "order_delivered", "user_id": f"same-{n}", "message_id": f"{n}-b"},
            ]
            pairs.append(events_ingest(workspace=workspace, items=items).event_ids)
    finally:
        events_ingested.connect(enqueue_evaluation, dispatch_uid="surveys.enqueue_evaluation")
    for first, second in pairs:
        _results, errors = race(2, lambda i, ids=(first, second): events_evaluate(event_ids=[ids[i]]))
        assert errors == []
    per_customer = {}
    for customer_id in Invitation.objects.values_list("customer_id", flat=True):
        per_customer[customer_id] = per_customer.get(customer_id, 0) + 1
    assert len(per_customer) == 15
    assert set(per_customer.values()) == {1}
    assert TriggerDecision.objects.filter(outcome=DecisionOutcome.SURVEY_RECONTACT).count() == 15


def test_deterministic_sampling_rate_over_ten_thousand_customers(postgres, setup, workspace):
    survey, _touchpoint, _key = setup
    rules.rule_update(workspace=workspace, rule_id=survey.trigger_rules.get().pk, data={"sampling_rate": 0.3})
    events_ingested.disconnect(enqueue_evaluation, dispatch_uid="surveys.enqueue_evaluation")
    try:
        ids = []
        for batch in range(10):
            items = [{"event": "order_delivered", "user_id": f"s{batch}-{i}"} for i in range(1000)]
            ids.append(events_ingest(workspace=workspace, items=items).event_ids)
    finally:
        events_ingested.connect(enqueue_evaluation, dispatch_uid="surveys.enqueue_evaluation")
    for batch_ids in ids:
        events_evaluate(event_ids=batch_ids)
    invited = Invitation.objects.count()
    sd = (10_000 * 0.3 * 0.7) ** 0.5
    assert abs(invited - 3000) < 4 * sd, invited
    first = dict(TriggerDecision.objects.values_list("event_id", "outcome"))
    TriggerDecision.objects.all().delete()
    Invitation.objects.all().delete()
    TouchpointEvent.objects.update(evaluated_at=None)
    for batch_ids in ids:
        events_evaluate(event_ids=batch_ids)
    assert dict(TriggerDecision.objects.values_list("event_id", "outcome")) == first


def test_a_delayed_invitation_goes_out_through_the_worker_when_due_not_before(worker, broker_url, setup, workspace):
    from datetime import timedelta

    from django.utils import timezone

    from surveys.tasks import dispatch_invitations

    survey, _touchpoint, _key = setup
    rules.rule_update(
        workspace=workspace, rule_id=survey.trigger_rules.get().pk, data={"channel": "email", "delay_minutes": 1}
    )
    occurred = timezone.now() - timedelta(seconds=52)  # due in about 8 s
    worker.start()
    with broker(broker_url):
        events_ingest(
            workspace=workspace,
            items=[
                {
                    "event": "order_delivered",
                    "user_id": "ann",
                    "timestamp": occurred.isoformat(),
                    "traits": {"email": "ann@example.com"},
                }
            ],
        )
        wait_for(lambda: Invitation.objects.exists(), what="the worker's evaluation")
        invitation = Invitation.objects.get()
        assert invitation.status == Invitation.Status.SCHEDULED
        assert invitation.send_at > timezone.now()
        dispatch_invitations.delay()  # not due yet: nothing goes out
        time.sleep(2)
        invitation.refresh_from_db()
        assert invitation.status == Invitation.Status.SCHEDULED
        wait_for(lambda: timezone.now() > invitation.send_at, timeout=30, what="the invitation to fall due")
        dispatch_invitations.delay()
        wait_for(
            lambda: Invitation.objects.filter(status=Invitation.Status.SENT).exists(), what="the worker's dispatch"
        )
    invitation.refresh_from_db()
    assert invitation.sent_at >= invitation.send_at
    assert invitation.delivery_attempts == 1
