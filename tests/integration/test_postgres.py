"""Concurrency on real PostgreSQL: the rules hold when requests race."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from config.errors import ApplicationError
from tests.touchpoints.factories import StageFactory, WorkspaceFactory
from touchpoints import services
from touchpoints.models import Stage, TouchpointEventName

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def race(workers: int, work: Callable[[int], object]) -> tuple[list[object], list[BaseException]]:
    """Run ``work(i)`` in ``workers`` threads released together; collect results and errors."""
    barrier = threading.Barrier(workers)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            outcome = work(index)
            with lock:
                results.append(outcome)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted on by the test
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


def test_runs_on_postgresql(postgres):
    assert connection.vendor == "postgresql"


def test_concurrent_stage_creates_get_distinct_orders(postgres):
    workspace = WorkspaceFactory()
    journey = services.journey_create(workspace=workspace, name="Race")
    results, errors = race(
        8, lambda i: services.stage_create(workspace=workspace, journey_id=journey.pk, name=f"S{i}").order
    )
    assert errors == []
    assert sorted(results) == list(range(1, 9))


def test_concurrent_reorders_leave_a_consistent_order(postgres):
    workspace = WorkspaceFactory()
    journey = services.journey_create(workspace=workspace, name="Race", from_template=True)
    ids = list(journey.stages.order_by("order").values_list("pk", flat=True))
    orders = [ids[i:] + ids[:i] for i in range(6)]
    _results, errors = race(
        6, lambda i: services.stage_reorder(workspace=workspace, journey_id=journey.pk, stage_ids=orders[i])
    )
    assert errors == []
    final = list(Stage.objects.filter(journey=journey).order_by("order").values_list("pk", flat=True))
    assert final in orders
    assert list(Stage.objects.filter(journey=journey).order_by("order").values_list("order", flat=True)) == list(
        range(1, 10)
    )


def test_concurrent_claims_of_one_event_name_leave_one_owner(postgres):
    workspace = WorkspaceFactory()
    stage = StageFactory(journey__workspace=workspace, workspace=workspace)

    def claim(index: int) -> int:
        return services.touchpoint_create(
            workspace=workspace, stage_id=stage.pk, name=f"T{index}", channel="web", event_names=["paid"]
        ).pk

    results, errors = race(6, claim)
    assert len(results) == 1
    assert len(errors) == 5
    assert all(isinstance(error, ApplicationError) for error in errors), errors
    assert TouchpointEventName.objects.filter(workspace=workspace, name="paid").count() == 1


def test_a_rollup_rebuild_leaves_fresh_planner_statistics(postgres):
    from analytics.rollups import ANALYZED_TABLES, rollups_rebuild

    workspace = WorkspaceFactory()
    rollups_rebuild(workspace=workspace)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%s) AND last_analyze IS NOT NULL",
            [list(ANALYZED_TABLES)],
        )
        analysed = {row[0] for row in cursor.fetchall()}
    assert analysed == set(ANALYZED_TABLES)
