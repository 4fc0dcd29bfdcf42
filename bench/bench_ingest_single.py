"""Single-event ingest at 32 concurrent clients against a bare DRF view that inserts one row.

A real server in other processes: Django's WSGI application under the standard
library's ``wsgiref`` (the project has no gunicorn or uWSGI), pre-forked into
``BENCH_SERVER_PROCESSES`` processes (default 2) that accept on one socket, each
handing connections to a pool of ``BENCH_SERVER_THREADS`` threads (default 16),
like gunicorn's ``gthread`` worker. Persistent threads keep their database
connection (``CONN_MAX_AGE=300``; production's 60 would recycle each once a minute);
``wsgiref`` speaks HTTP/1.0, so
every request opens a new TCP connection, for both endpoints. Settings:
``config.settings.local`` with ``DEBUG=false``; ``ROOT_URLCONF`` is replaced at start
by a module holding ``config.urls`` plus the baseline's path.

- ingest: ``POST /api/v1/events`` (Bearer write key): parsing, per-item validation,
  the customer's upsert, the event insert, and after commit one ``evaluate_triggers``
  message to Redis DB 9 (``CELERY_TASK_ALWAYS_EAGER=false``; no worker consumes
  them, the database is emptied after each run). A second series measures it with
  the receiver disconnected (no broker).
- baseline: :class:`BaselineInsertApi`, a bare DRF ``APIView`` behind the same
  authentication (the same Bearer write key, looked up the same way) that parses
  the JSON and inserts one ``TouchpointEvent`` row with the ORM.

Load: 32 client threads in this process, each POSTing distinct single events
(``{"event": "order_delivered", "user_id": "c<n>", "message_id": …}``; customers
from a pool of 20,000, new ones first, then returning) one after the other for
``DURATION`` seconds after ``WARMUP`` seconds; latency is measured by the client,
connect to last byte. The endpoints alternate, ``ROUNDS`` times, first one then
the other. The machine has 2 cores: client, server processes, PostgreSQL and
Redis share them. Targets: ingest >= 0.9x the baseline's requests/s (median of
the rounds' ratios), ingest p99 < 50 ms.

Needs PostgreSQL and Redis: ``DATABASE_URL=postgres://postgres@127.0.0.1:5432/jpbench3``
(a ``test_`` database is created on it and dropped), ``BENCH_BROKER_URL`` (default
``redis://127.0.0.1:6379/9``, emptied before, between runs and after).
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from common import bench_database  # first: sets Django up
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from touchpoints.apis.events import ingest_key
from touchpoints.authentication import ApiKeyAuthentication
from touchpoints.models import ApiKey, TouchpointEvent

CLIENTS = 32
DURATION = float(os.environ.get("BENCH_DURATION", "20"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PROCESSES = int(os.environ.get("BENCH_SERVER_PROCESSES", "2"))
THREADS = int(os.environ.get("BENCH_SERVER_THREADS", "16"))
BROKER_URL = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/9")
CUSTOMERS = 20_000
TARGET_RATIO = 0.9
TARGET_P99_MS = 50.0
INGEST_PATH = "/api/v1/events"
BASELINE_PATH = "/bench/events-baseline"
URLCONF = "bench_ingest_single_urls"
ROOT = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    """Progress goes to stderr; stdout is the Markdown section."""
    print(message, file=sys.stderr, flush=True)  # noqa: T201


# --- The baseline and the server (run in the server processes) ---------------------------------


class BaselineInsertApi(APIView):
    """The floor: the ingest's authentication and key check, DRF's JSON parsing, one ``INSERT``."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []

    def post(self, request: Request) -> Response:
        api_key = ingest_key(request.auth if isinstance(request.auth, ApiKey) else None)
        data = request.data
        now = timezone.now()
        TouchpointEvent.objects.create(
            workspace_id=api_key.workspace_id,
            name=str(data["event"]),
            anonymous_id=str(data.get("user_id", "")),
            message_id=str(data["message_id"]),
            properties=data.get("properties") or {},
            occurred_at=now,
            received_at=now,
            evaluated_at=now,
        )
        return Response({"accepted": 1, "duplicates": 0, "errors": []})


