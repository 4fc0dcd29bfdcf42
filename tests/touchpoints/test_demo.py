"""``seed_demo``: the demo workspace, idempotent, with a JSON mode for scripts.

These tests skip the 90 days of history (``--no-history``) to stay quick;
``tests/analytics/test_demo_history.py`` covers it.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from touchpoints.models import ApiKey, Journey, Persona, Stage, Touchpoint, TouchpointEventName, Workspace

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    models = [Workspace, Persona, Journey, Stage, Touchpoint, TouchpointEventName, get_user_model()]
    return {model.__name__: model.objects.count() for model in models}


def test_seed_demo_builds_a_realistic_journey():
    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    workspace = Workspace.objects.get(slug="demo")
    journey = Journey.objects.get(workspace=workspace)
    assert journey.stages.count() == 9
    touchpoints = Touchpoint.objects.filter(workspace=workspace)
    assert 14 <= touchpoints.count() <= 20
    assert len(set(touchpoints.values_list("channel", flat=True))) >= 6
    assert journey.personas.count() == 3
    assert not journey.stages.filter(touchpoints__isnull=True).exists()


def test_seed_demo_twice_duplicates_nothing():
    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    first = counts()
    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    assert counts() == first


def test_seed_demo_prints_the_login():
    out = StringIO()
    call_command("seed_demo", "--force", "--no-history", stdout=out)
    assert "demo / journeypulse-demo" in out.getvalue()
    assert get_user_model().objects.get(username="demo").check_password("journeypulse-demo")


def test_seed_demo_json_gives_working_keys():
    out = StringIO()
    call_command("seed_demo", "--json", "--force", "--no-history", stdout=out)
    payload = json.loads(out.getvalue())
    assert set(payload) == {"workspace", "username", "password", "write_key", "secret_key"}
    assert payload["workspace"] == "demo"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {payload['secret_key']}")
    journeys = client.get("/api/v1/journeys/").json()["results"]
    assert [journey["name"] for journey in journeys] == ["Online shop"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {payload['write_key']}")
    assert client.get("/api/v1/journeys/").status_code == 403
    assert ApiKey.objects.filter(kind="write").count() == 1


def test_seed_demo_refuses_without_debug():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=StringIO())
    assert not Workspace.objects.exists()


def test_seed_demo_never_resets_an_existing_password():
    from tests.touchpoints.factories import UserFactory

    UserFactory(username="demo", password="my-own-secret")
    out = StringIO()
    call_command("seed_demo", "--force", "--no-history", stdout=out)
    assert get_user_model().objects.get(username="demo").check_password("my-own-secret")
    assert "journeypulse-demo" not in out.getvalue()


def test_seed_demo_adds_published_surveys_in_four_languages():
    from surveys.models import Survey

    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    surveys = Survey.objects.filter(workspace__slug="demo")
    assert sorted(surveys.values_list("kind", flat=True)) == ["ces", "csat", "nps"]
    assert all(survey.status == "active" and survey.languages == ["en", "ru", "pl", "hu"] for survey in surveys)


def test_seed_demo_prints_a_working_survey_link(client):
    from surveys.models import Invitation

    out = StringIO()
    call_command("seed_demo", "--force", "--no-history", stdout=out)
    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    link = next(line for line in out.getvalue().splitlines() if "/s/" in line).split("http://127.0.0.1:8000", 1)[1]
    assert client.get(link.strip()).status_code == 200
    assert Invitation.objects.count() == 4
    assert sorted(Invitation.objects.values_list("customer__language", flat=True)) == ["en", "hu", "pl", "ru"]


def test_seed_demo_makes_fresh_invitations_once_all_are_answered():
    from surveys.models import Invitation

    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    Invitation.objects.update(status="answered")
    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    assert Invitation.objects.filter(status="sent").count() == 4
    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    assert Invitation.objects.count() == 8


def test_seed_demo_adds_trigger_rules_once_and_they_fire(django_capture_on_commit_callbacks):
    from surveys.models import Invitation, TriggerRule
    from touchpoints.services import events_ingest

    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    workspace = Workspace.objects.get(slug="demo")
    rules = TriggerRule.objects.filter(workspace=workspace).select_related("survey", "touchpoint")
    assert {(rule.survey.name, rule.touchpoint.name) for rule in rules} == {
        ("Post-purchase NPS", "Delivery"),
        ("Support CSAT", "Support call"),
        ("App onboarding CES", "App onboarding"),
    }
    with django_capture_on_commit_callbacks(execute=True):
        events_ingest(
            workspace=workspace,
            items=[{"event": "support_call_ended", "user_id": "demo-caller", "traits": {"language": "pl"}}],
        )
    invitation = Invitation.objects.get(customer__external_id="demo-caller")
    assert (invitation.survey.name, invitation.channel, invitation.language) == ("Support CSAT", "link", "pl")
