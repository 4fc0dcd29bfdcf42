"""The trigger designer pages: rules beside the journey map, forms, outcomes and the "why not?" lookup."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from surveys import rules, services
from surveys.forms import format_conditions, parse_conditions
from surveys.models import TriggerRule
from surveys.precision import NpsCounts, period_bounds
from surveys.triggers import events_evaluate
from tests.touchpoints.factories import TouchpointEventNameFactory, TouchpointFactory
from touchpoints.models import Role
from touchpoints.services import events_ingest

pytestmark = pytest.mark.django_db

TRIGGERS = reverse("surveys:triggers")
NEW = reverse("surveys:rule-create")


@pytest.fixture
def survey(workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="transactional_nps")
    return services.survey_publish(workspace=workspace, survey_id=survey.pk)


@pytest.fixture
def touchpoint(workspace):
    return TouchpointEventNameFactory(
        workspace=workspace,
        touchpoint__stage__journey__workspace=workspace,
        touchpoint__name="Parcel delivered",
        name="order_delivered",
    ).touchpoint


def form_data(survey, touchpoint, **changes):
    data = {
        "survey": survey.pk,
        "touchpoint": touchpoint.pk,
        "channel": "email",
        "fallback_channel": "embedded",
        "delay": "2",
        "delay_unit": "hours",
        "sampling_percent": "50",
        "conditions": "properties.total > 100\ntraits.plan in pro, team",
        "recontact_days": "60",
        "daily_cap": "",
        "quiet_hours_start": "21:00",
        "quiet_hours_end": "08:00",
        "is_active": "on",
    }
    return data | changes


def test_conditions_text_round_trip():
    text = "properties.total > 100\ntraits.plan in pro, team\ntraits.country != 'PL'\nproperties.coupon exists"
    conditions = parse_conditions(text)
    assert conditions == [
        {"field": "properties.total", "operator": "gt", "value": "100"},
        {"field": "traits.plan", "operator": "in", "value": ["pro", "team"]},
        {"field": "traits.country", "operator": "ne", "value": "PL"},
        {"field": "properties.coupon", "operator": "exists", "value": None},
    ]
    assert parse_conditions(format_conditions(conditions)) == conditions


def test_create_a_rule_from_the_page(page_client, survey, touchpoint):
    client = page_client(Role.DESIGNER)
    page = client.get(NEW, {"touchpoint": touchpoint.pk})
    assert page.status_code == 200
    assert f'<option value="{touchpoint.pk}" selected>' in page.content.decode()
    response = client.post(NEW, form_data(survey, touchpoint))
    assert response.status_code == 302, response.content.decode()
    rule = TriggerRule.objects.get()
    assert rule.delay_minutes == 120
    assert rule.sampling_rate == 0.5
    assert rule.fallback_channel == "embedded"
    assert rule.conditions[0] == {"field": "properties.total", "operator": "gt", "value": 100.0}
    assert rule.quiet_hours_start.hour == 21
    page = client.get(response["Location"]).content.decode()
    assert "Parcel delivered" in page
    assert survey.name in html.unescape(page)
    assert "after 2 hours" in page
    assert "50% sampled" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"conditions": "total is big"}, "Line 1: write a field"),
        ({"conditions": "properties.total > 1\nprofile.plan = pro"}, "Line 2: Name a field"),
        ({"conditions": "properties.total > lots"}, "Line 1: Give a number."),
        ({"fallback_channel": "email"}, "Choose a fallback other than the channel."),
        ({"quiet_hours_end": ""}, "Give both ends of the quiet hours"),
        ({"delay": "91", "delay_unit": "days"}, "less than or equal to 129600"),
        ({"sampling_percent": "120"}, "less than or equal to 100"),
        ({"sampling_mode": "precision", "target_half_width": ""}, "Give the target precision, in NPS points"),
        ({"sampling_mode": "precision", "target_half_width": "60"}, "less than or equal to 50"),
        ({"sampling_mode": "precision", "target_half_width": "10", "sampling_percent": "0"}, "give more than 0"),
        ({"precision_period_days": "5"}, "Select a valid choice"),
        ({"sampling_mode": "sometimes"}, "Select a valid choice"),
    ],
)
def test_bad_rules_are_form_errors(page_client, survey, touchpoint, changes, message):
    response = page_client(Role.DESIGNER).post(NEW, form_data(survey, touchpoint, **changes))
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert 'aria-invalid="true"' in response.content.decode()
    assert not TriggerRule.objects.exists()


def test_a_condition_error_keeps_the_syntax_help_announced(page_client, survey, touchpoint):
    response = page_client(Role.DESIGNER).post(NEW, form_data(survey, touchpoint, conditions="total is big"))
    assert 'aria-describedby="id_conditions_errors id_conditions_helptext"' in response.content.decode()


def test_a_second_rule_for_the_same_pair_is_a_form_error(page_client, survey, touchpoint):
    client = page_client(Role.DESIGNER)
    client.post(NEW, form_data(survey, touchpoint))
    response = client.post(NEW, form_data(survey, touchpoint))
    assert response.status_code == 400
    assert "already has a rule for this touchpoint" in response.content.decode()


def test_edit_keeps_survey_and_touchpoint_and_delete(page_client, workspace, survey, touchpoint):
    client = page_client(Role.ADMIN)
    client.post(NEW, form_data(survey, touchpoint))
    rule = TriggerRule.objects.get()
    edit = reverse("surveys:rule-edit", args=[rule.pk])
    page = client.get(edit).content.decode()
    assert "properties.total &gt; 100" in page
    assert 'value="2"' in page  # two hours, not 120 minutes
    other = TouchpointFactory(workspace=workspace, stage=touchpoint.stage)
    response = client.post(edit, form_data(survey, other, delay="1", delay_unit="days", conditions=""))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.touchpoint, rule.delay_minutes, rule.conditions) == (touchpoint, 1440, [])
    assert client.post(reverse("surveys:rule-delete", args=[rule.pk])).status_code == 302
    assert not TriggerRule.objects.exists()


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_readers_see_rules_but_cannot_change_them(page_client, workspace, survey, touchpoint, role):
    rule = rules.rule_create(
        workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data={"channel": "link"}
    )
    client = page_client(role)
    page = client.get(TRIGGERS).content.decode()
    assert html.unescape(survey.name) in html.unescape(page)
    assert reverse("surveys:rule-edit", args=[rule.pk]) not in page
    assert client.get(NEW).status_code == 403
    assert client.post(reverse("surveys:rule-delete", args=[rule.pk])).status_code == 403
    assert TriggerRule.objects.exists()


def test_another_workspaces_rule_is_404(page_client, other_workspace):
    other_survey = services.survey_create_from_template(workspace=other_workspace, template="transactional_nps")
    other_touchpoint = TouchpointFactory(workspace=other_workspace, stage__journey__workspace=other_workspace)
    rule = rules.rule_create(
        workspace=other_workspace,
        survey_id=other_survey.pk,
        touchpoint_id=other_touchpoint.pk,
        data={"channel": "link"},
    )
    client = page_client(Role.ADMIN)
    assert client.get(reverse("surveys:rule-edit", args=[rule.pk])).status_code == 404
    assert client.post(reverse("surveys:rule-delete", args=[rule.pk])).status_code == 404
    response = client.post(NEW, {"survey": other_survey.pk, "touchpoint": other_touchpoint.pk, "channel": "link"})
    assert response.status_code == 400


def test_outcomes_and_the_why_not_lookup(page_client, workspace, survey, touchpoint):
    rules.rule_create(
        workspace=workspace,
        survey_id=survey.pk,
        touchpoint_id=touchpoint.pk,
        data={"channel": "email", "conditions": [{"field": "traits.plan", "operator": "eq", "value": "pro"}]},
    )
    items = [
        {"event": "order_delivered", "user_id": "ann", "traits": {"plan": "pro", "email": "a@example.com"}},
        {"event": "order_delivered", "user_id": "bob", "traits": {"plan": "free"}},
    ]
    events_evaluate(event_ids=events_ingest(workspace=workspace, items=items).event_ids)
    client = page_client(Role.VIEWER)
    page = client.get(TRIGGERS, {"days": "7"}).content.decode()
    assert "1 invited" in page
    assert "Conditions not met: <strong>1</strong>" in page
    page = client.get(TRIGGERS, {"customer": "bob"}).content.decode()
    assert "Latest decisions for bob" in page
    assert "order_delivered" in page
    page = client.get(TRIGGERS, {"customer": "nobody"}).content.decode()
    assert "No decisions for this customer" in page


def test_the_page_query_count_does_not_grow_with_rules(page_client, workspace, survey, touchpoint):
    client = page_client(Role.DESIGNER)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(TRIGGERS).status_code == 200
        return len(queries)

    rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data={"channel": "link"})
    before = count()
    for _ in range(4):
        point = TouchpointFactory(workspace=workspace, stage=touchpoint.stage)
        rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=point.pk, data={"channel": "link"})
    assert count() == before


def test_the_form_has_the_precision_fields_without_javascript(page_client, survey, touchpoint):
    page = page_client(Role.DESIGNER).get(NEW).content.decode()
    assert 'type="radio" name="sampling_mode" value="fixed"' in page
    assert 'name="sampling_mode" value="precision"' in page
    assert 'name="target_half_width"' in page
    assert 'name="precision_period_days"' in page
    assert "the most it may invite" in page  # the sampling rate's meaning in precision mode
    assert "<script" not in page.split("<main", 1)[-1]


def test_create_a_precision_rule_from_the_page_and_edit_it(page_client, survey, touchpoint):
    client = page_client(Role.DESIGNER)
    data = form_data(survey, touchpoint, sampling_mode="precision", target_half_width="7.5", precision_period_days="30")
    response = client.post(NEW, data | {"sampling_percent": "30"})
    assert response.status_code == 302, response.content.decode()
    rule = TriggerRule.objects.get()
    assert (rule.sampling_mode, rule.target_half_width, rule.precision_period_days) == ("precision", 7.5, 30)
    assert rule.sampling_rate == 0.3
    page = client.get(reverse("surveys:rule-edit", args=[rule.pk])).content.decode()
    assert 'value="precision" id="id_sampling_mode_1" checked' in page or 'value="precision" checked' in page
    assert 'name="target_half_width" value="7.5"' in page
    assert '<option value="30" selected>' in page


def test_a_survey_without_nps_cannot_target_precision(page_client, workspace, touchpoint):
    csat = services.survey_create_from_template(workspace=workspace, template="csat_support")
    response = page_client(Role.DESIGNER).post(
        NEW, form_data(csat, touchpoint, sampling_mode="precision", target_half_width="10")
    )
    assert response.status_code == 400
    assert "Target precision is measured on an NPS question" in html.unescape(response.content.decode())
    assert not TriggerRule.objects.exists()


def test_the_page_shows_the_precision_reached_and_the_saving(page_client, workspace, survey, touchpoint):
    from tests.surveys.test_precision import answered, decide, scores

    rule = rules.rule_create(
        workspace=workspace,
        survey_id=survey.pk,
        touchpoint_id=touchpoint.pk,
        data={"channel": "email", "sampling_mode": "precision", "target_half_width": 10, "sampling_rate": 0.3},
    )
    now = timezone.now()
    at = max(period_bounds(now, 7)[0], now - timedelta(seconds=5))
    decide(rule, {"invited": 400, "sampled_out": 500, "precision_reached": 1100}, at=at)
    answered(rule, scores(60, 40, 30), at=at)
    page = html.unescape(client_page := page_client(Role.VIEWER).get(TRIGGERS).content.decode())
    assert "Target precision ±10.0 NPS points per week, at most 30% sampled" in page
    half_width = NpsCounts(60, 40, 30).half_width()
    assert f"This period: ±{half_width:.1f} NPS points from 130 answers, target not reached yet" in page
    assert "Saved 200 invitations (33%) against sampling 30% this period" in page
    assert "Target precision reached: <strong>1100</strong>" in client_page
    assert "% sampled</p>" not in page  # the fixed-rate line is not shown for a precision rule


def test_the_page_query_count_does_not_grow_with_precision_rules(page_client, workspace, survey, touchpoint):
    client = page_client(Role.DESIGNER)
    data = {"channel": "link", "sampling_mode": "precision", "target_half_width": 10}

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(TRIGGERS).status_code == 200
        return len(queries)

    rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data=data)
    before = count()
    for _ in range(4):
        point = TouchpointFactory(workspace=workspace, stage=touchpoint.stage)
        rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=point.pk, data=data)
    assert count() == before


def test_the_page_says_when_precision_costs_more_or_cannot_be_measured(page_client, workspace, survey, touchpoint):
    from surveys.models import Question
    from tests.surveys.test_precision import decide

    data = {"channel": "email", "sampling_mode": "precision", "target_half_width": 10, "sampling_rate": 0.3}
    rule = rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data=data)
    now = timezone.now()
    decide(rule, {"invited": 50, "sampled_out": 50}, at=max(period_bounds(now, 7)[0], now - timedelta(seconds=5)))
    client = page_client(Role.VIEWER)
    page = html.unescape(client.get(TRIGGERS).content.decode())
    assert "This period: no answers yet." in page
    assert "20 invitations more than sampling 30% this period" in page
    Question.objects.filter(survey=survey, type=Question.Type.NPS).update(is_archived=True)
    page = html.unescape(client.get(TRIGGERS).content.decode())
    assert "The survey has no NPS question to measure: sampling at the fixed rate." in page
