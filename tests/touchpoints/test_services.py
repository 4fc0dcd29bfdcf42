"""Services: the rules of the journey map, keys and customers."""

from __future__ import annotations

import pytest
from django.utils import translation

from config.errors import ApplicationError
from tests.touchpoints.factories import (
    CustomerFactory,
    JourneyFactory,
    PersonaFactory,
    StageFactory,
    TouchpointFactory,
    WorkspaceFactory,
)
from touchpoints import services
from touchpoints.journey_templates import STANDARD_STAGES
from touchpoints.models import ApiKey, Customer, Role, Stage, TouchpointEventName
from touchpoints.selectors import apikey_get_active

pytestmark = pytest.mark.django_db


def stage_names(journey) -> list[str]:
    return list(journey.stages.order_by("order").values_list("name", flat=True))


class TestJourneyCreate:
    def test_blank_journey_has_no_stages(self, workspace):
        journey = services.journey_create(workspace=workspace, name="  Onboarding  ")
        assert journey.name == "Onboarding"
        assert journey.stages.count() == 0

    def test_template_gives_nine_stages_in_order(self, workspace):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        with translation.override("en"):
            expected = [str(name) for name, _description in STANDARD_STAGES]
        assert stage_names(journey) == expected
        assert expected[0] == "Awareness"
        assert expected[-1] == "Loyalty"
        assert list(journey.stages.order_by("order").values_list("order", flat=True)) == list(range(1, 10))

    @pytest.mark.parametrize(
        ("language", "first", "last"),
        [("ru", "Осведомлённость", "Лояльность"), ("pl", "Świadomość", "Lojalność"), ("hu", "Tudatosság", "Hűség")],
    )
    def test_template_stages_are_named_in_the_workspace_language(self, language, first, last):
        workspace = WorkspaceFactory(default_language=language)
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        names = stage_names(journey)
        assert names[0] == first
        assert names[-1] == last

    def test_duplicate_name_is_a_field_error(self, workspace):
        services.journey_create(workspace=workspace, name="Shop")
        with pytest.raises(ApplicationError) as error:
            services.journey_create(workspace=workspace, name="Shop")
        assert "name" in error.value.fields

    def test_same_name_in_another_workspace_is_fine(self, workspace, other_workspace):
        services.journey_create(workspace=workspace, name="Shop")
        assert services.journey_create(workspace=other_workspace, name="Shop").workspace == other_workspace

    def test_persona_of_another_workspace_is_refused(self, workspace, other_workspace):
        foreign = PersonaFactory(workspace=other_workspace)
        with pytest.raises(ApplicationError) as error:
            services.journey_create(workspace=workspace, name="Shop", persona_ids=[foreign.pk])
        assert "persona_ids" in error.value.fields

    def test_unknown_map_type_is_a_field_error(self, workspace):
        with pytest.raises(ApplicationError) as error:
            services.journey_create(workspace=workspace, name="Shop", map_type="mind_map")
        assert "map_type" in error.value.fields


