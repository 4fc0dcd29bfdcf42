"""The journey pages, through the Django test client."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext

from tests.touchpoints.factories import (
    JourneyFactory,
    MembershipFactory,
    PersonaFactory,
    StageFactory,
    TouchpointFactory,
    UserFactory,
)
from touchpoints.models import Journey, Role, Stage, Touchpoint
from touchpoints.permissions import SESSION_WORKSPACE_KEY
from touchpoints.services import journey_create, touchpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_client(workspace):
    def make(role: str = Role.ADMIN) -> Client:
        membership = MembershipFactory(workspace=workspace, role=role)
        client = Client()
        client.force_login(membership.user)
        client.user = membership.user
        return client

    return make


@pytest.fixture
def shop(workspace) -> Journey:
    journey = journey_create(workspace=workspace, name="Shop", from_template=True)
    journey.personas.add(PersonaFactory(workspace=workspace, name="Bella", goals="Low prices"))
    purchase = journey.stages.get(order=5)
    touchpoint_create(
        workspace=workspace,
        stage_id=purchase.pk,
        name="Checkout",
        channel="web",
        customer_does="Pays by card",
        customer_thinks="Too many fields",
        customer_feels="Tense",
        owner_team="Payments",
        event_names=["checkout_completed"],
    )
    return journey


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("touchpoints:journey-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_has_labelled_fields(client, db):
    html = client.get(reverse("login")).content.decode()
    assert re.search(r'<label for="id_username"', html)
    assert re.search(r'<label for="id_password"', html)
    assert '<html lang="en">' in html


def test_login_with_wrong_password_shows_a_form_error(client, db):
    UserFactory(username="ann")
    response = client.post(reverse("login"), {"username": "ann", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_journey_list_shows_only_my_workspace(page_client, workspace, other_workspace, shop):
    JourneyFactory(workspace=other_workspace, name="Their secret journey")
    html = page_client().get(reverse("touchpoints:journey-list")).content.decode()
    assert "Shop" in html
    assert "Their secret journey" not in html
    assert "9 stages" in html


def test_journey_map_shows_stages_in_order_with_cards_and_personas(page_client, shop):
    html = page_client(Role.VIEWER).get(reverse("touchpoints:journey-map", args=[shop.pk])).content.decode()
    positions = [html.index(f">{name}</h3>") for name in ("Awareness", "Intent", "Purchase", "Loyalty")]
    assert positions == sorted(positions)
    for text in ("Checkout", "Pays by card", "Too many fields", "Tense", "Payments", "checkout_completed", "Bella"):
        assert text in html


def test_readers_see_no_edit_forms(page_client, shop):
    html = page_client(Role.ANALYST).get(reverse("touchpoints:journey-map", args=[shop.pk])).content.decode()
    assert "<form" in html  # language switcher, workspace switcher, sign out
    assert reverse("touchpoints:stage-create", args=[shop.pk]) not in html
    assert "Edit stage" not in html


def test_editors_see_labelled_edit_forms(page_client, shop):
    html = page_client(Role.DESIGNER).get(reverse("touchpoints:journey-map", args=[shop.pk])).content.decode()
    stage = shop.stages.get(order=1)
    assert reverse("touchpoints:stage-edit", args=[stage.pk]) in html
    assert f'<label for="id_stage-{stage.pk}-name"' in html
    assert f'id="id_stage-{stage.pk}-name"' in html


def test_map_of_another_workspace_is_404(page_client, other_workspace):
    theirs = JourneyFactory(workspace=other_workspace)
    assert page_client().get(reverse("touchpoints:journey-map", args=[theirs.pk])).status_code == 404


@pytest.mark.parametrize(
    ("url_name", "make"),
    [
        ("stage-edit", lambda ws: StageFactory(journey__workspace=ws, workspace=ws)),
        ("stage-delete", lambda ws: StageFactory(journey__workspace=ws, workspace=ws)),
        ("stage-move", lambda ws: StageFactory(journey__workspace=ws, workspace=ws)),
        ("touchpoint-edit", lambda ws: TouchpointFactory(stage__journey__workspace=ws, stage__workspace=ws)),
        ("touchpoint-delete", lambda ws: TouchpointFactory(stage__journey__workspace=ws, stage__workspace=ws)),
        ("journey-delete", lambda ws: JourneyFactory(workspace=ws)),
    ],
)
def test_cannot_change_another_workspace_through_the_pages(page_client, other_workspace, url_name, make):
    theirs = make(other_workspace)
    response = page_client().post(reverse(f"touchpoints:{url_name}", args=[theirs.pk]), {"direction": "left"})
    assert response.status_code == 404
    assert type(theirs).objects.filter(pk=theirs.pk).exists()


def test_create_journey_from_template(page_client, workspace):
    response = page_client().post(
        reverse("touchpoints:journey-create"),
        {"name": "Onboarding", "map_type": "current_state", "start": "template", "is_active": "on"},
    )
    journey = Journey.objects.get(workspace=workspace, name="Onboarding")
    assert response.status_code == 302
    assert response["Location"] == reverse("touchpoints:journey-map", args=[journey.pk])
    assert journey.stages.count() == 9


def test_create_journey_with_taken_name_shows_the_error_at_the_field(page_client, shop):
    response = page_client().post(
        reverse("touchpoints:journey-create"), {"name": "Shop", "map_type": "current_state", "start": "blank"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_name_errors"' in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_name_errors"' in html
    assert Journey.objects.filter(name="Shop").count() == 1


def test_readers_cannot_create(page_client, workspace):
    response = page_client(Role.VIEWER).post(
        reverse("touchpoints:journey-create"), {"name": "X", "map_type": "current_state", "start": "blank"}
    )
    assert response.status_code == 403
    assert not Journey.objects.filter(name="X").exists()


def test_edit_stage_in_place(page_client, shop):
    stage = shop.stages.get(order=2)
    response = page_client().post(
        reverse("touchpoints:stage-edit", args=[stage.pk]),
        {f"stage-{stage.pk}-name": "Compare", f"stage-{stage.pk}-description": "Side by side"},
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"#stage-{stage.pk}")
    stage.refresh_from_db()
    assert (stage.name, stage.description) == ("Compare", "Side by side")


def test_move_stage_left(page_client, shop):
    second = shop.stages.get(order=2)
    page_client().post(reverse("touchpoints:stage-move", args=[second.pk]), {"direction": "left"})
    second.refresh_from_db()
    assert second.order == 1
    assert list(shop.stages.order_by("order").values_list("order", flat=True)) == list(range(1, 10))


def test_add_touchpoint_with_taken_event_name_keeps_input_and_shows_error(page_client, shop):
    stage = shop.stages.get(order=6)
    prefix = f"new-touchpoint-{stage.pk}"
    response = page_client().post(
        reverse("touchpoints:touchpoint-create", args=[stage.pk]),
        {f"{prefix}-name": "Delivery", f"{prefix}-channel": "in_person", f"{prefix}-event_names": "checkout_completed"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Checkout" in html  # names the touchpoint that owns the event
    assert 'value="Delivery"' in html
    assert not Touchpoint.objects.filter(name="Delivery").exists()


def test_edit_touchpoint_in_place(page_client, shop):
    touchpoint = Touchpoint.objects.get(name="Checkout")
    prefix = f"touchpoint-{touchpoint.pk}"
    response = page_client().post(
        reverse("touchpoints:touchpoint-edit", args=[touchpoint.pk]),
        {
            f"{prefix}-name": "One-page checkout",
            f"{prefix}-channel": "app",
            f"{prefix}-customer_feels": "Relieved",
            f"{prefix}-event_names": "checkout_completed, order_paid",
        },
    )
    assert response.status_code == 302
    touchpoint.refresh_from_db()
    assert (touchpoint.name, touchpoint.channel, touchpoint.customer_feels) == ("One-page checkout", "app", "Relieved")
    assert sorted(touchpoint.event_names.values_list("name", flat=True)) == ["checkout_completed", "order_paid"]


def test_add_and_delete_stage(page_client, shop):
    client = page_client()
    client.post(reverse("touchpoints:stage-create", args=[shop.pk]), {"new-stage-name": "Win-back"})
    stage = Stage.objects.get(journey=shop, name="Win-back")
    assert stage.order == 10
    client.post(reverse("touchpoints:stage-delete", args=[stage.pk]))
    assert not Stage.objects.filter(pk=stage.pk).exists()


def test_workspace_switcher(workspace, other_workspace, shop):
    user = UserFactory()
    MembershipFactory(user=user, workspace=workspace)
    MembershipFactory(user=user, workspace=other_workspace, role=Role.VIEWER)
    JourneyFactory(workspace=other_workspace, name="Globex journey")
    client = Client()
    client.force_login(user)
    assert "Shop" in client.get(reverse("touchpoints:journey-list")).content.decode()
    client.post(reverse("touchpoints:workspace-switch"), {"workspace": other_workspace.pk})
    html = client.get(reverse("touchpoints:journey-list")).content.decode()
    assert "Globex journey" in html
    assert "Shop" not in html


def test_switching_to_a_foreign_workspace_is_refused(page_client, workspace, other_workspace):
    client = page_client()
    client.post(reverse("touchpoints:workspace-switch"), {"workspace": other_workspace.pk})
    assert client.session.get(SESSION_WORKSPACE_KEY) is None
    html = client.get(reverse("touchpoints:journey-list")).content.decode()
    assert "Journeys of Acme" in html


def test_forged_session_workspace_falls_back_to_own(page_client, workspace, other_workspace):
    JourneyFactory(workspace=other_workspace, name="Their secret journey")
    client = page_client()
    session = client.session
    session[SESSION_WORKSPACE_KEY] = other_workspace.pk
    session.save()
    html = client.get(reverse("touchpoints:journey-list")).content.decode()
    assert "Their secret journey" not in html


@pytest.mark.parametrize("language", ["ru", "pl", "hu"])
def test_language_switcher_translates_the_ui(page_client, shop, language):
    client = page_client()
    client.post(reverse("set_language"), {"language": language, "next": "/journeys/"})
    html = client.get(reverse("touchpoints:journey-list")).content.decode()
    with translation.override(language):
        heading = gettext("Journeys of %(workspace)s")
        stages = ngettext("%(counter)s stage", "%(counter)s stages", 9)
    assert heading != "Journeys of %(workspace)s", "the catalogue has no translation"
    assert f'<html lang="{language}">' in html
    assert heading % {"workspace": "Acme"} in html
    assert stages % {"counter": 9} in html


def test_user_without_workspace_gets_an_explanation(client, db):
    client.force_login(UserFactory())
    response = client.get(reverse("touchpoints:journey-list"))
    assert response.status_code == 403
    assert "not a member of any workspace" in response.content.decode()
