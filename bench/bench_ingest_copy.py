"""Batch ingest through HTTP against PostgreSQL ``COPY`` of the same rows into the same table.

The HTTP side is the whole path: the native endpoint (in process, through Django
and DRF), JSON parsing, per-item validation, deduplication, the customers'
upsert and the event insert. The baseline is ``COPY`` of the finished event rows
(customers already known) into ``touchpoints_touchpointevent``. Batches alternate
between the two so the machine's noise hits both. Target: HTTP >= 0.5x COPY.

Trigger evaluation is left out: the service announces its new events after
commit, and in production the surveys app only enqueues a task for a worker;
under the test settings used here Celery is eager and would evaluate the rules
inside the request, timing the worker's job too. So the announcement is muted.

Needs PostgreSQL, on a database of its own (it creates and drops ``test_<name>``;
never CI's ``journeypulse``): ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/jpbench``.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from unittest import mock

from common import bench_database  # first: sets Django up
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

BATCH = 1000
ROUNDS = 10
TARGET_RATIO = 0.5


def main() -> int:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("skipped: needs PostgreSQL (set DATABASE_URL=postgres://…); COPY is the baseline")
        return 0
    with bench_database():
        from touchpoints import services
        from touchpoints.models import ApiKey, Customer, TouchpointEvent
        from touchpoints.signals import events_ingested

        workspace = services.workspace_create(name="Bench", slug="bench")
        journey = services.journey_create(workspace=workspace, name="Bench", from_template=True)
        stage = journey.stages.first()
        services.touchpoint_create(
            workspace=workspace, stage_id=stage.pk, name="Delivery", channel="web", event_names=["order_delivered"]
        )
        raw = services.apikey_create(workspace=workspace, name="bench", kind=ApiKey.Kind.WRITE)[1]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

        def http_batch(round_: int) -> float:
            batch = [
                {
                    "event": "order_delivered",
                    "user_id": f"customer-{(round_ * BATCH + n) % 5000}",  # new and returning customers
                    "message_id": f"http-{round_}-{n}",
                    "timestamp": "2026-11-20T10:00:00Z",
                    "properties": {"order": n, "total": 49.9, "currency": "PLN"},
                    "traits": {"plan": "pro"} if n % 10 == 0 else None,
                }
                for n in range(BATCH)
            ]
            body = json.dumps({"batch": [{k: v for k, v in item.items() if v is not None} for item in batch]})
            start = time.perf_counter()
            response = client.post("/api/v1/events", body, content_type="application/json")
            elapsed = time.perf_counter() - start
            assert response.status_code == 200, response.content[:300]
            assert response.json()["accepted"] == BATCH, response.content[:300]
            return elapsed

        customer_ids = list(Customer.objects.filter(workspace=workspace).values_list("pk", flat=True))
        touchpoint_id = TouchpointEvent.objects.values_list("touchpoint_id", flat=True).first()

        def copy_batch(round_: int) -> float:
            now = timezone.now().isoformat()
            lines = io.StringIO()
            for n in range(BATCH):
                properties = json.dumps({"order": n, "total": 49.9, "currency": "PLN"})
                customer = customer_ids[n % len(customer_ids)]
                fields = [
                    str(workspace.pk),
                    str(customer),
                    "",
                    str(touchpoint_id),
                    "track",
                    "order_delivered",
                    f"copy-{round_}-{n}",
                    properties,
                    "2026-11-20T10:00:00Z",
                    now,
                ]
                lines.write("\t".join(fields) + "\n")
            columns = (
                "workspace_id, customer_id, anonymous_id, touchpoint_id, kind, name, message_id, properties, "
                "occurred_at, received_at"
            )
            start = time.perf_counter()
            with connection.cursor() as cursor:
                raw_cursor = cursor.cursor
                with raw_cursor.copy(f"COPY touchpoints_touchpointevent ({columns}) FROM STDIN") as copy:
                    copy.write(lines.getvalue())
            return time.perf_counter() - start

        http_times, copy_times = [], []
        with mock.patch.object(events_ingested, "send_robust", return_value=[]):  # see the module docstring
            http_batch(-1)  # warm-up: creates the first customers, loads code paths
            customer_ids = list(Customer.objects.filter(workspace=workspace).values_list("pk", flat=True))
            touchpoint_id = TouchpointEvent.objects.values_list("touchpoint_id", flat=True).first()
            for round_ in range(ROUNDS):
                http_times.append(http_batch(round_))
                copy_times.append(copy_batch(round_))
        http_rate = BATCH * ROUNDS / sum(http_times)
        copy_rate = BATCH * ROUNDS / sum(copy_times)
        ratio = http_rate / copy_rate
        print(f"batches: {ROUNDS} x {BATCH} events, interleaved (trigger evaluation not timed)")
        print(f"HTTP ingest: {http_rate:,.0f} events/s")
        print(f"COPY:        {copy_rate:,.0f} rows/s")
        print(f"ratio: {ratio:.2f}x COPY (target >= {TARGET_RATIO}x): {'met' if ratio >= TARGET_RATIO else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