class TestStages:
    def test_create_without_order_goes_last(self, workspace):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        stage = services.stage_create(workspace=workspace, journey_id=journey.pk, name="Win-back")
        assert stage.order == 10

    def test_duplicate_order_is_a_field_error(self, workspace):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        with pytest.raises(ApplicationError) as error:
            services.stage_create(workspace=workspace, journey_id=journey.pk, name="Again", order=3)
        assert "order" in error.value.fields
        assert journey.stages.count() == 9

    def test_journey_of_another_workspace_is_a_field_error(self, workspace, other_workspace):
        foreign = JourneyFactory(workspace=other_workspace)
        with pytest.raises(ApplicationError) as error:
            services.stage_create(workspace=workspace, journey_id=foreign.pk, name="Sneaky")
        assert "journey" in error.value.fields
        assert not Stage.objects.filter(journey=foreign).exists()

    def test_reorder_applies_the_new_order(self, workspace):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        ids = list(journey.stages.order_by("order").values_list("pk", flat=True))
        new_ids = list(reversed(ids))
        services.stage_reorder(workspace=workspace, journey_id=journey.pk, stage_ids=new_ids)
        assert list(journey.stages.order_by("order").values_list("pk", flat=True)) == new_ids
        assert list(journey.stages.order_by("order").values_list("order", flat=True)) == list(range(1, 10))

    @pytest.mark.parametrize("mutation", ["missing", "duplicate", "foreign"])
    def test_reorder_needs_every_stage_once(self, workspace, mutation):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        ids = list(journey.stages.order_by("order").values_list("pk", flat=True))
        bad = {
            "missing": ids[:-1],
            "duplicate": [*ids[:-1], ids[0]],
            "foreign": [*ids[:-1], StageFactory().pk],
        }[mutation]
        with pytest.raises(ApplicationError) as error:
            services.stage_reorder(workspace=workspace, journey_id=journey.pk, stage_ids=bad)
        assert "stage_ids" in error.value.fields
        assert list(journey.stages.order_by("order").values_list("pk", flat=True)) == ids

    def test_move_swaps_neighbours_and_stops_at_the_ends(self, workspace):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        first, second = journey.stages.order_by("order")[:2]
        services.stage_move(workspace=workspace, stage_id=second.pk, offset=-1)
        assert stage_names(journey)[:2] == [second.name, first.name]
        moved = services.stage_move(workspace=workspace, stage_id=second.pk, offset=-1)
        assert moved.order == 1

    def test_delete_closes_the_gap(self, workspace):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        third = journey.stages.get(order=3)
        TouchpointFactory(stage=third)
        services.stage_delete(workspace=workspace, stage_id=third.pk)
        assert list(journey.stages.order_by("order").values_list("order", flat=True)) == list(range(1, 9))
        assert not journey.stages.filter(pk=third.pk).exists()

    def test_update_order_moves_the_stage_and_shifts_the_others(self, workspace):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        awareness = journey.stages.get(order=1)
        services.stage_update(workspace=workspace, stage_id=awareness.pk, data={"order": 3})
        assert stage_names(journey)[:4] == ["Consideration", "Interest", "Awareness", "Intent"]
        assert list(journey.stages.order_by("order").values_list("order", flat=True)) == list(range(1, 10))

    @pytest.mark.parametrize("order", [0, 10, 1_000_001])
    def test_update_order_out_of_range_is_refused(self, workspace, order):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        stage = journey.stages.get(order=1)
        with pytest.raises(ApplicationError) as error:
            services.stage_update(workspace=workspace, stage_id=stage.pk, data={"order": order})
        assert "order" in error.value.fields
        stage.refresh_from_db()
        assert stage.order == 1

    @pytest.mark.parametrize("order", [11, 1_000_001, 2**31])
    def test_create_with_a_gap_is_refused(self, workspace, order):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        with pytest.raises(ApplicationError) as error:
            services.stage_create(workspace=workspace, journey_id=journey.pk, name="Far", order=order)
        assert "between 1 and 10" in error.value.fields["order"][0]
        services.stage_delete(workspace=workspace, stage_id=journey.stages.get(order=2).pk)
        assert list(journey.stages.order_by("order").values_list("order", flat=True)) == list(range(1, 9))

    def test_stage_at_n_plus_one_is_accepted(self, workspace):
        journey = services.journey_create(workspace=workspace, name="Shop", from_template=True)
        assert services.stage_create(workspace=workspace, journey_id=journey.pk, name="Last", order=10).order == 10


