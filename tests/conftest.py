"""Shared fixtures: two workspaces, a member per role, API clients by session and by key."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tests.touchpoints.factories import MembershipFactory, UserFactory, WorkspaceFactory
from touchpoints.models import ApiKey, Role, Workspace
from touchpoints.permissions import SESSION_WORKSPACE_KEY
from touchpoints.services import apikey_create

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip with ``reason`` when a server or tool is missing; under ``CI=true`` fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true, so this must run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def workspace(db: None) -> Workspace:
    return WorkspaceFactory(name="Acme", slug="acme")


@pytest.fixture
def other_workspace(db: None) -> Workspace:
    return WorkspaceFactory(name="Globex", slug="globex")


@pytest.fixture
def member_client(workspace: Workspace) -> Callable[..., APIClient]:
    """``member_client(role)``: an API client signed in (session) as a member with ``role``."""

    def make(role: str = Role.ADMIN, ws: Workspace | None = None) -> APIClient:
        membership = MembershipFactory(workspace=ws or workspace, role=role, user=UserFactory())
        client = APIClient()
        client.force_login(membership.user)
        session = client.session
        session[SESSION_WORKSPACE_KEY] = membership.workspace_id
        session.save()
        client.user = membership.user
        return client

    return make


@pytest.fixture
def key_client(workspace: Workspace) -> Callable[..., APIClient]:
    """``key_client(role)`` / ``key_client(kind="write")``: an API client with a bearer key."""

    def make(role: str = Role.ADMIN, kind: str = ApiKey.Kind.SECRET, ws: Workspace | None = None) -> APIClient:
        _key, raw = apikey_create(
            workspace=ws or workspace, name="test", kind=kind, role=role if kind == ApiKey.Kind.SECRET else ""
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make


@pytest.fixture
def admin_api(key_client: Callable[..., APIClient]) -> APIClient:
    return key_client(Role.ADMIN)
