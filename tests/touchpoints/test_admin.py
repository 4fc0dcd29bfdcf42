"""The admin cannot mix workspaces, and never leaks a raw API key into a cookie."""

from __future__ import annotations

import pytest

from tests.touchpoints.factories import JourneyFactory, PersonaFactory, StageFactory, TouchpointFactory
from touchpoints.models import ApiKey, Journey, Touchpoint
from touchpoints.selectors import apikey_get_active

pytestmark = pytest.mark.django_db


def journey_form(journey, **overrides):
    data = {
        "workspace": journey.workspace_id,
        "name": journey.name,
        "description": "",
        "map_type": journey.map_type,
        "is_active": "on",
        "stages-TOTAL_FORMS": "0",
        "stages-INITIAL_FORMS": "0",
    }
    return {**data, **overrides}


def test_a_journey_cannot_move_to_another_workspace(admin_client, workspace, other_workspace):
    journey = JourneyFactory(workspace=workspace)
    StageFactory(journey=journey, workspace=workspace)
    admin_client.post(
        f"/admin/touchpoints/journey/{journey.pk}/change/", journey_form(journey, workspace=other_workspace.pk)
    )
    journey.refresh_from_db()
    assert journey.workspace == workspace


def test_a_journey_cannot_take_another_workspaces_persona(admin_client, workspace, other_workspace):
    foreign = PersonaFactory(workspace=other_workspace)
    data = journey_form(JourneyFactory.build(workspace=workspace, name="New"), personas=[foreign.pk])
    response = admin_client.post("/admin/touchpoints/journey/add/", data)
    assert response.status_code == 200
    assert "Choose only rows of the same workspace." in response.content.decode()
    assert not Journey.objects.filter(name="New").exists()


def test_a_touchpoint_can_only_move_within_its_workspace(admin_client, workspace, other_workspace):
    touchpoint = TouchpointFactory(stage__journey__workspace=workspace, stage__workspace=workspace)
    foreign_stage = StageFactory(journey__workspace=other_workspace, workspace=other_workspace)
    response = admin_client.post(
        f"/admin/touchpoints/touchpoint/{touchpoint.pk}/change/",
        {
            "stage": foreign_stage.pk,
            "name": touchpoint.name,
            "channel": "web",
            "order": "0",
            "event_names-TOTAL_FORMS": "0",
            "event_names-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form comes back with an error
    assert Touchpoint.objects.get(pk=touchpoint.pk).stage.workspace == workspace


def test_new_api_key_is_shown_once_and_not_put_in_a_cookie(admin_client, workspace):
    response = admin_client.post(
        "/admin/touchpoints/apikey/add/",
        {"workspace": workspace.pk, "name": "Server", "kind": "secret", "role": "analyst"},
    )
    assert response.status_code == 200
    page = response.content.decode()
    raw = page.split('id="new-api-key" type="text" readonly value="', 1)[1].split('"', 1)[0]
    assert raw.startswith("jp_sk_")
    assert apikey_get_active(raw_key=raw).name == "Server"
    assert "no-store" in response["Cache-Control"]
    assert all(raw not in morsel.value for morsel in response.cookies.values())
    assert raw not in admin_client.get("/admin/touchpoints/apikey/").content.decode()


def test_secret_key_without_role_is_a_form_error(admin_client, workspace):
    response = admin_client.post(
        "/admin/touchpoints/apikey/add/", {"workspace": workspace.pk, "name": "Server", "kind": "secret", "role": ""}
    )
    assert response.status_code == 200
    assert "A secret key needs a role." in response.content.decode()
    assert not ApiKey.objects.exists()
