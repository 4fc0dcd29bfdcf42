"""Redis as the broker, and a real Celery worker process answering over it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent.parent


def test_redis_answers(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    key = f"journeypulse-test-{uuid.uuid4().hex}"
    client.set(key, "1", ex=30)
    assert client.get(key) == b"1"
    client.delete(key)


def test_a_real_worker_connects_through_redis(redis_url):
    from config.celery import app

    node = f"test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "CELERY_BROKER_URL": redis_url,
    }
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and the celery module
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-n", node, "-l", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        app.conf.broker_url = redis_url
        deadline = time.monotonic() + 60
        replies: list = []
        while time.monotonic() < deadline and not replies:
            assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else "worker exited"
            with app.connection_for_write(redis_url) as conn:
                replies = app.control.ping(destination=[node], timeout=1.0, connection=conn)
        assert replies, "the worker did not answer a ping within 60 s"
        assert node in replies[0]
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
