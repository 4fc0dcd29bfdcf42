"""Servers for integration tests. Missing ones skip the test with a reason, or fail it under CI=true."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from tests.conftest import require

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres(django_db_blocker) -> None:
    require(
        connection.vendor == "postgresql",
        "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/journeypulse",
    )


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    require(bool(url), "needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        require(False, f"Redis at {url} does not answer: {exc}")
    return url
