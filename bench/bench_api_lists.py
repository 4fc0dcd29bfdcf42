"""API list endpoint cost against a bare Django view over the same rows.

Builds a throwaway database (SQLite file in a temp dir unless DATABASE_URL is set,
in which case a ``test_`` database is created and dropped), 200 touchpoints with
event names, then times both views in the same process, interleaved, and reports
medians, the ratio and the query counts.
"""

from __future__ import annotations

import statistics
import time

from common import bench_database  # first: sets Django up
from django.db import connection
from django.http import JsonResponse
from rest_framework.test import APIClient, APIRequestFactory

ROWS = 200
ROUNDS = 60
TARGET_RATIO = 5.0


def build() -> tuple[APIClient, object]:
    from touchpoints import services
    from touchpoints.models import ApiKey, Role, Touchpoint, TouchpointEventName

    workspace = services.workspace_create(name="Bench", slug="bench")
    journey = services.journey_create(workspace=workspace, name="Bench", from_template=True)
    stages = list(journey.stages.all())
    for index in range(ROWS):
        services.touchpoint_create(
            workspace=workspace,
            stage_id=stages[index % len(stages)].pk,
            name=f"Touchpoint {index}",
            channel="web",
            customer_does="Clicks",
            event_names=[f"event_{index}_a", f"event_{index}_b"],
        )
    _key, raw = services.apikey_create(workspace=workspace, name="bench", kind=ApiKey.Kind.SECRET, role=Role.ADMIN)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    fields = (
        "id",
        "stage_id",
        "stage__journey_id",
        "name",
        "channel",
        "customer_does",
        "customer_thinks",
        "customer_feels",
        "owner_team",
        "order",
        "created_at",
        "updated_at",
    )

    def bare_view(request: object) -> JsonResponse:
        """The same answer, hand-written: two queries, values(), no framework."""
        rows = list(Touchpoint.objects.filter(workspace=workspace).order_by("id").values(*fields)[:ROWS])
        names: dict[int, list[str]] = {}
        for touchpoint_id, name in (
            TouchpointEventName.objects.filter(touchpoint_id__in=[row["id"] for row in rows])
            .order_by("name")
            .values_list("touchpoint_id", "name")
        ):
            names.setdefault(touchpoint_id, []).append(name)
        for row in rows:
            row["event_names"] = names.get(row["id"], [])
        return JsonResponse({"count": len(rows), "results": rows})

    return client, bare_view


def timed(call: object) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    from django.conf import settings
    from django.test.utils import get_runner  # noqa: F401 - ensures test settings are loaded

    with bench_database():
        client, bare_view = build()
        request = APIRequestFactory().get("/bare/")
        url = f"/api/v1/touchpoints/?page_size={ROWS}"
        assert len(client.get(url).json()["results"]) == ROWS
        executed: list[str] = []

        def count(execute, sql, params, many, context):  # noqa: ANN001, ANN202 - Django's wrapper signature
            executed.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            client.get(url)
        api_times, bare_times = [], []
        for _ in range(ROUNDS):
            api_times.append(timed(lambda: client.get(url)))
            bare_times.append(timed(lambda: bare_view(request)))
        api, bare = statistics.median(api_times), statistics.median(bare_times)
        ratio = api / bare
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print("| measure | value |\n|---|---|")
        print(f"| rows per page | {ROWS} |")
        print(f"| API median | {api * 1000:.1f} ms |")
        print(f"| bare Django view median (baseline) | {bare * 1000:.1f} ms |")
        print(f"| ratio API / baseline | {ratio:.2f}× (target ≤ {TARGET_RATIO}×: {verdict}) |")
        print(f"| queries per API request | {len(executed)} |")
        print(f"| database | {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} |")


if __name__ == "__main__":
    main()
