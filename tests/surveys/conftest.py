"""Fixtures of the surveys tests."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.touchpoints.factories import MembershipFactory
from touchpoints.models import Role


@pytest.fixture
def page_client(workspace):
    """``page_client(role)``: a browser-like client signed in as a member of ``workspace`` with ``role``."""

    def make(role: str = Role.DESIGNER) -> Client:
        membership = MembershipFactory(workspace=workspace, role=role)
        client = Client()
        client.force_login(membership.user)
        return client

    return make