class TestTouchpoints:
    def test_create_with_event_names(self, workspace):
        stage = StageFactory(workspace=workspace, journey__workspace=workspace)
        touchpoint = services.touchpoint_create(
            workspace=workspace,
            stage_id=stage.pk,
            name="Checkout",
            channel="web",
            event_names=[" checkout_completed ", "checkout_completed", "order_paid"],
        )
        assert sorted(touchpoint.event_names.values_list("name", flat=True)) == ["checkout_completed", "order_paid"]

    def test_event_name_used_by_another_touchpoint_is_refused(self, workspace):
        stage = StageFactory(workspace=workspace, journey__workspace=workspace)
        services.touchpoint_create(
            workspace=workspace, stage_id=stage.pk, name="Checkout", channel="web", event_names=["paid"]
        )
        with pytest.raises(ApplicationError) as error:
            services.touchpoint_create(
                workspace=workspace, stage_id=stage.pk, name="Payment", channel="web", event_names=["paid"]
            )
        assert "Checkout" in error.value.fields["event_names"][0]
        assert error.value.code == "event_name_taken"
        assert not stage.touchpoints.filter(name="Payment").exists()

    def test_same_event_name_in_another_workspace_is_fine(self, workspace, other_workspace):
        for ws in (workspace, other_workspace):
            stage = StageFactory(workspace=ws, journey__workspace=ws)
            services.touchpoint_create(workspace=ws, stage_id=stage.pk, name="C", channel="web", event_names=["paid"])
        assert TouchpointEventName.objects.filter(name="paid").count() == 2

    def test_update_replaces_event_names(self, workspace):
        stage = StageFactory(workspace=workspace, journey__workspace=workspace)
        touchpoint = services.touchpoint_create(
            workspace=workspace, stage_id=stage.pk, name="C", channel="web", event_names=["a", "b"]
        )
        services.touchpoint_update(workspace=workspace, touchpoint_id=touchpoint.pk, data={"event_names": ["b", "c"]})
        assert sorted(touchpoint.event_names.values_list("name", flat=True)) == ["b", "c"]

    def test_unknown_channel_is_a_field_error(self, workspace):
        stage = StageFactory(workspace=workspace, journey__workspace=workspace)
        with pytest.raises(ApplicationError) as error:
            services.touchpoint_create(workspace=workspace, stage_id=stage.pk, name="C", channel="fax")
        assert "channel" in error.value.fields

    def test_cannot_move_to_a_stage_of_another_workspace(self, workspace, other_workspace):
        touchpoint = TouchpointFactory(stage__journey__workspace=workspace, stage__workspace=workspace)
        foreign_stage = StageFactory(workspace=other_workspace, journey__workspace=other_workspace)
        with pytest.raises(ApplicationError) as error:
            services.touchpoint_update(
                workspace=workspace, touchpoint_id=touchpoint.pk, data={"stage_id": foreign_stage.pk}
            )
        assert "stage" in error.value.fields
        touchpoint.refresh_from_db()
        assert touchpoint.stage.workspace == workspace


class TestApiKeys:
    def test_only_the_hash_is_stored_and_the_raw_key_authenticates(self, workspace):
        api_key, raw = services.apikey_create(workspace=workspace, name="Server", kind="secret", role=Role.ANALYST)
        assert raw.startswith("jp_sk_")
        assert api_key.prefix == raw[:12]
        assert raw not in (api_key.hashed_key, api_key.prefix)
        assert apikey_get_active(raw_key=raw) == api_key

    def test_revoked_key_no_longer_authenticates(self, workspace):
        api_key, raw = services.apikey_create(workspace=workspace, name="App", kind="write")
        services.apikey_revoke(workspace=workspace, api_key_id=api_key.pk)
        assert apikey_get_active(raw_key=raw) is None

    @pytest.mark.parametrize(("kind", "role"), [("secret", ""), ("write", Role.ADMIN), ("master", "")])
    def test_kind_and_role_must_match(self, workspace, kind, role):
        with pytest.raises(ApplicationError):
            services.apikey_create(workspace=workspace, name="Bad", kind=kind, role=role)
        assert not ApiKey.objects.exists()

    def test_touch_writes_at_most_once_per_window(self, workspace, django_assert_num_queries):
        api_key, _raw = services.apikey_create(workspace=workspace, name="S", kind="write")
        with django_assert_num_queries(1):
            services.apikey_touch(api_key=api_key)
        first = ApiKey.objects.get(pk=api_key.pk).last_used_at
        assert first is not None
        with django_assert_num_queries(0):
            services.apikey_touch(api_key=api_key)
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at == first


class TestCustomers:
    def test_upsert_creates_then_merges_traits(self, workspace):
        customer, created = services.customer_upsert(
            workspace=workspace,
            external_id="u1",
            data={"email": "a@example.com", "traits": {"plan": "free", "age": 30}},
        )
        assert created
        customer, created = services.customer_upsert(
            workspace=workspace, external_id="u1", data={"traits": {"plan": "pro", "age": None}}
        )
        assert not created
        assert customer.traits == {"plan": "pro"}
        assert customer.email == "a@example.com"
        assert Customer.objects.for_workspace(workspace).count() == 1

    def test_same_external_id_in_two_workspaces_is_two_customers(self, workspace, other_workspace):
        CustomerFactory(workspace=other_workspace, external_id="u1")
        _customer, created = services.customer_upsert(workspace=workspace, external_id="u1")
        assert created

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"language": "english!"}, "language"),
            ({"email": "nope"}, "email"),
        ],
    )
    def test_bad_profile_values_are_field_errors(self, workspace, data, field):
        with pytest.raises(ApplicationError) as error:
            services.customer_upsert(workspace=workspace, external_id="u1", data=data)
        assert field in error.value.fields
        assert not Customer.objects.exists()