def install_urlconf() -> None:
    """``config.urls`` plus the baseline, as the root URLconf of this process."""
    from django.conf import settings

    import config.urls

    module = types.ModuleType(URLCONF)
    module.urlpatterns = [  # type: ignore[attr-defined]
        path(BASELINE_PATH.lstrip("/"), BaselineInsertApi.as_view(), name="bench-events-baseline"),
        *config.urls.urlpatterns,
    ]
    for name in ("handler400", "handler403", "handler404", "handler500"):
        setattr(module, name, getattr(config.urls, name))
    sys.modules[URLCONF] = module
    settings.ROOT_URLCONF = URLCONF


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the overridden signature
        pass


class PooledWSGIServer(WSGIServer):
    """``wsgiref``'s server on an inherited listening socket, requests handled by a fixed thread pool."""

    def __init__(self, listener: socket.socket, threads: int) -> None:
        super().__init__(listener.getsockname(), QuietHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = listener
        self.server_name, self.server_port = "127.0.0.1", listener.getsockname()[1]
        self.setup_environ()
        self.pool = ThreadPoolExecutor(threads)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.pool.submit(self._handle, request, client_address)

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - as socketserver does: report, drop the connection, go on
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


def serve(port: int) -> None:
    """Bind, load the application, fork ``PROCESSES`` workers; stop them all on SIGTERM."""
    from django.core.wsgi import get_wsgi_application

    install_urlconf()
    if os.environ.get("BENCH_ENQUEUE") == "0":
        from touchpoints.signals import events_ingested

        events_ingested.disconnect(dispatch_uid="surveys.enqueue_evaluation")
    application = get_wsgi_application()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1024)
    children = []
    for _ in range(PROCESSES):
        pid = os.fork()
        if pid == 0:  # a worker: no database or broker connection was opened before the fork
            server = PooledWSGIServer(listener, THREADS)
            server.set_app(application)
            server.serve_forever()
            os._exit(0)
        children.append(pid)

    def stop(signum: int, frame: Any) -> None:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        for pid in children:
            os.waitpid(pid, 0)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        signal.pause()


# --- The load (run in this process) ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    settings = connection.settings_dict
    password = f":{quote(settings['PASSWORD'], safe='')}" if settings.get("PASSWORD") else ""
    return (
        f"postgres://{quote(settings['USER'], safe='')}{password}@{settings['HOST'] or '127.0.0.1'}"
        f":{settings['PORT'] or 5432}/{settings['NAME']}"
    )


@contextmanager
def server(*, enqueue: bool) -> Iterator[tuple[int, int]]:
    """The server in its own process group; yields its port and group id once ``/health/`` answers."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": database_url(),
        "DEBUG": "false",
        # Persistent connections as in production (60 s there); 300 so that none is recycled during a
        # run and every PostgreSQL backend lives through it for the CPU accounting.
        "CONN_MAX_AGE": "300",
        "CELERY_BROKER_URL": BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "LOG_LEVEL": "WARNING",
        "BENCH_ENQUEUE": "1" if enqueue else "0",
    }
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and this script
        [sys.executable, str(Path(__file__).resolve()), "serve", str(port)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("The benchmark server did not start.")
            try:
                status, _body = request("GET", port, "/health/", None, {})
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.2)
        yield port, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        wait_for_other_connections_to_close()


def wait_for_other_connections_to_close() -> None:
    """The killed server's backends take a moment to go; the test database can only be dropped after."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.2)


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU of these processes (those gone are skipped)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp
            pids.append(int(entry.name))
    return pids


