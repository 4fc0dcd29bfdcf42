"""Hostile and odd input gets a 400 with field errors (API) or a form error (pages), never a 500."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from tests.touchpoints.factories import JourneyFactory, MembershipFactory, StageFactory
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import Customer, Journey, Role, Touchpoint
from touchpoints.permissions import SESSION_WORKSPACE_KEY
from touchpoints.services import journey_create

pytestmark = pytest.mark.django_db

HUGE = 10**30


@pytest.mark.parametrize("value", [HUGE, -1, 0, 2**63])
def test_out_of_range_ids_in_the_body_are_field_errors(admin_api, value):
    response = admin_api.post(reverse("api:journey-list"), {"name": "J", "persona_ids": [value]}, format="json")
    assert_error(response, 400, "persona_ids.0")
    response = admin_api.post(reverse("api:stage-list"), {"journey": value, "name": "S"}, format="json")
    assert_error(response, 400, "journey")
    assert not Journey.objects.filter(name="J").exists()


@pytest.mark.parametrize(
    ("basename", "params"),
    [
        ("stage", {"journey": str(HUGE)}),
        ("stage", {"journey": "1e40"}),
        ("stage", {"journey": "1.5"}),
        ("journey", {"persona": str(HUGE)}),
        ("touchpoint", {"stage": "-3"}),
        ("touchpoint", {"journey": "abc"}),
    ],
)
def test_bad_id_filters_are_400(admin_api, basename, params):
    field = next(iter(params))
    assert_error(admin_api.get(reverse(f"api:{basename}-list"), params), 400, field)


def test_deeply_nested_json_is_a_parse_error(admin_api):
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = admin_api.post(reverse("api:journey-list"), body, content_type="application/json")
    assert assert_error(response, 400)["code"] == "parse_error"


@pytest.mark.parametrize(
    "traits",
    [
        '{"a": "\\ud800"}',
        '{"a": "\\u0000"}',
        '{"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}',
        json.dumps({"big": "x" * 20_000}),
    ],
)
def test_unstorable_traits_are_field_errors(admin_api, traits):
    body = '{"external_id": "u1", "traits": ' + traits + "}"
    response = admin_api.post(reverse("api:customer-list"), body, content_type="application/json")
    assert_error(response, 400, "traits")
    assert not Customer.objects.exists()


def test_too_many_event_names_is_a_field_error(admin_api, workspace):
    stage = StageFactory(journey__workspace=workspace, workspace=workspace)
    names = [f"e{i}" for i in range(1000)]
    response = admin_api.post(
        reverse("api:touchpoint-list"),
        {"stage": stage.pk, "name": "T", "channel": "web", "event_names": names},
        format="json",
    )
    assert_error(response, 400, "event_names")
    assert not Touchpoint.objects.exists()


@pytest.mark.parametrize("order", [2**31, 1_000_001, 11])
def test_stage_orders_stay_contiguous_whatever_is_asked(admin_api, workspace, order):
    journey = journey_create(workspace=workspace, name="Shop", from_template=True)
    response = admin_api.post(
        reverse("api:stage-list"), {"journey": journey.pk, "name": "Far", "order": order}, format="json"
    )
    assert_error(response, 400, "order")
    stage = journey.stages.get(order=1)
    assert admin_api.delete(reverse("api:stage-detail", args=[journey.stages.get(order=2).pk])).status_code == 204
    response = admin_api.patch(reverse("api:stage-detail", args=[stage.pk]), {"order": 8}, format="json")
    assert response.status_code == 200
    assert list(journey.stages.order_by("order").values_list("order", flat=True)) == list(range(1, 9))


def test_external_ids_with_slashes_can_be_read_and_erased(admin_api):
    admin_api.post(reverse("api:customer-list"), {"external_id": "acct/42"}, format="json")
    url = reverse("api:customer-detail", args=["acct/42"])
    assert url.endswith("/customers/acct/42/")
    assert admin_api.get(url).json()["external_id"] == "acct/42"
    assert admin_api.delete(url).status_code == 204
    assert not Customer.objects.exists()


def test_editing_a_customer_does_not_mark_them_seen(admin_api):
    created = admin_api.post(reverse("api:customer-list"), {"external_id": "u1"}, format="json").json()
    updated = admin_api.patch(reverse("api:customer-detail", args=["u1"]), {"language": "pl"}, format="json").json()
    assert updated["language"] == "pl"
    assert updated["last_seen_at"] == created["last_seen_at"]


@pytest.fixture
def admin_page(workspace) -> Client:
    membership = MembershipFactory(workspace=workspace, role=Role.ADMIN)
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.mark.parametrize("value", [str(HUGE), "²", "-1", "abc", ""])
def test_workspace_switcher_with_odd_ids_is_a_message(admin_page, workspace, value):
    response = admin_page.post(reverse("touchpoints:workspace-switch"), {"workspace": value}, follow=True)
    assert response.status_code == 200
    assert "not a member of that workspace" in response.content.decode()
    assert admin_page.session.get(SESSION_WORKSPACE_KEY) is None


@pytest.mark.parametrize("value", [str(HUGE), "x", "-5", "9" * 5000])
def test_journey_form_with_forged_persona_is_a_form_error(admin_page, workspace, value):
    response = admin_page.post(
        reverse("touchpoints:journey-create"),
        {"name": "J", "map_type": "current_state", "start": "blank", "persona_ids": [value]},
    )
    assert response.status_code == 400
    assert 'id="id_persona_ids_errors"' in response.content.decode()
    journey = JourneyFactory(workspace=workspace)
    response = admin_page.post(
        reverse("touchpoints:journey-edit", args=[journey.pk]),
        {"name": "J2", "map_type": "current_state", "persona_ids": [value]},
    )
    assert response.status_code == 400
    assert not Journey.objects.filter(name__in=["J", "J2"]).exists()


def test_nul_in_a_customer_id_in_the_url_is_404(admin_api):
    assert_error(admin_api.get("/api/v1/customers/a%00b/"), 404)
