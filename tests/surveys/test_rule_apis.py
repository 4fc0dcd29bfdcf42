"""The trigger-rule and decision API: CRUD, field-level errors, roles, scoping, outcome counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from surveys import services
from surveys.models import TriggerRule
from surveys.precision import period_bounds
from surveys.triggers import events_evaluate
from tests.touchpoints.factories import TouchpointEventNameFactory, TouchpointFactory
from tests.touchpoints.test_apis import assert_error
from touchpoints.models import Role
from touchpoints.services import events_ingest

pytestmark = pytest.mark.django_db

RULES = reverse("api:trigger-rule-list")


@pytest.fixture
def survey(workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="transactional_nps")
    return services.survey_publish(workspace=workspace, survey_id=survey.pk)


@pytest.fixture
def touchpoint(workspace):
    return TouchpointEventNameFactory(
        workspace=workspace, touchpoint__stage__journey__workspace=workspace, name="order_delivered"
    ).touchpoint


def rule_payload(survey, touchpoint, **extra):
    return {"survey": survey.pk, "touchpoint": touchpoint.pk, "channel": "email"} | extra


def test_create_read_update_delete(admin_api, survey, touchpoint):
    payload = rule_payload(
        survey,
        touchpoint,
        delay_minutes=120,
        sampling_rate=0.25,
        fallback_channel="embedded",
        daily_cap=50,
        quiet_hours_start="21:00",
        quiet_hours_end="08:00",
        conditions=[{"field": "properties.total", "operator": "gt", "value": "100"}],
    )
    response = admin_api.post(RULES, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["survey_name"] == survey.name
    assert body["touchpoint_name"] == touchpoint.name
    assert body["conditions"] == [{"field": "properties.total", "operator": "gt", "value": 100.0}]
    assert body["quiet_hours_start"] == "21:00:00"
    assert body["recontact_days"] == 90
    detail = reverse("api:trigger-rule-detail", args=[body["id"]])
    response = admin_api.patch(
        detail, {"is_active": False, "quiet_hours_start": None, "quiet_hours_end": None}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False
    assert response.json()["quiet_hours_start"] is None
    assert admin_api.get(RULES, {"touchpoint": touchpoint.pk}).json()["count"] == 1
    assert admin_api.delete(detail).status_code == 204
    assert not TriggerRule.objects.exists()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"conditions": [{"field": "total", "operator": "gt", "value": 1}]}, "conditions.0.field"),
        ({"conditions": [{"field": "properties.total", "operator": "gt", "value": "many"}]}, "conditions.0.value"),
        ({"conditions": [{"field": "properties.x", "operator": "in", "value": "a"}]}, "conditions.0.value"),
        ({"conditions": [{"field": "properties.x", "operator": "like", "value": "a"}]}, "conditions.0.operator"),
        ({"conditions": [{"field": "traits.x", "operator": "eq", "value": {"a": 1}}]}, "conditions.0.value"),
        ({"conditions": "plan=pro"}, "conditions"),
        ({"sampling_rate": 1.5}, "sampling_rate"),
        ({"delay_minutes": -1}, "delay_minutes"),
        ({"daily_cap": 0}, "daily_cap"),
        ({"channel": "sms"}, "channel"),
        ({"fallback_channel": "email"}, "fallback_channel"),
        ({"quiet_hours_start": "21:00"}, "quiet_hours_end"),
        ({"quiet_hours_start": "25:00", "quiet_hours_end": "08:00"}, "quiet_hours_start"),
        ({"quiet_hours_start": "08:00", "quiet_hours_end": "08:00"}, "quiet_hours_end"),
        ({"survey": 10**30}, "survey"),
        ({"touchpoint": 999999}, "touchpoint"),
        ({"sampling_mode": "adaptive"}, "sampling_mode"),
        ({"sampling_mode": "precision"}, "target_half_width"),
        ({"sampling_mode": "precision", "target_half_width": None}, "target_half_width"),
        ({"sampling_mode": "precision", "target_half_width": 1}, "target_half_width"),
        ({"target_half_width": 51}, "target_half_width"),
        ({"precision_period_days": 5}, "precision_period_days"),
        ({"sampling_mode": "precision", "target_half_width": 10, "sampling_rate": 0}, "sampling_rate"),
    ],
)
def test_bad_rules_are_field_errors(admin_api, survey, touchpoint, extra, field):
    response = admin_api.post(RULES, rule_payload(survey, touchpoint) | extra, format="json")
    assert_error(response, 400, field)


def test_one_rule_per_survey_and_touchpoint(admin_api, survey, touchpoint):
    assert admin_api.post(RULES, rule_payload(survey, touchpoint), format="json").status_code == 201
    assert_error(admin_api.post(RULES, rule_payload(survey, touchpoint), format="json"), 400, "touchpoint")


def test_a_rule_keeps_its_survey_and_touchpoint(admin_api, survey, touchpoint, workspace):
    rule_id = admin_api.post(RULES, rule_payload(survey, touchpoint), format="json").json()["id"]
    other = TouchpointFactory(workspace=workspace, stage=touchpoint.stage)
    response = admin_api.patch(reverse("api:trigger-rule-detail", args=[rule_id]), {"touchpoint": other.pk})
    assert_error(response, 400, "touchpoint")


def test_another_workspaces_objects_do_not_exist(admin_api, key_client, survey, touchpoint, other_workspace):
    other_touchpoint = TouchpointFactory(workspace=other_workspace, stage__journey__workspace=other_workspace)
    assert_error(admin_api.post(RULES, rule_payload(survey, other_touchpoint), format="json"), 400, "touchpoint")
    rule_id = admin_api.post(RULES, rule_payload(survey, touchpoint), format="json").json()["id"]
    stranger = key_client(Role.ADMIN, ws=other_workspace)
    assert stranger.get(reverse("api:trigger-rule-detail", args=[rule_id])).status_code == 404
    assert stranger.get(RULES).json()["count"] == 0


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_readers_read_but_cannot_write(key_client, admin_api, survey, touchpoint, role):
    admin_api.post(RULES, rule_payload(survey, touchpoint), format="json")
    reader = key_client(role)
    assert reader.get(RULES).json()["count"] == 1
    assert reader.post(RULES, rule_payload(survey, touchpoint), format="json").status_code == 403


def test_outcomes_and_decisions_explain_who_was_not_invited(admin_api, workspace, survey, touchpoint):
    rule_id = admin_api.post(
        RULES,
        rule_payload(survey, touchpoint, conditions=[{"field": "traits.plan", "operator": "eq", "value": "pro"}]),
        format="json",
    ).json()["id"]
    items = [
        {"event": "order_delivered", "user_id": "ann", "traits": {"plan": "pro", "email": "a@example.com"}},
        {"event": "order_delivered", "user_id": "bob", "traits": {"plan": "free", "email": "b@example.com"}},
        {"event": "order_delivered", "user_id": "cid", "traits": {"plan": "pro"}},
    ]
    events_evaluate(event_ids=events_ingest(workspace=workspace, items=items).event_ids)

    response = admin_api.get(reverse("api:trigger-rule-outcomes", args=[rule_id]))
    assert response.status_code == 200, response.content
    counts = response.json()["counts"]
    assert (counts["invited"], counts["condition_false"], counts["no_channel"]) == (1, 1, 1)
    assert counts["sampled_out"] == 0

    response = admin_api.get(reverse("api:trigger-decision-list"), {"customer": "bob"})
    [decision] = response.json()["results"]
    assert decision["outcome"] == "condition_false"
    assert decision["reason"] == "Conditions not met"
    assert decision["event_name"] == "order_delivered"
    assert decision["survey"] == survey.pk

    [invitation] = admin_api.get(reverse("api:invitation-list"), {"rule": rule_id}).json()["results"]
    assert (invitation["customer"], invitation["rule"], invitation["delivery_attempts"]) == ("ann", rule_id, 0)
    assert invitation["event"] is not None

    future = (timezone.now() + timedelta(days=1)).isoformat()
    response = admin_api.get(reverse("api:trigger-rule-outcomes", args=[rule_id]), {"since": future})
    assert_error(response, 400, "since")
    response = admin_api.get(reverse("api:trigger-rule-outcomes", args=[rule_id]), {"since": "2020-01-01T00:00:00Z"})
    assert_error(response, 400, "since")  # longer than a year
    assert_error(admin_api.get(reverse("api:trigger-rule-outcomes", args=[rule_id]), {"until": "soon"}), 400, "until")


def test_decision_list_query_count_is_flat(admin_api, workspace, survey, touchpoint):
    admin_api.post(RULES, rule_payload(survey, touchpoint), format="json")

    def list_after(n: int, prefix: str) -> int:
        items = [{"event": "order_delivered", "user_id": f"{prefix}{i}"} for i in range(n)]
        events_evaluate(event_ids=events_ingest(workspace=workspace, items=items).event_ids)
        admin_api.get(reverse("api:trigger-decision-list"))  # warm up the key's last-used stamp
        with CaptureQueriesContext(connection) as queries:
            assert admin_api.get(reverse("api:trigger-decision-list")).status_code == 200
        return len(queries)

    assert list_after(2, "a") == list_after(20, "b")

    def rules_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_api.get(RULES).status_code == 200
        return len(queries)

    before = rules_list()
    for _ in range(5):
        admin_api.post(
            RULES, rule_payload(survey, TouchpointFactory(workspace=workspace, stage=touchpoint.stage)), format="json"
        )
    assert rules_list() == before


def test_a_precision_rule_reports_its_period_and_saving_in_the_outcomes(admin_api, workspace, survey, touchpoint):
    payload = rule_payload(
        survey,
        touchpoint,
        sampling_mode="precision",
        target_half_width=7.5,
        precision_period_days=14,
        sampling_rate=0.4,
    )
    response = admin_api.post(RULES, payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["sampling_mode"], body["target_half_width"], body["precision_period_days"]) == ("precision", 7.5, 14)
    assert body["sampling_rate"] == 0.4
    items = [
        {"event": "order_delivered", "user_id": f"c{n}", "traits": {"email": f"c{n}@example.com"}} for n in range(20)
    ]
    events_evaluate(event_ids=events_ingest(workspace=workspace, items=items).event_ids)

    response = admin_api.get(reverse("api:trigger-rule-outcomes", args=[body["id"]]))
    assert response.status_code == 200, response.content
    report = response.json()["precision"]
    invited = response.json()["counts"]["invited"]
    assert 0 < invited < 20  # no answers yet: at the 40% ceiling, by hash
    assert report["target_half_width"] == 7.5
    assert (report["answers"], report["half_width"], report["nps"], report["is_reached"]) == (0, None, None, False)
    assert (report["eligible"], report["invited"], report["fixed_rate"]) == (20, invited, 0.4)
    assert report["fixed_rate_invitations"] == 8
    assert report["saved"] == 8 - invited
    start, end = period_bounds(timezone.now(), 14)
    assert (report["period_start"], report["period_end"]) == (
        start.isoformat().replace("+00:00", "Z"),
        end.isoformat().replace("+00:00", "Z"),
    )

    fixed_id = admin_api.post(
        RULES, rule_payload(survey, TouchpointFactory(workspace=workspace, stage=touchpoint.stage)), format="json"
    ).json()["id"]
    assert admin_api.get(reverse("api:trigger-rule-outcomes", args=[fixed_id])).json()["precision"] is None


def test_precision_needs_an_nps_survey_and_a_target_on_update(admin_api, workspace, survey, touchpoint):
    csat = services.survey_create_from_template(workspace=workspace, template="csat_support")
    payload = rule_payload(csat, touchpoint, sampling_mode="precision", target_half_width=10)
    assert_error(admin_api.post(RULES, payload, format="json"), 400, "sampling_mode")
    rule_id = admin_api.post(RULES, rule_payload(survey, touchpoint), format="json").json()["id"]
    detail = reverse("api:trigger-rule-detail", args=[rule_id])
    assert_error(admin_api.patch(detail, {"sampling_mode": "precision"}, format="json"), 400, "target_half_width")
    response = admin_api.patch(detail, {"sampling_mode": "precision", "target_half_width": 10}, format="json")
    assert response.status_code == 200, response.content
    assert TriggerRule.objects.get().sampling_mode == "precision"


def test_a_decision_stopped_by_precision_says_why(admin_api, workspace, survey, touchpoint):
    from tests.surveys.test_precision import answered, scores

    rule_id = admin_api.post(
        RULES, rule_payload(survey, touchpoint, sampling_mode="precision", target_half_width=10), format="json"
    ).json()["id"]
    now = timezone.now()
    answered(
        TriggerRule.objects.get(), scores(180, 120, 100), at=max(period_bounds(now, 7)[0], now - timedelta(seconds=5))
    )
    items = [{"event": "order_delivered", "user_id": "ann", "traits": {"email": "ann@example.com"}}]
    events_evaluate(event_ids=events_ingest(workspace=workspace, items=items).event_ids)
    [decision] = admin_api.get(reverse("api:trigger-decision-list"), {"customer": "ann"}).json()["results"]
    assert (decision["outcome"], decision["reason"]) == ("precision_reached", "Target precision reached")
    report = admin_api.get(reverse("api:trigger-rule-outcomes", args=[rule_id])).json()["precision"]
    assert report["is_reached"] is True
    assert report["answers"] == 400
    assert report["half_width"] < 10