def database_pids() -> list[int]:
    """The PostgreSQL backends serving the benchmark database, this process's own excepted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]


def request(method: str, port: int, target: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        client.request(method, target, body=body, headers=headers)
        response = client.getresponse()
        return response.status, response.read()
    finally:
        client.close()


def load(
    server_at: tuple[int, int], target: str, raw_key: str, tag: str, counter: Iterator[int], seconds: float
) -> dict[str, Any]:
    """``CLIENTS`` threads POSTing distinct single events for ``seconds``; req/s, latencies and CPU used."""
    port, pgid = server_at
    headers = {"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"}
    latencies: list[list[float]] = [[] for _ in range(CLIENTS)]
    failures: list[list[str]] = [[] for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)
    stamp = timezone.now().isoformat()
    deadline = 0.0

    def client(index: int) -> None:
        barrier.wait()
        while time.perf_counter() < deadline:
            n = next(counter)
            body = json.dumps(
                {
                    "event": "order_delivered",
                    "user_id": f"c{n % CUSTOMERS}",
                    "message_id": f"{tag}-{n}",
                    "timestamp": stamp,
                    "properties": {"order": f"A-{n}", "total": 49.9, "currency": "PLN"},
                }
            ).encode()
            start = time.perf_counter()
            try:
                status, answer = request("POST", port, target, body, headers)
            except OSError as error:
                failures[index].append(repr(error))
                continue
            latencies[index].append(time.perf_counter() - start)
            if status != 200 or b'"accepted":1' not in answer.replace(b" ", b""):
                failures[index].append(f"{status} {answer[:200]!r}")

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    server_pids, backend_pids = group_pids(pgid), database_pids()
    cpu_before = (time.process_time(), cpu_seconds(server_pids), cpu_seconds(backend_pids))
    deadline = time.perf_counter() + seconds
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    backend_pids = sorted(set(backend_pids) | set(database_pids()))  # any backend opened during the run
    client_cpu, server_cpu, database_cpu = (
        after - before
        for after, before in zip(
            (time.process_time(), cpu_seconds(server_pids), cpu_seconds(backend_pids)), cpu_before, strict=True
        )
    )
    merged = sorted(value for values in latencies for value in values)
    errors = [error for values in failures for error in values]
    return {
        "requests": len(merged),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "rate": len(merged) / elapsed,
        "p50": 1000 * merged[len(merged) // 2] if merged else float("nan"),
        "p99": 1000 * merged[min(len(merged) - 1, int(len(merged) * 0.99))] if merged else float("nan"),
        "server_cpu_ms": 1000 * server_cpu / max(len(merged), 1),
        "database_cpu_ms": 1000 * database_cpu / max(len(merged), 1),
        "client_cores": client_cpu / elapsed,
    }


def queries_per_request(workspace: Any, raw_key: str) -> dict[str, int]:
    """Queries of one request of each endpoint, in this process, evaluation not enqueued."""
    from touchpoints.apis.events import EventIngestApi
    from touchpoints.signals import events_ingested

    events_ingested.disconnect(dispatch_uid="surveys.enqueue_evaluation")
    factory = APIRequestFactory()
    counts = {}
    for label, view in (("ingest", EventIngestApi.as_view()), ("baseline", BaselineInsertApi.as_view())):
        for n in range(2):  # the second: the key's last_used_at is fresh, as under load
            body = {"event": "order_delivered", "user_id": f"q{n}", "message_id": f"queries-{label}-{n}"}
            http_request = factory.post("/", body, format="json", HTTP_AUTHORIZATION=f"Bearer {raw_key}")
            with CaptureQueriesContext(connection) as queries:
                response = view(http_request)
            assert response.status_code == 200, response.data
        counts[label] = len(queries)
    return counts


def flush_broker() -> None:
    import redis

    redis.Redis.from_url(BROKER_URL).flushdb()


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
        from touchpoints import services

        workspace = services.workspace_create(name="Bench", slug="bench")
        journey = services.journey_create(workspace=workspace, name="Bench", from_template=True)
        services.touchpoint_create(
            workspace=workspace,
            stage_id=journey.stages.first().pk,
            name="Delivery",
            channel="web",
            event_names=["order_delivered"],
        )
        raw_key = services.apikey_create(workspace=workspace, name="bench", kind=ApiKey.Kind.WRITE)[1]
        queries = queries_per_request(workspace, raw_key)
        connection.close()  # the server processes connect on their own
        counter = itertools.count()
        endpoints = {"ingest": INGEST_PATH, "baseline": BASELINE_PATH}
        results: list[dict[str, Any]] = []
        flush_broker()
        try:
            for series, enqueue in (("with broker", True), ("no enqueue", False)):
                with server(enqueue=enqueue) as server_at:
                    for round_ in range(1, ROUNDS + 1):
                        order = ["ingest", "baseline"] if round_ % 2 else ["baseline", "ingest"]
                        for endpoint in order:
                            tag = f"{series[:2]}-{round_}-{endpoint}"
                            load(server_at, endpoints[endpoint], raw_key, f"warm-{tag}", counter, WARMUP)
                            result = load(server_at, endpoints[endpoint], raw_key, tag, counter, DURATION)
                            flush_broker()
                            result.update(series=series, round=round_, endpoint=endpoint)
                            results.append(result)
                            log(
                                f"{series}, round {round_}, {endpoint}: {result['rate']:.0f} req/s, "
                                f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms, errors {result['errors']}"
                            )
        finally:
            flush_broker()
        report(results, queries)
    return 0


def report(results: list[dict[str, Any]], queries: dict[str, int]) -> None:
    print(  # noqa: T201
        f"Server: Django's WSGI app under stdlib `wsgiref`, {PROCESSES} pre-forked processes × {THREADS} "
        "pooled threads (persistent DB connections, CONN_MAX_AGE=300; HTTP/1.0, a new TCP connection per "
        "request), `config.settings.local` with DEBUG=false, PostgreSQL. Load: "
        f"{CLIENTS} client threads in the benchmark's process (http.client), {DURATION:g} s per run after "
        f"{WARMUP:g} s of warm-up, endpoints alternating. All on one 2-core machine: the client, the server, "
        "PostgreSQL and Redis compete for the same cores."
    )
    print()  # noqa: T201
    print(  # noqa: T201
        f"Baseline: a bare DRF `APIView` with the same Bearer write-key authentication, DRF's JSON parsing and "
        f"one ORM `INSERT` of a `TouchpointEvent`. Queries per request: ingest {queries['ingest']}, "
        f"baseline {queries['baseline']} (the key's `last_used_at` already fresh)."
    )
    print()  # noqa: T201
    print(  # noqa: T201
        "| series | round | endpoint | requests | req/s | p50 ms | p99 ms | errors "
        "| CPU ms/request: Django | PostgreSQL | client CPU (cores) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")  # noqa: T201
    for result in results:
        print(  # noqa: T201
            f"| {result['series']} | {result['round']} | {result['endpoint']} | {result['requests']:,} | "
            f"{result['rate']:,.0f} | {result['p50']:.1f} | {result['p99']:.1f} | {result['errors']} | "
            f"{result['server_cpu_ms']:.2f} | {result['database_cpu_ms']:.2f} | {result['client_cores']:.2f} |"
        )
    errors = [result["first_error"] for result in results if result["first_error"]]
    if errors:
        print(f"\nFirst error: `{errors[0]}`")  # noqa: T201
    print()  # noqa: T201
    print("| series | ingest ÷ baseline req/s, per round | median | ingest p99, per round | targets |")  # noqa: T201
    print("|---|---|---|---|---|")  # noqa: T201
    for series in dict.fromkeys(result["series"] for result in results):
        rows = {(r["round"], r["endpoint"]): r for r in results if r["series"] == series}
        rounds = sorted({round_ for round_, _endpoint in rows})
        ratios = [rows[(round_, "ingest")]["rate"] / rows[(round_, "baseline")]["rate"] for round_ in rounds]
        p99s = [rows[(round_, "ingest")]["p99"] for round_ in rounds]
        ratio, p99 = statistics.median(ratios), statistics.median(p99s)
        has_errors = any(row["errors"] for row in rows.values())
        verdicts = (
            f"≥ {TARGET_RATIO}×: {'met' if ratio >= TARGET_RATIO and not has_errors else 'MISSED'}; "
            f"p99 < {TARGET_P99_MS:.0f} ms (median of rounds): {'met' if p99 < TARGET_P99_MS else 'MISSED'}"
        )
        print(  # noqa: T201
            f"| {series} | {' / '.join(f'{value:.2f}×' for value in ratios)} | {ratio:.2f}× | "
            f"{' / '.join(f'{value:.0f} ms' for value in p99s)} | {verdicts} |"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
    else:
        sys.exit(main())
