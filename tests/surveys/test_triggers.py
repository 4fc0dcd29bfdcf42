"""The trigger engine: conditions, sampling, throttles, quiet hours, channels, exactly-once."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from surveys import rules, services
from surveys.models import DecisionOutcome, Invitation, TriggerDecision, TriggerRule
from surveys.triggers import (
    after_quiet_hours,
    condition_holds,
    events_evaluate,
    invitation_language,
    sample_point,
)
from tests.touchpoints.factories import CustomerFactory, TouchpointEventNameFactory
from touchpoints.models import ApiKey, Customer, TouchpointEvent
from touchpoints.services import events_ingest

pytestmark = pytest.mark.django_db

WARSAW = zoneinfo.ZoneInfo("Europe/Warsaw")


# --- Pure parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "properties.total", "operator": "gt", "value": 100}, True),
        ({"field": "properties.total", "operator": "lt", "value": 100}, False),
        ({"field": "properties.total", "operator": "eq", "value": "150"}, True),
        ({"field": "properties.total", "operator": "eq", "value": 150.0}, True),
        ({"field": "properties.express", "operator": "eq", "value": True}, True),
        ({"field": "properties.express", "operator": "eq", "value": 1}, False),
        ({"field": "properties.express", "operator": "eq", "value": "true"}, True),
        ({"field": "properties.shipping.country", "operator": "in", "value": ["PL", "HU"]}, True),
        ({"field": "properties.shipping.country", "operator": "in", "value": ["RU"]}, False),
        ({"field": "properties.shipping.missing", "operator": "exists", "value": None}, False),
        ({"field": "properties.shipping", "operator": "exists", "value": None}, True),
        ({"field": "properties.coupon", "operator": "exists", "value": None}, False),  # null counts as absent
        ({"field": "traits.plan", "operator": "eq", "value": "pro"}, True),
        ({"field": "traits.plan", "operator": "ne", "value": "free"}, True),
        ({"field": "traits.age", "operator": "ne", "value": 30}, True),  # missing "does not equal"
        ({"field": "traits.age", "operator": "gt", "value": 30}, False),  # missing fails the others
        ({"field": "traits.plan", "operator": "gt", "value": 3}, False),  # text is not a number
        ({"field": "properties.total.deeper", "operator": "exists", "value": None}, False),
    ],
)
def test_conditions(condition, expected):
    properties = {"total": 150, "express": True, "shipping": {"country": "PL"}, "coupon": None}
    assert condition_holds(condition, properties, {"plan": "pro"}) is expected


def test_sampling_is_deterministic_uniform_and_within_tolerance_over_10000_customers():
    points = [sample_point(7, customer_id, 1000 + customer_id) for customer_id in range(10_000)]
    assert points == [sample_point(7, customer_id, 1000 + customer_id) for customer_id in range(10_000)]
    assert all(0 <= p < 1 for p in points)
    for rate in (0.05, 0.3, 0.5):
        chosen = sum(p < rate for p in points)
        sd = (10_000 * rate * (1 - rate)) ** 0.5
        assert abs(chosen - 10_000 * rate) < 4 * sd, (rate, chosen)
    # Another rule samples other customers: the choices are not correlated across rules.
    other = [sample_point(8, customer_id, 1000 + customer_id) < 0.5 for customer_id in range(10_000)]
    both = sum(a and b for a, b in zip((p < 0.5 for p in points), other, strict=True))
    assert abs(both - 2500) < 4 * (10_000 * 0.25 * 0.75) ** 0.5


@pytest.mark.parametrize(
    ("local", "start", "end", "expected"),
    [
        (
            datetime(2026, 3, 10, 22, 30, tzinfo=WARSAW),
            time(21),
            time(8),
            datetime(2026, 3, 11, 8, 0, tzinfo=WARSAW),
        ),  # spans midnight
        (datetime(2026, 3, 10, 6, 0, tzinfo=WARSAW), time(21), time(8), datetime(2026, 3, 10, 8, 0, tzinfo=WARSAW)),
        (
            datetime(2026, 3, 10, 12, 0, tzinfo=WARSAW),
            time(21),
            time(8),
            datetime(2026, 3, 10, 12, 0, tzinfo=WARSAW),
        ),  # outside
        (
            datetime(2026, 3, 10, 8, 0, tzinfo=WARSAW),
            time(21),
            time(8),
            datetime(2026, 3, 10, 8, 0, tzinfo=WARSAW),
        ),  # end is not quiet
        (
            datetime(2026, 3, 10, 13, 15, tzinfo=WARSAW),
            time(12),
            time(14),
            datetime(2026, 3, 10, 14, 0, tzinfo=WARSAW),
        ),  # same-day window
        (
            datetime(2026, 3, 28, 23, 0, tzinfo=WARSAW),
            time(22),
            time(7),
            datetime(2026, 3, 29, 7, 0, tzinfo=WARSAW),
        ),  # across the DST change
    ],
)
def test_quiet_hours_postpone_to_their_end_in_local_time(local, start, end, expected):
    moment = local.astimezone(zoneinfo.ZoneInfo("UTC"))
    assert after_quiet_hours(moment, WARSAW, start, end) == expected


def test_invitation_language_matches_the_base_language():
    survey = type("S", (), {"languages": ["en", "pl"]})()
    assert invitation_language(Customer(language="pl-PL"), survey) == "pl"
    assert invitation_language(Customer(language="hu"), survey) == ""
    assert invitation_language(Customer(language=""), survey) == ""


# --- The engine -------------------------------------------------------------------------


@pytest.fixture
def survey(workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="transactional_nps")
    return services.survey_publish(workspace=workspace, survey_id=survey.pk)


@pytest.fixture
def other_survey(workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="csat_support")
    return services.survey_publish(workspace=workspace, survey_id=survey.pk)


@pytest.fixture
def delivered(workspace):
    return TouchpointEventNameFactory(
        workspace=workspace, touchpoint__stage__journey__workspace=workspace, name="order_delivered"
    ).touchpoint


def make_rule(workspace, survey, touchpoint, **data):
    data.setdefault("channel", Invitation.Channel.EMAIL)
    return rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data=data)


def ingest(workspace, *items):
    """Store events through the real ingest service; returns the new event ids (engine not run)."""
    result = events_ingest(workspace=workspace, items=[{"event": "order_delivered", **item} for item in items])
    assert not result.errors, result.errors
    return result.event_ids


def evaluate(workspace, *items, now=None):
    ids = ingest(workspace, *items)
    return events_evaluate(event_ids=ids, now=now)


def outcomes(rule=None):
    rows = TriggerDecision.objects.all() if rule is None else rule.decisions.all()
    return sorted(rows.values_list("outcome", flat=True))


class TestEngine:
    def test_an_event_invites_its_customer_after_the_delay(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered, delay_minutes=90)
        occurred = timezone.now() - timedelta(minutes=5)
        result = evaluate(
            workspace,
            {
                "user_id": "ann",
                "timestamp": occurred.isoformat(),
                "traits": {"email": "ann@example.com", "language": "pl"},
            },
        )
        assert (result.events, result.decisions, result.invitations) == (1, 1, 1)
        invitation = Invitation.objects.get()
        assert invitation.customer.external_id == "ann"
        assert invitation.status == Invitation.Status.SCHEDULED
        assert invitation.channel == "email"
        assert invitation.language == "pl"
        assert invitation.touchpoint == delivered
        assert abs(invitation.send_at - (occurred + timedelta(minutes=90))) < timedelta(seconds=1)
        assert invitation.expires_at == invitation.send_at + timedelta(days=survey.invitation_expiry_days)
        assert TouchpointEvent.objects.get().evaluated_at is not None
        assert outcomes() == ["invited"]

    def test_link_invitations_due_now_are_sent_at_once(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered, channel="link")
        evaluate(workspace, {"user_id": "ann"})
        invitation = Invitation.objects.get()
        assert invitation.status == Invitation.Status.SENT
        assert invitation.sent_at is not None

    def test_a_second_evaluation_of_the_same_event_creates_nothing(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered)
        ids = ingest(workspace, {"user_id": "ann", "traits": {"email": "a@example.com"}})
        events_evaluate(event_ids=ids)
        assert events_evaluate(event_ids=ids).events == 0  # already evaluated: skipped
        TouchpointEvent.objects.update(evaluated_at=None)  # as if a crash lost the mark: constraints hold
        events_evaluate(event_ids=ids)
        assert Invitation.objects.count() == 1
        assert TriggerDecision.objects.count() == 1

    def test_two_events_of_one_customer_in_a_batch_give_one_invitation(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered, recontact_days=0)
        result = evaluate(
            workspace,
            {"user_id": "ann", "traits": {"email": "a@example.com"}, "properties": {"order": 1}},
            {"user_id": "ann", "properties": {"order": 2}},
        )
        assert result.invitations == 1
        assert outcomes() == ["invited", "survey_recontact"]

    def test_recontact_period_of_the_survey(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered, recontact_days=90)
        ann = CustomerFactory(workspace=workspace, external_id="ann")
        bob = CustomerFactory(workspace=workspace, external_id="bob")
        for customer, days in ((ann, 30), (bob, 100)):
            Invitation.objects.create(
                workspace=workspace,
                survey=survey,
                customer=customer,
                channel="email",
                token=f"t{days}",
                send_at=timezone.now() - timedelta(days=days),
                expires_at=timezone.now(),
            )
        workspace.contact_policy_days = 0
        workspace.save()
        evaluate(workspace, {"user_id": "ann"}, {"user_id": "bob"})
        decisions = dict(TriggerDecision.objects.values_list("customer__external_id", "outcome"))
        assert decisions == {"ann": "survey_recontact", "bob": "invited"}

    def test_failed_and_suppressed_invitations_do_not_throttle(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered)
        ann = CustomerFactory(workspace=workspace, external_id="ann")
        Invitation.objects.create(
            workspace=workspace,
            survey=survey,
            customer=ann,
            channel="email",
            token="t1",
            status=Invitation.Status.FAILED,
            send_at=timezone.now(),
            expires_at=timezone.now(),
        )
        evaluate(workspace, {"user_id": "ann"})
        assert outcomes() == ["invited"]

    def test_contact_policy_spans_surveys(self, workspace, survey, other_survey, delivered):
        make_rule(workspace, survey, delivered)
        ann = CustomerFactory(workspace=workspace, external_id="ann")
        Invitation.objects.create(
            workspace=workspace,
            survey=other_survey,
            customer=ann,
            channel="email",
            token="t1",
            send_at=timezone.now() - timedelta(days=5),
            expires_at=timezone.now(),
        )
        evaluate(workspace, {"user_id": "ann", "message_id": "m1"})
        assert outcomes() == ["contact_policy"]
        workspace.contact_policy_days = 3  # five days ago is outside a three-day policy
        workspace.save()
        evaluate(workspace, {"user_id": "ann", "message_id": "m2"})
        assert outcomes() == ["contact_policy", "invited"]

    def test_two_surveys_on_one_touchpoint_respect_the_contact_policy(self, workspace, survey, other_survey, delivered):
        make_rule(workspace, survey, delivered)
        make_rule(workspace, other_survey, delivered)
        evaluate(workspace, {"user_id": "ann", "traits": {"email": "a@example.com"}})
        assert outcomes() == ["contact_policy", "invited"]
        assert Invitation.objects.count() == 1

    def test_unsubscribed_customers_are_never_invited(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered)
        CustomerFactory(workspace=workspace, external_id="ann", unsubscribed_at=timezone.now())
        evaluate(workspace, {"user_id": "ann"})
        assert outcomes() == ["unsubscribed"]
        assert not Invitation.objects.exists()

    def test_conditions_on_properties_and_traits(self, workspace, survey, delivered):
        make_rule(
            workspace,
            survey,
            delivered,
            conditions=[
                {"field": "properties.total", "operator": "gt", "value": 50},
                {"field": "traits.plan", "operator": "in", "value": ["pro", "team"]},
            ],
        )
        evaluate(
            workspace,
            {"user_id": "ann", "properties": {"total": 80}, "traits": {"plan": "pro", "email": "a@example.com"}},
            {"user_id": "bob", "properties": {"total": 20}, "traits": {"plan": "pro", "email": "b@example.com"}},
            {"user_id": "cid", "properties": {"total": 80}, "traits": {"plan": "free", "email": "c@example.com"}},
        )
        decisions = dict(TriggerDecision.objects.values_list("customer__external_id", "outcome"))
        assert decisions == {"ann": "invited", "bob": "condition_false", "cid": "condition_false"}

    def test_daily_cap(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered, daily_cap=2)
        evaluate(workspace, *({"user_id": f"c{n}", "traits": {"email": f"c{n}@example.com"}} for n in range(3)))
        assert outcomes() == ["daily_cap", "invited", "invited"]
        evaluate(workspace, {"user_id": "late", "traits": {"email": "l@example.com"}})
        assert outcomes().count("daily_cap") == 2  # the cap holds across batches of the same day

    def test_channel_fallback_and_no_channel(self, workspace, survey, delivered):
        rule = make_rule(workspace, survey, delivered, channel="email")
        evaluate(workspace, {"user_id": "ann", "message_id": "m1"})  # no address
        assert outcomes() == ["no_channel"]
        rules.rule_update(workspace=workspace, rule_id=rule.pk, data={"fallback_channel": "embedded"})
        evaluate(workspace, {"user_id": "bob", "message_id": "m2"})
        evaluate(workspace, {"user_id": "cid", "message_id": "m3", "traits": {"email": "c@example.com"}})
        channels = dict(Invitation.objects.values_list("customer__external_id", "channel"))
        assert channels == {"bob": "embedded", "cid": "email"}

    def test_webhook_channel_needs_the_workspace_url(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered, channel="webhook", fallback_channel="link")
        evaluate(workspace, {"user_id": "ann", "message_id": "m1"})
        workspace.webhook_url = "https://hooks.example.com/jp"
        workspace.contact_policy_days = 0
        workspace.save()
        evaluate(workspace, {"user_id": "bob", "message_id": "m2"})
        channels = dict(Invitation.objects.values_list("customer__external_id", "channel"))
        assert channels == {"ann": "link", "bob": "webhook"}

    def test_old_events_are_not_surveyed(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered)
        old = (timezone.now() - timedelta(days=5)).isoformat()
        evaluate(workspace, {"user_id": "ann", "timestamp": old, "traits": {"email": "a@example.com"}})
        assert outcomes() == ["stale"]

    def test_quiet_hours_in_the_customers_time_zone_postpone(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered, quiet_hours_start="21:00", quiet_hours_end="08:00")
        now = datetime(2026, 6, 10, 22, 30, tzinfo=WARSAW)
        evaluate(
            workspace,
            {
                "user_id": "ann",
                "timestamp": now.isoformat(),
                "traits": {"email": "a@example.com", "timezone": "Europe/Warsaw"},
            },
            now=now,
        )
        invitation = Invitation.objects.get()
        assert invitation.send_at.astimezone(WARSAW) == datetime(2026, 6, 11, 8, 0, tzinfo=WARSAW)
        assert invitation.status == Invitation.Status.SCHEDULED

    def test_sampling_decides_the_same_on_reevaluation(self, workspace, survey, delivered):
        make_rule(workspace, survey, delivered, sampling_rate=0.5)
        workspace.contact_policy_days = 0
        workspace.save()
        ids = ingest(workspace, *({"user_id": f"c{n}", "traits": {"email": f"c{n}@example.com"}} for n in range(200)))
        events_evaluate(event_ids=ids)
        first = dict(TriggerDecision.objects.values_list("event_id", "outcome"))
        assert 60 < list(first.values()).count("invited") < 140
        TriggerDecision.objects.all().delete()
        Invitation.objects.all().delete()
        TouchpointEvent.objects.update(evaluated_at=None)
        events_evaluate(event_ids=ids)
        assert dict(TriggerDecision.objects.values_list("event_id", "outcome")) == first

    def test_inactive_rules_and_surveys_decide_nothing(self, workspace, survey, delivered):
        rule = make_rule(workspace, survey, delivered, is_active=False)
        evaluate(workspace, {"user_id": "ann", "message_id": "m1"})
        rules.rule_update(workspace=workspace, rule_id=rule.pk, data={"is_active": True})
        services.survey_archive(workspace=workspace, survey_id=survey.pk)
        evaluate(workspace, {"user_id": "ann", "message_id": "m2"})
        assert not TriggerDecision.objects.exists()
        assert TouchpointEvent.objects.filter(evaluated_at__isnull=True).count() == 0

    def test_rules_of_another_workspace_never_fire(self, workspace, other_workspace, survey, delivered):
        make_rule(workspace, survey, delivered)
        TouchpointEventNameFactory(
            workspace=other_workspace, touchpoint__stage__journey__workspace=other_workspace, name="order_delivered"
        )
        events_evaluate(event_ids=ingest(other_workspace, {"user_id": "ann"}))
        assert not TriggerDecision.objects.exists()

    def test_query_count_does_not_grow_with_the_batch(
        self, workspace, survey, other_survey, delivered, django_assert_max_num_queries
    ):
        make_rule(workspace, survey, delivered, daily_cap=1000)
        make_rule(workspace, other_survey, delivered)

        def run(n: int, prefix: str) -> int:
            ids = ingest(
                workspace, *({"user_id": f"{prefix}{i}", "traits": {"email": "x@example.com"}} for i in range(n))
            )
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                events_evaluate(event_ids=ids)
            return len(queries)

        small, large = run(3, "s"), run(40, "l")
        assert large == small
        assert Invitation.objects.count() == 43

    def test_outcome_counts_per_rule_and_period(self, workspace, survey, delivered):
        rule = make_rule(workspace, survey, delivered, conditions=[{"field": "properties.ok", "operator": "exists"}])
        evaluate(
            workspace, {"user_id": "a", "properties": {"ok": 1}, "traits": {"email": "a@example.com"}}, {"user_id": "b"}
        )
        now = timezone.now()
        counts = rules.rule_outcome_counts(
            workspace=workspace, since=now - timedelta(days=1), until=now + timedelta(minutes=1), rule_ids=[rule.pk]
        )
        assert counts[rule.pk]["invited"] == 1
        assert counts[rule.pk]["condition_false"] == 1
        assert set(counts[rule.pk]) == set(DecisionOutcome.values)
        assert (
            rules.rule_outcome_counts(
                workspace=workspace, since=now + timedelta(minutes=1), until=now + timedelta(days=1), rule_ids=[rule.pk]
            )[rule.pk]["invited"]
            == 0
        )


def test_ingest_through_the_api_invites_after_commit(
    workspace, survey, delivered, key_client, django_capture_on_commit_callbacks
):
    make_rule(workspace, survey, delivered, channel="link")
    api = key_client(kind=ApiKey.Kind.WRITE)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(reverse("api:event-ingest"), {"event": "order_delivered", "user_id": "ann"}, format="json")
    assert response.status_code == 200, response.content
    invitation = Invitation.objects.get()
    assert invitation.status == Invitation.Status.SENT
    assert invitation.rule == TriggerRule.objects.get()
