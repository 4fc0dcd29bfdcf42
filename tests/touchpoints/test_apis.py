"""The /api/v1/ resources: shape, scoping, roles, PII, errors and query counts."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.touchpoints.factories import (
    CustomerFactory,
    JourneyFactory,
    PersonaFactory,
    StageFactory,
    TouchpointEventNameFactory,
    TouchpointFactory,
)
from touchpoints.models import ApiKey, Customer, Journey, Role, Stage, Touchpoint
from touchpoints.services import journey_create

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, *fields: str) -> dict:
    """The one error shape: {"error": {"code", "message", "fields"}}, naming ``fields``."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["message"]
    for field in fields:
        assert field in body["error"]["fields"], body
    return body["error"]


# --- Authentication and roles ----------------------------------------------------------


class TestAuthentication:
    def test_anonymous_is_401_in_the_error_shape(self, client, db):
        response = client.get(reverse("api:journey-list"))
        error = assert_error(response, 401)
        assert error["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_unknown_key_is_401(self, client, db):
        response = client.get(reverse("api:journey-list"), HTTP_AUTHORIZATION="Bearer jp_sk_nope")
        assert assert_error(response, 401)["code"] == "authentication_failed"

    def test_write_key_is_refused_with_403(self, key_client):
        response = key_client(kind=ApiKey.Kind.WRITE).get(reverse("api:journey-list"))
        error = assert_error(response, 403)
        assert "write key" in error["message"].lower()

    def test_revoked_key_is_401(self, workspace, key_client):
        client = key_client(Role.ADMIN)
        ApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
        assert_error(client.get(reverse("api:journey-list")), 401)

    def test_session_user_without_membership_is_403(self, client, db):
        from tests.touchpoints.factories import UserFactory

        client.force_login(UserFactory())
        assert assert_error(client.get(reverse("api:journey-list")), 403)["code"] == "permission_denied"

    def test_key_use_is_recorded(self, workspace, key_client):
        key_client(Role.VIEWER).get(reverse("api:journey-list"))
        assert ApiKey.objects.get().last_used_at is not None


class TestRoles:
    @pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
    @pytest.mark.parametrize("credential", ["session", "key"])
    def test_readers_read_but_cannot_write(self, workspace, member_client, key_client, role, credential):
        client = member_client(role) if credential == "session" else key_client(role)
        JourneyFactory(workspace=workspace, name="Shop")
        listed = client.get(reverse("api:journey-list"))
        assert listed.status_code == 200
        assert [j["name"] for j in listed.json()["results"]] == ["Shop"]
        assert_error(client.post(reverse("api:journey-list"), {"name": "New"}, format="json"), 403)
        assert not Journey.objects.filter(name="New").exists()

    @pytest.mark.parametrize("role", [Role.DESIGNER, Role.ADMIN])
    def test_designers_and_admins_write(self, key_client, role):
        response = key_client(role).post(reverse("api:journey-list"), {"name": "New"}, format="json")
        assert response.status_code == 201
        assert Journey.objects.filter(name="New").exists()

    def test_session_writes_need_csrf(self, workspace, member_client):
        client = member_client(Role.ADMIN)
        client.enforce_csrf_checks = True
        client.handler.enforce_csrf_checks = True
        response = client.post(reverse("api:journey-list"), {"name": "New"}, format="json")
        assert_error(response, 403)
        assert not Journey.objects.filter(name="New").exists()


# --- Workspace isolation --------------------------------------------------------------

ISOLATION_CASES = [
    ("journey", lambda ws: JourneyFactory(workspace=ws), {"name": "Hijacked"}),
    ("stage", lambda ws: StageFactory(journey__workspace=ws, workspace=ws), {"name": "Hijacked"}),
    (
        "touchpoint",
        lambda ws: TouchpointFactory(stage__journey__workspace=ws, stage__workspace=ws),
        {"name": "Hijacked"},
    ),
    ("persona", lambda ws: PersonaFactory(workspace=ws), {"name": "Hijacked"}),
]


class TestIsolation:
    @pytest.mark.parametrize(("basename", "make", "change"), ISOLATION_CASES)
    def test_member_of_a_cannot_reach_b(self, other_workspace, admin_api, basename, make, change):
        theirs = make(other_workspace)
        model = type(theirs)
        detail = reverse(f"api:{basename}-detail", args=[theirs.pk])
        assert admin_api.get(reverse(f"api:{basename}-list")).json()["results"] == []
        assert_error(admin_api.get(detail), 404)
        assert_error(admin_api.patch(detail, change, format="json"), 404)
        assert_error(admin_api.delete(detail), 404)
        theirs_now = model.objects.get(pk=theirs.pk)
        assert theirs_now.name != "Hijacked"

    def test_customer_of_b_is_invisible(self, other_workspace, admin_api):
        CustomerFactory(workspace=other_workspace, external_id="bob")
        assert admin_api.get(reverse("api:customer-list")).json()["results"] == []
        assert_error(admin_api.get(reverse("api:customer-detail", args=["bob"])), 404)
        assert_error(admin_api.delete(reverse("api:customer-detail", args=["bob"])), 404)
        assert Customer.objects.filter(external_id="bob").exists()

    def test_cannot_attach_to_b_through_the_body(self, other_workspace, admin_api):
        their_journey = JourneyFactory(workspace=other_workspace)
        their_stage = StageFactory(journey=their_journey, workspace=other_workspace)
        response = admin_api.post(reverse("api:stage-list"), {"journey": their_journey.pk, "name": "X"}, format="json")
        assert_error(response, 400, "journey")
        response = admin_api.post(
            reverse("api:touchpoint-list"), {"stage": their_stage.pk, "name": "X", "channel": "web"}, format="json"
        )
        assert_error(response, 400, "stage")
        assert not Stage.objects.filter(name="X").exists()
        assert not Touchpoint.objects.filter(name="X").exists()

    def test_filters_do_not_reveal_b(self, other_workspace, admin_api):
        their_journey = JourneyFactory(workspace=other_workspace)
        StageFactory(journey=their_journey, workspace=other_workspace)
        response = admin_api.get(reverse("api:stage-list"), {"journey": their_journey.pk})
        assert response.status_code == 200
        assert response.json()["results"] == []


# --- Resources ---------------------------------------------------------------------------


class TestJourneys:
    def test_create_from_template_and_read_back(self, admin_api, workspace):
        persona = PersonaFactory(workspace=workspace, name="Bella")
        response = admin_api.post(
            reverse("api:journey-list"),
            {"name": "Shop", "from_template": True, "persona_ids": [persona.pk], "map_type": "future_state"},
            format="json",
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["stage_count"] == 9
        assert body["map_type"] == "future_state"
        assert body["personas"] == [{"id": persona.pk, "name": "Bella"}]
        assert admin_api.get(reverse("api:journey-detail", args=[body["id"]])).json() == body

    def test_empty_name_is_a_field_error(self, admin_api):
        error = assert_error(admin_api.post(reverse("api:journey-list"), {"name": ""}, format="json"), 400, "name")
        assert error["code"] == "invalid"

    def test_duplicate_name_is_a_field_error(self, admin_api, workspace):
        JourneyFactory(workspace=workspace, name="Shop")
        assert_error(admin_api.post(reverse("api:journey-list"), {"name": "Shop"}, format="json"), 400, "name")

    def test_bad_types_are_field_errors_not_500(self, admin_api):
        response = admin_api.post(
            reverse("api:journey-list"),
            {"name": ["x"], "is_active": "perhaps", "persona_ids": "all", "map_type": 3},
            format="json",
        )
        assert_error(response, 400, "name", "is_active", "persona_ids", "map_type")

    def test_malformed_json_is_a_400(self, admin_api):
        response = admin_api.post(reverse("api:journey-list"), "{not json", content_type="application/json")
        assert assert_error(response, 400)["code"] == "parse_error"

    def test_non_numeric_id_is_a_404(self, admin_api):
        response = admin_api.get("/api/v1/journeys/abc/")
        assert assert_error(response, 404)["code"] == "not_found"

    def test_patch_and_delete(self, admin_api, workspace):
        journey = JourneyFactory(workspace=workspace, name="Old")
        url = reverse("api:journey-detail", args=[journey.pk])
        response = admin_api.patch(url, {"name": "New", "is_active": False}, format="json")
        assert response.json()["name"] == "New"
        assert response.json()["is_active"] is False
        assert admin_api.delete(url).status_code == 204
        assert not Journey.objects.filter(pk=journey.pk).exists()

    def test_filter_and_order(self, admin_api, workspace):
        JourneyFactory(workspace=workspace, name="B", is_active=True)
        JourneyFactory(workspace=workspace, name="A", is_active=True)
        JourneyFactory(workspace=workspace, name="C", is_active=False)
        names = [
            j["name"]
            for j in admin_api.get(reverse("api:journey-list"), {"is_active": "true", "ordering": "-name"}).json()[
                "results"
            ]
        ]
        assert names == ["B", "A"]

    def test_reorder_stages(self, admin_api, workspace):
        journey = journey_create(workspace=workspace, name="Shop", from_template=True)
        ids = list(journey.stages.order_by("order").values_list("pk", flat=True))
        new = [ids[-1], *ids[:-1]]
        response = admin_api.post(
            reverse("api:journey-reorder-stages", args=[journey.pk]), {"stage_ids": new}, format="json"
        )
        assert response.status_code == 200
        assert [s["id"] for s in response.json()] == new
        assert [s["order"] for s in response.json()] == list(range(1, 10))

    def test_reorder_with_missing_stage_is_a_field_error(self, admin_api, workspace):
        journey = journey_create(workspace=workspace, name="Shop", from_template=True)
        ids = list(journey.stages.values_list("pk", flat=True))
        response = admin_api.post(
            reverse("api:journey-reorder-stages", args=[journey.pk]), {"stage_ids": ids[1:]}, format="json"
        )
        assert_error(response, 400, "stage_ids")


class TestStagesAndTouchpoints:
    def test_duplicate_stage_order_is_a_field_error(self, admin_api, workspace):
        journey = JourneyFactory(workspace=workspace)
        StageFactory(journey=journey, workspace=workspace, order=1)
        response = admin_api.post(
            reverse("api:stage-list"), {"journey": journey.pk, "name": "Again", "order": 1}, format="json"
        )
        assert_error(response, 400, "order")

    def test_unknown_channel_is_a_field_error(self, admin_api, workspace):
        stage = StageFactory(journey__workspace=workspace, workspace=workspace)
        response = admin_api.post(
            reverse("api:touchpoint-list"), {"stage": stage.pk, "name": "Fax", "channel": "fax"}, format="json"
        )
        assert_error(response, 400, "channel")

    def test_event_name_used_by_another_touchpoint_is_a_field_error(self, admin_api, workspace):
        existing = TouchpointEventNameFactory(
            touchpoint__stage__journey__workspace=workspace, touchpoint__stage__workspace=workspace, name="paid"
        )
        response = admin_api.post(
            reverse("api:touchpoint-list"),
            {"stage": existing.touchpoint.stage_id, "name": "Payment", "channel": "web", "event_names": ["paid"]},
            format="json",
        )
        error = assert_error(response, 400, "event_names")
        assert existing.touchpoint.name in error["fields"]["event_names"][0]

    def test_touchpoint_round_trip(self, admin_api, workspace):
        stage = StageFactory(journey__workspace=workspace, workspace=workspace)
        payload = {
            "stage": stage.pk,
            "name": "Checkout",
            "channel": "web",
            "customer_does": "Pays",
            "customer_thinks": "Too many fields",
            "customer_feels": "Tense",
            "owner_team": "Payments",
            "event_names": ["checkout_completed"],
        }
        created = admin_api.post(reverse("api:touchpoint-list"), payload, format="json")
        assert created.status_code == 201, created.content
        body = created.json()
        assert {key: body[key] for key in payload} == payload
        assert body["journey"] == stage.journey_id
        filtered = admin_api.get(reverse("api:touchpoint-list"), {"event_name": "checkout_completed"}).json()
        assert [t["id"] for t in filtered["results"]] == [body["id"]]

    def test_nested_list_errors_are_flattened(self, admin_api, workspace):
        stage = StageFactory(journey__workspace=workspace, workspace=workspace)
        response = admin_api.post(
            reverse("api:touchpoint-list"),
            {"stage": stage.pk, "name": "T", "channel": "web", "event_names": ["ok", "x" * 300]},
            format="json",
        )
        assert_error(response, 400, "event_names.1")


class TestCustomers:
    def test_upsert_creates_then_updates(self, admin_api, workspace):
        url = reverse("api:customer-list")
        first = admin_api.post(
            url, {"external_id": "u1", "email": "a@example.com", "traits": {"plan": "free"}}, format="json"
        )
        assert first.status_code == 201
        second = admin_api.post(url, {"external_id": "u1", "traits": {"seats": 3}}, format="json")
        assert second.status_code == 200
        assert second.json()["traits"] == {"plan": "free", "seats": 3}
        assert Customer.objects.filter(workspace=workspace).count() == 1

    @pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
    def test_analysts_and_viewers_never_see_pii(self, key_client, workspace, role):
        CustomerFactory(workspace=workspace, external_id="u1", email="secret@example.com", traits={"ssn": "x"})
        client = key_client(role)
        listed = client.get(reverse("api:customer-list")).json()["results"]
        detail = client.get(reverse("api:customer-detail", args=["u1"])).json()
        for item in (listed[0], detail):
            assert item["external_id"] == "u1"
            assert "email" not in item
            assert "traits" not in item
        assert "secret@example.com" not in client.get(reverse("api:customer-list")).content.decode()

    def test_designers_see_pii(self, key_client, workspace):
        CustomerFactory(workspace=workspace, external_id="u1", email="a@example.com")
        item = key_client(Role.DESIGNER).get(reverse("api:customer-detail", args=["u1"])).json()
        assert item["email"] == "a@example.com"

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"external_id": "u1", "email": "not-an-email"}, "email"),
            ({"external_id": "u1", "timezone": "Mars/Base"}, "timezone"),
            ({"external_id": "u1", "traits": ["a"]}, "traits"),
            ({"email": "a@example.com"}, "external_id"),
        ],
    )
    def test_bad_input_is_a_field_error(self, admin_api, payload, field):
        assert_error(admin_api.post(reverse("api:customer-list"), payload, format="json"), 400, field)
        assert not Customer.objects.exists()

    def test_patch_unknown_customer_is_404_and_creates_nothing(self, admin_api):
        assert_error(
            admin_api.patch(reverse("api:customer-detail", args=["ghost"]), {"language": "pl"}, format="json"), 404
        )
        assert not Customer.objects.exists()


# --- Query counts ------------------------------------------------------------------------


def _grow(workspace, n: int) -> None:
    for _ in range(n):
        journey = JourneyFactory(workspace=workspace)
        journey.personas.add(PersonaFactory(workspace=workspace), PersonaFactory(workspace=workspace))
        stage = StageFactory(journey=journey, workspace=workspace)
        touchpoint = TouchpointFactory(stage=stage, workspace=workspace)
        TouchpointEventNameFactory(touchpoint=touchpoint, workspace=workspace)
        TouchpointEventNameFactory(touchpoint=touchpoint, workspace=workspace)
        CustomerFactory(workspace=workspace)


@pytest.mark.parametrize("basename", ["journey", "stage", "touchpoint", "persona", "customer"])
def test_list_query_count_does_not_grow_with_rows(basename, workspace, admin_api, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse(f"api:{basename}-list")
    _grow(workspace, 2)
    with CaptureQueriesContext(connection) as few:
        assert len(admin_api.get(url).json()["results"]) >= 2
    _grow(workspace, 20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(admin_api.get(url).json()["results"]) >= 22
