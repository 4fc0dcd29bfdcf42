"""Event ingestion: the native API, the Segment-compatible API, and what bad input gets."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import require
from tests.integration.test_postgres import race
from tests.touchpoints.factories import CustomerFactory, TouchpointFactory
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import ApiKey, Customer, Role, TouchpointEvent, TouchpointEventName
from touchpoints.services import apikey_create, events_ingest, touchpoint_update
from touchpoints.signals import events_ingested

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"


@pytest.fixture
def write_key(workspace) -> str:
    return apikey_create(workspace=workspace, name="site", kind=ApiKey.Kind.WRITE)[1]


@pytest.fixture
def api(write_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {write_key}")
    return client


def post(client: APIClient, body, path: str = EVENTS, **headers):
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, raw, content_type="application/json", **headers)


@pytest.fixture
def delivered(workspace):
    touchpoint = TouchpointFactory(stage__journey__workspace=workspace, workspace=workspace, name="Delivery")
    TouchpointEventName.objects.create(workspace=workspace, touchpoint=touchpoint, name="order_delivered")
    return touchpoint


class TestNative:
    def test_one_event_is_stored_mapped_and_its_customer_upserted(self, api, workspace, delivered):
        response = post(
            api,
            {
                "event": "order_delivered",
                "user_id": "u-1",
                "message_id": "m-1",
                "timestamp": "2026-11-20T10:00:00+01:00",
                "properties": {"order": "A-1"},
                "traits": {"plan": "pro", "email": "ann@example.com"},
                "context": {"locale": "pl-PL"},
            },
        )
        assert response.status_code == 200, response.content
        assert response.json() == {"accepted": 1, "duplicates": 0, "errors": []}
        event = TouchpointEvent.objects.get()
        assert (event.workspace, event.touchpoint, event.name, event.properties) == (
            workspace,
            delivered,
            "order_delivered",
            {"order": "A-1"},
        )
        assert event.occurred_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        assert event.evaluated_at is None
        customer = event.customer
        assert (customer.external_id, customer.email, customer.language, customer.traits) == (
            "u-1",
            "ann@example.com",
            "pl-PL",
            {"plan": "pro"},
        )

    def test_the_trailing_slash_is_optional(self, api):
        assert post(api, {"event": "x", "user_id": "u"}, path=EVENTS + "/").status_code == 200

    def test_a_batch_keeps_the_valid_items_and_reports_the_others(self, api):
        batch = [
            {"event": "a", "user_id": "u-1"},
            {"event": "", "user_id": "u-1"},
            {"event": "b"},
            "not an object",
            {"event": "c", "user_id": "u-2", "timestamp": "yesterday"},
            {"event": "d", "user_id": "u-2", "properties": ["x"]},
            {"event": "e", "anonymous_id": "anon-9"},
        ]
        body = post(api, {"batch": batch}).json()
        assert body["accepted"] == 2
        assert [(e["index"], e["field"]) for e in body["errors"]] == [
            (1, "event"),
            (2, "user_id"),
            (3, ""),
            (4, "timestamp"),
            (5, "properties"),
        ]
        assert all(e["message"] for e in body["errors"])
        assert sorted(TouchpointEvent.objects.values_list("name", flat=True)) == ["a", "e"]
        anonymous = TouchpointEvent.objects.get(name="e")
        assert (anonymous.customer, anonymous.anonymous_id) == (None, "anon-9")

    def test_a_request_with_nothing_valid_is_a_400(self, api):
        response = post(api, {"event": "a"})
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "user_id"

    def test_retries_are_stored_once(self, api):
        event = {"event": "a", "user_id": "u-1", "message_id": "m-1"}
        assert post(api, {"batch": [event, event]}).json() == {"accepted": 1, "duplicates": 1, "errors": []}
        assert post(api, event).json() == {"accepted": 0, "duplicates": 1, "errors": []}
        assert TouchpointEvent.objects.count() == 1

    def test_without_a_message_id_an_exact_retry_still_deduplicates(self, api):
        event = {"event": "a", "user_id": "u-1", "timestamp": "2026-11-20T10:00:00Z"}
        post(api, event)
        assert post(api, event).json()["duplicates"] == 1
        post(api, {**event, "timestamp": "2026-11-20T10:00:01Z"})
        assert TouchpointEvent.objects.count() == 2

    def test_timestamps(self, api):
        future = (timezone.now() + timedelta(days=2)).isoformat()
        body = post(api, {"batch": [{"event": "a", "user_id": "u", "timestamp": future}]}).json()
        assert body["errors"][0]["field"] == "timestamp"
        post(api, {"event": "naive", "user_id": "u", "timestamp": "2026-11-20T10:00:00"})
        assert TouchpointEvent.objects.get(name="naive").occurred_at == datetime(2026, 11, 20, 10, tzinfo=UTC)
        before = timezone.now()
        post(api, {"event": "now", "user_id": "u"})
        assert TouchpointEvent.objects.get(name="now").occurred_at >= before

    def test_an_identify_upserts_the_customer_without_an_event(self, api, workspace):
        CustomerFactory(workspace=workspace, external_id="u-1", traits={"plan": "free", "seats": 3})
        body = post(api, {"type": "identify", "user_id": "u-1", "traits": {"plan": "pro", "seats": None}}).json()
        assert body == {"accepted": 1, "duplicates": 0, "errors": []}
        assert Customer.objects.get(external_id="u-1").traits == {"plan": "pro"}
        assert not TouchpointEvent.objects.exists()

    @pytest.mark.parametrize(
        ("item", "field"),
        [
            ({"traits": {"email": "nope"}}, "traits.email"),
            ({"context": {"locale": "not a locale!"}}, "context.locale"),
            ({"traits": {"timezone": "Mars/Olympus"}}, "traits.timezone"),
            ({"user_id": "x" * 201}, "user_id"),
            ({"user_id": "a\x00b"}, "user_id"),
            ({"user_id": {"id": 1}}, "user_id"),
            ({"event": True}, "event"),
            ({"type": "alias"}, "type"),
            ({"properties": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}, "properties"),
            ({"properties": {"big": "x" * 40_000}}, ""),
        ],
    )
    def test_bad_items_are_field_errors(self, api, item, field):
        response = post(api, {"batch": [{"event": "a", "user_id": "u", **item}]})
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == field
        assert not TouchpointEvent.objects.exists()
        assert not Customer.objects.exists()

    def test_traits_that_would_grow_past_the_cap_are_not_merged(self, api, workspace):
        CustomerFactory(workspace=workspace, external_id="u", traits={"a": "x" * 10_000})
        body = post(api, {"event": "e", "user_id": "u", "traits": {"b": "y" * 10_000}}).json()
        assert body["accepted"] == 1
        assert body["errors"][0]["field"] == "traits"
        assert set(Customer.objects.get(external_id="u").traits) == {"a"}

    @pytest.mark.parametrize(
        "body",
        ["not json", "[" * 100_000, '{"event": "a", "user_id": "\\ud800"}', '{"batch": {"event": "a"}}'],
    )
    def test_unreadable_bodies_are_400(self, api, body):
        response = post(api, body)
        assert response.status_code == 400
        assert "error" in response.json() or response.json()["errors"]

    def test_too_many_events_is_a_413(self, api):
        batch = [{"event": "a", "user_id": "u", "message_id": str(n)} for n in range(1001)]
        assert_error(post(api, {"batch": batch}), 413)
        assert not TouchpointEvent.objects.exists()

    def test_a_huge_body_is_a_413_before_it_is_read(self, api):
        assert_error(post(api, b"{}", CONTENT_LENGTH=str(10**9)), 413)

    def test_a_gzip_bomb_is_a_413(self, api):
        bomb = gzip.compress(b'{"event": "' + b"a" * 20_000_000 + b'"}')
        assert_error(post(api, bomb, HTTP_CONTENT_ENCODING="gzip"), 413)

    def test_gzip_is_accepted_and_bad_gzip_is_a_400(self, api):
        body = gzip.compress(json.dumps({"event": "a", "user_id": "u"}).encode())
        assert post(api, body, HTTP_CONTENT_ENCODING="gzip").json()["accepted"] == 1
        assert_error(post(api, b"not gzip", HTTP_CONTENT_ENCODING="gzip"), 400)

    def test_keys(self, workspace, key_client):
        anonymous = APIClient()
        assert_error(post(anonymous, {"event": "a", "user_id": "u"}), 401)
        anonymous.credentials(HTTP_AUTHORIZATION="Bearer jp_wk_unknown")
        assert_error(post(anonymous, {"event": "a", "user_id": "u"}), 401)
        assert_error(post(key_client(Role.ANALYST), {"event": "a", "user_id": "u"}), 403)
        assert post(key_client(Role.ADMIN), {"event": "a", "user_id": "u"}).status_code == 200

    def test_events_belong_to_the_keys_workspace(self, api, workspace, other_workspace):
        CustomerFactory(workspace=other_workspace, external_id="u")
        post(api, {"event": "a", "user_id": "u"})
        event = TouchpointEvent.objects.get()
        assert event.workspace == workspace
        assert event.customer.workspace == workspace

    def test_new_events_are_announced_after_commit(self, api, delivered, django_capture_on_commit_callbacks):
        received = []

        def receiver(sender, workspace_id, event_ids, **kwargs):
            received.append(event_ids)

        events_ingested.connect(receiver)
        try:
            batch = [
                {"event": "order_delivered", "user_id": "u", "message_id": "1"},
                {"event": "order_delivered", "user_id": "v", "message_id": "2"},
                {"event": "unmapped", "user_id": "u"},  # nothing to decide: stored evaluated
                {"event": "order_delivered", "anonymous_id": "a"},  # nobody to survey: stored evaluated
            ]
            with django_capture_on_commit_callbacks(execute=True):
                post(api, {"batch": batch})
            with django_capture_on_commit_callbacks(execute=True):
                post(api, batch[0])  # a duplicate: nothing new to announce
        finally:
            events_ingested.disconnect(receiver)
        announced = TouchpointEvent.objects.filter(message_id__in=["1", "2"])
        assert received == [sorted(announced.values_list("pk", flat=True))]
        # The surveys app's receiver (eager Celery in tests) has decided them: nothing left for the sweep.
        assert not TouchpointEvent.objects.filter(evaluated_at__isnull=True).exists()

    def test_mapping_a_name_later_attributes_its_events_but_decides_nothing(self, api, workspace, delivered):
        post(api, {"event": "parcel_left_depot", "user_id": "u"})
        event = TouchpointEvent.objects.get()
        assert (event.touchpoint, event.evaluated_at is not None) == (None, True)
        touchpoint_update(
            workspace=workspace,
            touchpoint_id=delivered.pk,
            data={"event_names": ["order_delivered", "parcel_left_depot"]},
        )
        event.refresh_from_db()
        assert event.touchpoint == delivered

    def test_a_batch_costs_the_same_queries_whatever_its_size(self, api):
        def queries(size: int, prefix: str) -> int:
            batch = [
                {"event": f"e{n % 3}", "user_id": f"{prefix}-{n}", "traits": {"n": n}, "message_id": f"{prefix}{n}"}
                for n in range(size)
            ]
            with CaptureQueriesContext(connection) as captured:
                assert post(api, {"batch": batch}).json()["accepted"] == size
            return len(captured)

        queries(1, "warm-up")  # the key's first use records its last_used_at once
        # Sizes within one bulk statement: SQLite splits bigger ones by its parameter limit.
        assert queries(5, "a") == queries(40, "b")


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def test_a_device_locale_fills_the_language_but_never_replaces_a_chosen_one(api, workspace):
    post(api, {"event": "a", "user_id": "u", "context": {"locale": "ru-RU"}})
    assert Customer.objects.get(external_id="u").language == "ru-RU"  # nothing better known
    post(api, {"event": "a", "user_id": "u", "traits": {"language": "pl"}, "context": {"locale": "ru-RU"}})
    assert Customer.objects.get(external_id="u").language == "pl"  # the customer's choice wins
    post(api, {"batch": [{"event": "b", "user_id": "u", "context": {"locale": "en-US"}}]})
    assert Customer.objects.get(external_id="u").language == "pl"  # and stays
    response = post(api, {"event": "a", "user_id": "v", "context": {"locale": "not a tag!"}})
    assert response.json()["errors"][0]["field"] == "context.locale"


class TestSegment:
    def test_a_batch_of_identify_track_and_page(self, write_key, workspace, delivered):
        client = APIClient()
        batch = {
            "batch": [
                {
                    "type": "identify",
                    "userId": "u-1",
                    "traits": {"email": "ann@example.com", "plan": "pro"},
                    "context": {"locale": "hu-HU", "timezone": "Europe/Budapest"},
                    "messageId": "s-1",
                },
                {
                    "type": "track",
                    "userId": "u-1",
                    "event": "order_delivered",
                    "properties": {"order": "A-1"},
                    "messageId": "s-2",
                    "originalTimestamp": "2026-11-20T10:00:00Z",
                },
                {"type": "page", "anonymousId": "a-1", "name": "Checkout", "messageId": "s-3"},
            ]
        }
        response = post(client, batch, "/v1/batch", HTTP_AUTHORIZATION=basic(write_key))
        assert response.json() == {"success": True, "accepted": 3, "duplicates": 0, "errors": []}
        customer = Customer.objects.get(external_id="u-1")
        assert (customer.email, customer.language, customer.timezone, customer.traits) == (
            "ann@example.com",
            "hu-HU",
            "Europe/Budapest",
            {"plan": "pro"},
        )
        track = TouchpointEvent.objects.get(message_id="s-2")
        assert (track.touchpoint, track.customer, track.occurred_at) == (
            delivered,
            customer,
            datetime(2026, 11, 20, 10, tzinfo=UTC),
        )
        page = TouchpointEvent.objects.get(message_id="s-3")
        assert (page.kind, page.name, page.anonymous_id) == ("page", "Checkout", "a-1")

    @pytest.mark.parametrize("kind", ["track", "identify", "page", "screen"])
    def test_single_calls_with_the_key_in_the_body(self, write_key, kind):
        body = {"writeKey": write_key, "userId": "u", "event": "a", "name": "Home", "messageId": f"m-{kind}"}
        response = post(APIClient(), body, f"/v1/{kind}")
        assert response.json()["accepted"] == 1, response.content

    def test_gzip_and_retries(self, write_key):
        body = gzip.compress(
            json.dumps({"batch": [{"type": "track", "userId": "u", "event": "a", "messageId": "m"}]}).encode()
        )
        for _ in range(2):
            response = post(
                APIClient(), body, "/v1/batch", HTTP_AUTHORIZATION=basic(write_key), HTTP_CONTENT_ENCODING="gzip"
            )
        assert response.json()["duplicates"] == 1
        assert TouchpointEvent.objects.count() == 1

    def test_segment_limits(self, write_key):
        big_event = {"type": "track", "userId": "u", "event": "a", "properties": {"x": "y" * 33_000}}
        body = post(APIClient(), {"batch": [big_event]}, "/v1/batch", HTTP_AUTHORIZATION=basic(write_key)).json()
        assert body["success"] is False
        assert "bytes" in body["errors"][0]["message"]
        huge = {"batch": [{"type": "track", "userId": "u", "event": "a", "properties": {"x": "y" * 20_000}}] * 30}
        assert_error(post(APIClient(), huge, "/v1/batch", HTTP_AUTHORIZATION=basic(write_key)), 413)

    @pytest.mark.parametrize("header", ["Basic !!!", basic("jp_wk_nope"), basic("")])
    def test_bad_keys_are_401(self, header):
        response = post(APIClient(), {"batch": []}, "/v1/batch", HTTP_AUTHORIZATION=header)
        assert_error(response, 401)

    def test_no_key_is_401(self):
        assert_error(post(APIClient(), {"batch": []}, "/v1/batch"), 401)

    def test_a_batch_that_is_not_a_list_is_a_field_error(self, write_key):
        assert_error(post(APIClient(), {"batch": "x"}, "/v1/batch", HTTP_AUTHORIZATION=basic(write_key)), 400, "batch")


def test_write_keys_still_get_403_elsewhere(api):
    assert_error(api.get(reverse("api:journey-list")), 403)


class TestEventNames:
    @pytest.fixture
    def received(self, api, delivered):
        batch = [{"event": "order_delivered", "user_id": f"u{n}"} for n in range(3)]
        batch += [{"event": "parcel_lost", "user_id": "u1"}, {"event": "parcel_lost", "user_id": "u2"}]
        batch += [{"event": "newsletter_opened", "user_id": "u1"}]
        post(api, {"batch": batch})

    def test_the_api_lists_names_with_counts(self, received, admin_api, delivered):
        items = admin_api.get(reverse("api:event-name-list")).json()["results"]
        assert [(i["name"], i["count"], i["touchpoint"]) for i in items] == [
            ("order_delivered", 3, delivered.pk),
            ("parcel_lost", 2, None),
            ("newsletter_opened", 1, None),
        ]
        unmapped = admin_api.get(reverse("api:event-name-list"), {"mapped": "false"}).json()["results"]
        assert [i["name"] for i in unmapped] == ["parcel_lost", "newsletter_opened"]
        assert_error(admin_api.get(reverse("api:event-name-list"), {"mapped": "maybe"}), 400, "mapped")

    def test_the_api_is_scoped_to_the_workspace(self, received, key_client, other_workspace):
        assert key_client(Role.VIEWER, ws=other_workspace).get(reverse("api:event-name-list")).json()["results"] == []

    def test_designers_map_a_name_from_the_events_page(self, received, member_client, delivered):
        client = member_client(Role.DESIGNER)
        page = client.get(reverse("touchpoints:event-names") + "?mapped=false").content.decode()
        assert "parcel_lost" in page
        assert "order_delivered" not in page
        response = client.post(reverse("touchpoints:event-names"), {"name": "parcel_lost", "touchpoint": delivered.pk})
        assert response.status_code == 302
        assert set(delivered.event_names.values_list("name", flat=True)) == {"order_delivered", "parcel_lost"}
        assert TouchpointEvent.objects.filter(name="parcel_lost", touchpoint=delivered).count() == 2

    @pytest.mark.parametrize("touchpoint", ["", "abc", "99999999999999999999999", "123456"])
    def test_a_bad_mapping_is_a_form_error(self, received, member_client, touchpoint):
        response = member_client(Role.DESIGNER).post(
            reverse("touchpoints:event-names"), {"name": "parcel_lost", "touchpoint": touchpoint}
        )
        assert response.status_code == 400
        assert not TouchpointEvent.objects.filter(name="parcel_lost", touchpoint__isnull=False).exists()

    def test_a_name_owned_by_another_touchpoint_is_a_form_error(self, received, member_client, workspace, delivered):
        other = TouchpointFactory(stage__journey__workspace=workspace, workspace=workspace)
        response = member_client(Role.DESIGNER).post(
            reverse("touchpoints:event-names"), {"name": "order_delivered", "touchpoint": other.pk}
        )
        assert response.status_code == 400
        assert "already belongs" in response.content.decode()

    def test_viewers_read_but_cannot_map(self, received, member_client, delivered):
        client = member_client(Role.VIEWER)
        assert "parcel_lost" in client.get(reverse("touchpoints:event-names")).content.decode()
        response = client.post(reverse("touchpoints:event-names"), {"name": "parcel_lost", "touchpoint": delivered.pk})
        assert response.status_code == 403

    def test_the_page_costs_the_same_queries_for_many_names(self, api, member_client):
        client = member_client(Role.DESIGNER)

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(reverse("touchpoints:event-names")).status_code == 200
            return len(captured)

        post(api, {"event": "first", "user_id": "u"})
        few = queries()
        post(api, {"batch": [{"event": f"name_{n}", "user_id": "u"} for n in range(30)]})
        assert queries() == few


class TestBatchCustomers:
    """A batch applies its items to their customers in batch order, one customer row each."""

    def test_items_of_one_customer_apply_in_batch_order(self, api):
        batch = [
            {
                "event": "a",
                "user_id": "u",
                "timestamp": "2026-11-20T10:00:00Z",
                "traits": {"plan": "free", "seats": 3, "team": {"size": 5}, "email": "old@example.com"},
            },
            {
                "type": "identify",
                "user_id": "u",
                "timestamp": "2026-11-20T08:00:00Z",
                "traits": {"plan": "pro", "seats": None},
                "context": {"locale": "pl-PL"},
            },
            {
                "event": "b",
                "user_id": "u",
                "timestamp": "2026-11-20T09:00:00Z",
                "traits": {"team": {"name": "x"}, "email": "new@example.com"},
            },
            {"event": "c", "user_id": "u", "timestamp": "2026-11-20T11:00:00Z", "traits": {"email": ""}},
        ]
        assert post(api, {"batch": batch}).json() == {"accepted": 4, "duplicates": 0, "errors": []}
        customer = Customer.objects.get()
        # A later value wins, null removes a key, and an object is replaced whole (no deep merge).
        assert customer.traits == {"plan": "pro", "team": {"name": "x"}}
        # An empty email leaves the last one given.
        assert (customer.email, customer.language) == ("new@example.com", "pl-PL")
        assert (customer.first_seen_at, customer.last_seen_at) == (
            datetime(2026, 11, 20, 8, tzinfo=UTC),
            datetime(2026, 11, 20, 11, tzinfo=UTC),
        )
        assert set(TouchpointEvent.objects.values_list("customer_id", flat=True)) == {customer.pk}

    def test_a_stored_customer_is_written_only_when_something_changes(self, api, workspace):
        seen = datetime(2026, 11, 20, 10, tzinfo=UTC)
        CustomerFactory(
            workspace=workspace, external_id="u", traits={"plan": "free"}, first_seen_at=seen, last_seen_at=seen
        )
        Customer.objects.update(updated_at=seen)
        post(api, {"event": "late", "user_id": "u", "timestamp": "2026-11-19T10:00:00Z", "traits": {"plan": "free"}})
        customer = Customer.objects.get()
        # An older event moves neither date (first_seen_at is the customer's creation), and nothing is written.
        assert (customer.first_seen_at, customer.last_seen_at, customer.updated_at) == (seen, seen, seen)
        post(api, {"event": "newer", "user_id": "u", "timestamp": "2026-11-21T10:00:00Z"})
        customer.refresh_from_db()
        assert (customer.first_seen_at, customer.last_seen_at) == (seen, datetime(2026, 11, 21, 10, tzinfo=UTC))
        assert customer.updated_at > seen
        assert customer.traits == {"plan": "free"}

    def test_the_traits_cap_is_checked_item_by_item(self, api):
        batch = [
            {"type": "identify", "user_id": "u", "traits": {"a": "x" * 10_000}},
            {"type": "identify", "user_id": "u", "traits": {"b": "y" * 10_000}},  # 20 KB: refused
            {"type": "identify", "user_id": "u", "traits": {"a": None, "c": "z" * 10_000}},  # 10 KB again: merged
        ]
        body = post(api, {"batch": batch}).json()
        assert body["accepted"] == 3
        assert [(error["index"], error["field"]) for error in body["errors"]] == [(1, "traits")]
        assert set(Customer.objects.get().traits) == {"c"}

    def test_the_result_names_the_new_events_and_counts_the_duplicates(self, workspace):
        events_ingest(workspace=workspace, items=[{"event": "a", "user_id": "u", "message_id": "old"}])
        result = events_ingest(
            workspace=workspace,
            items=[
                {"event": "a", "user_id": "u", "message_id": "old"},
                {"event": "a", "user_id": "v", "message_id": "new"},
                {"event": "a", "user_id": "v", "message_id": "new"},
                {"type": "identify", "user_id": "w", "traits": {"plan": "pro"}},
                {"event": "a", "anonymous_id": "x", "message_id": "anonymous"},
            ],
        )
        assert (result.accepted, result.duplicates, result.errors) == (3, 2, [])
        new = TouchpointEvent.objects.filter(message_id__in=["new", "anonymous"]).order_by("pk")
        assert result.event_ids == list(new.values_list("pk", flat=True))
        assert sorted(Customer.objects.values_list("external_id", flat=True)) == ["u", "v", "w"]

    def test_ids_and_traits_beyond_ascii_round_trip(self, api):
        post(api, {"event": "a", "user_id": "Zoë-🙂", "traits": {"city": "Łódź", "ключ": ["ő"]}})
        customer = Customer.objects.get()
        assert (customer.external_id, customer.traits) == ("Zoë-🙂", {"city": "Łódź", "ключ": ["ő"]})
        assert TouchpointEvent.objects.get().customer == customer

    def test_a_batch_of_anonymous_events_does_not_touch_customers(self, api):
        batch = [{"event": "a", "anonymous_id": f"visitor-{n}"} for n in range(3)]
        with CaptureQueriesContext(connection) as captured:
            assert post(api, {"batch": batch}).json()["accepted"] == 3
        assert not [query for query in captured if "touchpoints_customer" in query["sql"]]
        assert not Customer.objects.exists()

    def test_events_are_stored_in_batch_order(self, api):
        """The trigger engine breaks ties of ``occurred_at`` by primary key: batch order."""
        batch = [{"event": "a", "user_id": "u", "message_id": message_id} for message_id in ("c", "a", "b")]
        post(api, {"batch": batch})
        assert list(TouchpointEvent.objects.order_by("pk").values_list("message_id", flat=True)) == ["c", "a", "b"]

    def test_a_derived_message_id_is_the_hash_of_the_canonical_item(self, api):
        """Ids derived before a deploy still match after it, so a retry across it is still a duplicate."""
        item = {"event": "a", "user_id": "u", "timestamp": "2026-11-20T10:00:00Z", "properties": {"é": 1, "b": [1]}}
        post(api, item)
        canonical = json.dumps(item, sort_keys=True, ensure_ascii=False).encode()
        assert TouchpointEvent.objects.get().message_id == "derived-" + hashlib.sha256(canonical).hexdigest()

    @pytest.mark.parametrize(
        ("item", "field"),
        [
            ({"properties": {"a": "b\x00"}}, "properties"),
            ({"traits": {"a": ["\x00"]}}, "traits"),
            ({"properties": {"a": "\ud800"}}, "properties"),
            ({"traits": {"\ud800": 1}}, "traits"),
        ],
    )
    def test_bad_characters_in_properties_or_traits_are_field_errors(self, workspace, item, field):
        result = events_ingest(workspace=workspace, items=[{"event": "a", "user_id": "u", **item}])
        assert [(error.field, error.message) for error in result.errors] == [(field, "Contains an invalid character.")]
        assert not TouchpointEvent.objects.exists()

    def test_a_bad_character_elsewhere_leaves_properties_and_traits_alone(self, workspace):
        item = {"event": "a", "user_id": "u", "context": {"page": "\x00"}, "properties": {"p": 1}, "traits": {"t": 2}}
        assert events_ingest(workspace=workspace, items=[item]).accepted == 1
        assert TouchpointEvent.objects.get().properties == {"p": 1}
        assert Customer.objects.get().traits == {"t": 2}

    @pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL always has RETURNING")
    def test_sqlite_without_returning_gets_the_same_result(self, workspace, delivered, monkeypatch):
        monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)  # SQLite < 3.35
        CustomerFactory(workspace=workspace, external_id="stored", traits={"a": 1})
        events_ingest(workspace=workspace, items=[{"event": "order_delivered", "user_id": "stored", "message_id": "0"}])
        result = events_ingest(
            workspace=workspace,
            items=[
                {"event": "order_delivered", "user_id": "stored", "message_id": "0"},
                {"event": "order_delivered", "user_id": "new", "message_id": "1", "traits": {"b": 2}},
                {"event": "unmapped", "user_id": "stored", "message_id": "2", "traits": {"c": 3}},
            ],
        )
        assert (result.accepted, result.duplicates) == (2, 1)
        events = {event.message_id: event for event in TouchpointEvent.objects.select_related("customer")}
        assert result.event_ids == [events["1"].pk, events["2"].pk]
        assert (events["1"].customer.traits, events["1"].evaluated_at) == ({"b": 2}, None)
        assert events["2"].customer.traits == {"a": 1, "c": 3}
        assert events["2"].evaluated_at is not None


def wait_until(condition, timeout_seconds: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
class TestConcurrentBatches:
    """Batches racing for the same customers on PostgreSQL: no deadlock, no lost trait."""

    @pytest.fixture(autouse=True)
    def postgres(self) -> None:
        require(
            connection.vendor == "postgresql",
            "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/journeypulse",
        )

    def test_batches_of_the_same_customers_in_opposite_orders(self, workspace):
        external_ids = [f"u{n:02}" for n in range(30)]

        def ingest(worker: int):
            order = external_ids if worker % 2 else external_ids[::-1]
            items = [{"type": "identify", "user_id": user_id, "traits": {f"t{worker}": worker}} for user_id in order]
            items += [{"event": "a", "user_id": user_id, "message_id": f"{worker}-{user_id}"} for user_id in order]
            return events_ingest(workspace=workspace, items=items)

        results, errors = race(6, ingest)
        assert errors == []
        assert [result.accepted for result in results] == [60] * 6
        customers = Customer.objects.filter(workspace=workspace)
        assert sorted(customers.values_list("external_id", flat=True)) == external_ids
        assert all(customer.traits == {f"t{worker}": worker for worker in range(6)} for customer in customers)
        assert TouchpointEvent.objects.filter(workspace=workspace).count() == 6 * 30

    @pytest.mark.parametrize("is_stored", [True, False], ids=["stored", "inserted-meanwhile"])
    def test_a_batch_waits_for_another_on_the_same_customer_and_keeps_its_traits(self, workspace, is_stored):
        """A has written "u" and not committed; B, on "u" too, waits for A, then applies its items to A's row.

        Stored: B waits to lock "u". Inserted meanwhile: B read "u" as new, its insert waits, and the
        customer goes round again.
        """
        if is_stored:
            CustomerFactory(workspace=workspace, external_id="u", traits={})
        a_wrote, a_may_commit = threading.Event(), threading.Event()

        def batch_a(_worker: int) -> None:
            with transaction.atomic():
                events_ingest(workspace=workspace, items=[{"type": "identify", "user_id": "u", "traits": {"a": 1}}])
                a_wrote.set()
                assert a_may_commit.wait(timeout=10)

        def batch_b(_worker: int):
            assert a_wrote.wait(timeout=10)
            items = [{"event": "e", "user_id": "u", "traits": {"b": 2, "email": "b@example.com"}}]
            return events_ingest(workspace=workspace, items=items)

        def b_waits_for_a() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE %s",
                    ["%touchpoints_customer%"],
                )
                return cursor.fetchone()[0] == 1

        outcome: dict[str, object] = {}
        thread_a = threading.Thread(target=lambda: outcome.update(a=race(1, batch_a)))
        thread_b = threading.Thread(target=lambda: outcome.update(b=race(1, batch_b)))
        thread_a.start()
        thread_b.start()
        try:
            wait_until(b_waits_for_a)
        finally:
            a_may_commit.set()
            thread_a.join(timeout=30)
            thread_b.join(timeout=30)
        assert outcome["a"] == ([None], [])
        [result], errors = outcome["b"]
        assert errors == []
        assert (result.accepted, result.errors) == (1, [])
        customer = Customer.objects.get(workspace=workspace)
        assert (customer.traits, customer.email) == ({"a": 1, "b": 2}, "b@example.com")
        assert TouchpointEvent.objects.get().customer == customer
