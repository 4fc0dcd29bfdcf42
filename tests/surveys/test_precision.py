"""Target-precision sampling: the interval, the plan, the engine in precision mode, savings, the simulation."""

from __future__ import annotations

import contextlib
import math
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.metrics import nps as report_nps
from surveys import precision, rules, services
from surveys.models import (
    Answer,
    DecisionOutcome,
    Invitation,
    Question,
    Response,
    TriggerDecision,
    TriggerRule,
)
from surveys.precision import (
    MIN_ANSWERS,
    Budget,
    NpsCounts,
    PeriodState,
    Scenario,
    answers_needed,
    budgets_for,
    period_bounds,
    period_states,
    plan,
    precision_reports,
    simulate_fixed,
    simulate_precision,
    simulate_stream,
)
from surveys.triggers import events_evaluate
from tests.conftest import require
from tests.touchpoints.factories import TouchpointEventNameFactory
from touchpoints.models import Customer, TouchpointEvent
from touchpoints.services import events_ingest

#: Wednesday noon (UTC) of the week two weeks ago: the engine's ``now`` in these tests, so no test
#: depends on the weekday it runs on (how much of the period is left).
NOW = period_bounds(timezone.now(), 7)[0] - timedelta(days=14) + timedelta(days=2, hours=12)
WEEK = timedelta(days=7)


# --- Pure: periods, the interval, the plan ----------------------------------------------------


def test_weekly_periods_are_iso_weeks_and_daily_periods_utc_days():
    start, end = period_bounds(datetime(2026, 3, 12, 15, 30, tzinfo=UTC), 7)  # a Thursday
    assert (start, end) == (datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 16, tzinfo=UTC))
    assert start.isoweekday() == 1
    assert period_bounds(datetime(2026, 3, 16, tzinfo=UTC), 7)[0] == datetime(2026, 3, 16, tzinfo=UTC)
    assert period_bounds(datetime(2026, 3, 12, 23, 59, tzinfo=UTC), 1) == (
        datetime(2026, 3, 12, tzinfo=UTC),
        datetime(2026, 3, 13, tzinfo=UTC),
    )
    start, end = period_bounds(datetime(2020, 5, 5, tzinfo=UTC), 30)  # before the anchor too
    assert start <= datetime(2020, 5, 5, tzinfo=UTC) < end
    assert end - start == timedelta(days=30)


@pytest.mark.parametrize(
    ("promoters", "passives", "detractors"), [(45, 30, 25), (300, 10, 0), (3, 0, 2), (120, 80, 200)]
)
def test_the_half_width_is_the_reports_interval(promoters, passives, detractors):
    counts = NpsCounts(promoters, passives, detractors)
    estimate = report_nps(promoters, passives, detractors)
    low, high = counts.interval()
    assert (low, high) == pytest.approx((estimate.ci_low, estimate.ci_high))
    if low > -100 and high < 100:  # not clipped: the half-width is half the interval
        assert counts.half_width() == pytest.approx((high - low) / 2)
    assert counts.value() == pytest.approx(estimate.value)


@pytest.mark.parametrize(("variance", "target"), [(0.66, 10), (0.8, 10), (0.66, 5), (0.3, 20)])
def test_answers_needed_reach_the_target_at_that_variance(variance, target):
    n = answers_needed(variance, target)
    assert n >= MIN_ANSWERS
    assert 100 * 1.959963984540054 * math.sqrt(variance / (n + 3)) <= target
    if n > MIN_ANSWERS:
        assert 100 * 1.959963984540054 * math.sqrt(variance / (n + 2)) > target


def state(**changes):
    base = PeriodState(
        current=NpsCounts(),
        history=NpsCounts(),
        settled_contacted=0,
        settled_answered=0,
        settled_answered_within=(0, 0, 0, 0, 0),
        pending=(0, 0, 0, 0, 0),
        eligible_recent=0,
        pacing_seconds=0,
        remaining_seconds=4 * 86400,
    )
    return replace(base, **changes)


def test_reached_needs_the_width_and_enough_answers():
    wide = plan(state(current=NpsCounts(100, 60, 40)), target_half_width=10, ceiling=1)
    assert not wide.is_reached
    assert wide.invitations_needed > 0
    narrow = plan(state(current=NpsCounts(400, 300, 100)), target_half_width=10, ceiling=1)
    assert narrow.is_reached
    assert narrow.rate == 0
    assert narrow.invitations_needed == 0
    few = plan(state(current=NpsCounts(20, 0, 0)), target_half_width=50, ceiling=1)  # ±8 from 20 answers
    assert few.half_width < 50
    assert not few.is_reached


def test_pending_invitations_count_less_the_older_they_are():
    settled = {"settled_contacted": 1000, "settled_answered": 200, "settled_answered_within": (80, 150, 180, 195, 198)}
    none = plan(state(**settled), target_half_width=10, ceiling=1)
    young = plan(state(**settled, pending=(500, 0, 0, 0, 0)), target_half_width=10, ceiling=1)
    old = plan(state(**settled, pending=(0, 0, 0, 0, 500)), target_half_width=10, ceiling=1)
    assert none.response_rate == pytest.approx(203 / 1020)
    assert young.expected_from_pending == pytest.approx(500 * none.response_rate * 0.99, rel=0.02)
    assert old.expected_from_pending < young.expected_from_pending / 20  # two days old: nearly given up
    assert none.invitations_needed > old.invitations_needed > young.invitations_needed


def test_near_the_end_of_the_period_an_invitation_is_worth_less():
    settled = {"settled_contacted": 1000, "settled_answered": 200, "settled_answered_within": (80, 150, 180, 195, 198)}
    early = plan(state(**settled, remaining_seconds=4 * 86400), target_half_width=10, ceiling=1)
    late = plan(state(**settled, remaining_seconds=6 * 3600), target_half_width=10, ceiling=1)
    assert late.invitations_needed > early.invitations_needed


def test_pacing_spreads_the_budget_below_the_ceiling():
    cold = plan(state(), target_half_width=10, ceiling=0.3)  # no decision history yet: the ceiling
    assert cold.rate == 0.3
    busy = state(eligible_recent=20_000, pacing_seconds=7 * 86400, remaining_seconds=4 * 86400)
    paced = plan(busy, target_half_width=10, ceiling=0.3)
    expected_events = 20_000 / 7 * 4
    assert paced.rate == pytest.approx(1.5 * paced.invitations_needed / expected_events)
    assert paced.rate < 0.3
    quiet = replace(busy, eligible_recent=700)  # fewer events left than invitations needed
    assert plan(quiet, target_half_width=10, ceiling=0.3).rate == 0.3


def test_the_prior_variance_gives_way_to_the_rules_history():
    history = NpsCounts(450, 300, 250)  # variance 0.66
    without = plan(state(), target_half_width=10, ceiling=1)
    with_history = plan(state(history=history), target_half_width=10, ceiling=1)
    assert with_history.answers_needed < without.answers_needed
    assert with_history.answers_needed == answers_needed(0.66, 9.8)


def test_a_budget_is_spent_then_says_pending():
    budget = Budget(plan(state(current=NpsCounts(10, 10, 10)), target_half_width=20, ceiling=0.5))  # ±27.5
    assert budget.left > 0
    assert budget.outcome(0.9) == DecisionOutcome.SAMPLED_OUT
    assert budget.outcome(0.1) is None
    budget.left = 1
    budget.spend()
    assert budget.outcome(0.1) == DecisionOutcome.PRECISION_PENDING
    reached = Budget(plan(state(current=NpsCounts(400, 300, 100)), target_half_width=10, ceiling=1))
    assert reached.outcome(0.0) == DecisionOutcome.PRECISION_REACHED


# --- The simulation: the saving, proved on seeded streams -----------------------------------


def run(scenario: Scenario, seeds: range, fixed_rate: float = 0.30):
    fixed, precise = [], []
    for seed in seeds:
        stream = simulate_stream(scenario, np.random.default_rng(seed))
        fixed.append(simulate_fixed(stream, fixed_rate))
        precise.append(simulate_precision(stream))
    return fixed, precise


def test_simulation_precision_mode_saves_invitations_and_reaches_the_target():
    """5,000 eligible events a week, 20% answer, NPS 20; fixed 30% against ±10 with a 30% ceiling."""
    scenario = Scenario(periods=6)
    fixed, precise = run(scenario, range(3))
    fixed_invitations = sum(int(t.invitations.sum()) for t in fixed)
    precise_invitations = sum(int(t.invitations.sum()) for t in precise)
    saving = 1 - precise_invitations / fixed_invitations
    assert 0.08 < saving < 0.25, saving  # fixed 30% gets about ±9.1; ±10 needs about 25%
    half_widths = np.concatenate([t.half_widths() for t in precise])
    assert np.median(half_widths) <= 10.0
    assert np.percentile(half_widths, 90) < 10.3
    assert half_widths.max() < 10.75  # a period whose last answers did not come falls a little short
    assert (half_widths <= 10.0).mean() >= 0.7
    covered = np.concatenate([t.covered(scenario.true_nps) for t in precise])
    assert covered.mean() >= 0.85  # 95% nominal, 18 periods


def test_simulation_high_volume_saves_most_and_low_volume_nothing():
    high_fixed, high_precise = run(Scenario(events_per_period=20_000, periods=3), range(2))
    high_saving = 1 - sum(t.invitations.sum() for t in high_precise) / sum(t.invitations.sum() for t in high_fixed)
    assert high_saving > 0.7
    low_fixed, low_precise = run(Scenario(events_per_period=1000, periods=3), range(2))
    for fixed, precise in zip(low_fixed, low_precise, strict=True):
        # Too few events for ±10: precision mode invites at its ceiling, exactly what the fixed rate does.
        assert (precise.invitations == fixed.invitations).all()
        assert (precise.half_widths() > 15).all()


# --- The engine in precision mode --------------------------------------------------------


@pytest.fixture
def survey(workspace):
    survey = services.survey_create_from_template(workspace=workspace, template="transactional_nps")
    return services.survey_publish(workspace=workspace, survey_id=survey.pk)


@pytest.fixture
def delivered(workspace):
    return TouchpointEventNameFactory(
        workspace=workspace, touchpoint__stage__journey__workspace=workspace, name="order_delivered"
    ).touchpoint


def precision_rule(workspace, survey, touchpoint, **data):
    data = {"channel": "email", "sampling_mode": "precision", "target_half_width": 10, "sampling_rate": 1.0} | data
    return rules.rule_create(workspace=workspace, survey_id=survey.pk, touchpoint_id=touchpoint.pk, data=data)


def customers(workspace, count, at):
    tag = uuid.uuid4().hex[:8]
    return Customer.objects.bulk_create(
        [
            Customer(workspace=workspace, external_id=f"{tag}-{i}", first_seen_at=at, last_seen_at=at)
            for i in range(count)
        ]
    )


def invitations(rule, count, *, sent, status=Invitation.Status.SENT):
    tag = uuid.uuid4().hex[:8]
    return Invitation.objects.bulk_create(
        [
            Invitation(
                workspace=rule.workspace,
                survey=rule.survey,
                customer=customer,
                touchpoint=rule.touchpoint,
                rule=rule,
                channel="email",
                status=status,
                token=f"{tag}-{i}",
                send_at=sent,
                expires_at=sent + timedelta(days=30),
            )
            for i, customer in enumerate(customers(rule.workspace, count, sent))
        ]
    )


def answered(rule, scores, *, at):
    """Invitations of ``rule`` sent an hour before ``at`` and answered then with these NPS scores."""
    question = rule.survey.questions.get(type=Question.Type.NPS)
    made = invitations(rule, len(scores), sent=at - timedelta(hours=1), status=Invitation.Status.ANSWERED)
    responses = Response.objects.bulk_create(
        [
            Response(
                workspace=rule.workspace,
                survey=rule.survey,
                invitation=invitation,
                language="en",
                started_at=at,
                completed_at=at,
                is_complete=True,
            )
            for invitation in made
        ]
    )
    Answer.objects.bulk_create(
        [
            Answer(workspace=rule.workspace, response=response, question=question, number=score)
            for response, score in zip(responses, scores, strict=True)
        ]
    )
    Answer.objects.filter(response__in=responses).update(created_at=at)


def scores(promoters, passives, detractors):
    return [10] * promoters + [7] * passives + [3] * detractors


def evaluate(workspace, count, *, now=NOW):
    tag = uuid.uuid4().hex[:8]
    items = [
        {
            "event": "order_delivered",
            "user_id": f"{tag}-{i}",
            "timestamp": (now - timedelta(minutes=5)).isoformat(),
            "traits": {"email": f"{tag}-{i}@example.com"},
        }
        for i in range(count)
    ]
    result = events_ingest(workspace=workspace, items=items)
    assert not result.errors, result.errors
    events_evaluate(event_ids=result.event_ids, now=now)
    return result.event_ids


def outcomes_of(event_ids):
    return sorted(TriggerDecision.objects.filter(event_id__in=event_ids).values_list("outcome", flat=True))


@pytest.mark.django_db
class TestEngine:
    def test_stops_inviting_once_the_period_is_precise_and_resumes_next_period(self, workspace, survey, delivered):
        rule = precision_rule(workspace, survey, delivered)
        answered(rule, scores(180, 120, 100), at=NOW - timedelta(days=1))  # ±7.9 this week
        first = evaluate(workspace, 5)
        assert outcomes_of(first) == [DecisionOutcome.PRECISION_REACHED] * 5
        assert not Invitation.objects.filter(event_id__in=first).exists()
        # The same answers a week earlier: a new period with nothing in it yet, so invitations resume.
        Answer.objects.update(created_at=NOW - timedelta(days=1) - WEEK)
        second = evaluate(workspace, 5)
        assert outcomes_of(second) == [DecisionOutcome.INVITED] * 5
        assert Invitation.objects.filter(event_id__in=second, rule=rule).count() == 5

    def test_enough_pending_invitations_wait_for_their_answers(self, workspace, survey, delivered):
        rule = precision_rule(workspace, survey, delivered, target_half_width=50)  # 30 answers do
        made = invitations(rule, 300, sent=NOW - timedelta(hours=1))  # about 44 answers still expected
        assert outcomes_of(evaluate(workspace, 5)) == [DecisionOutcome.PRECISION_PENDING] * 5
        Invitation.objects.filter(pk__in=[invitation.pk for invitation in made[:250]]).delete()
        assert outcomes_of(evaluate(workspace, 5)) == [DecisionOutcome.INVITED] * 5

    def test_a_batch_invites_exactly_the_budget(self, workspace, survey, delivered):
        rule = precision_rule(workspace, survey, delivered, target_half_width=50)
        invitations(rule, 190, sent=NOW - timedelta(hours=1))
        [budget] = budgets_for([rule], NOW).values()
        assert 0 < budget.left < 30
        event_ids = evaluate(workspace, 40)
        decided = outcomes_of(event_ids)
        assert decided.count(DecisionOutcome.INVITED) == budget.left
        assert decided.count(DecisionOutcome.PRECISION_PENDING) == 40 - budget.left

    def test_reevaluation_decides_the_same(self, workspace, survey, delivered):
        precision_rule(workspace, survey, delivered, sampling_rate=0.5)
        event_ids = evaluate(workspace, 120)
        first = dict(TriggerDecision.objects.values_list("event_id", "outcome"))
        assert 30 < list(first.values()).count(DecisionOutcome.INVITED) < 90  # at the 50% ceiling, by hash
        assert set(first.values()) == {DecisionOutcome.INVITED, DecisionOutcome.SAMPLED_OUT}
        TriggerDecision.objects.all().delete()
        Invitation.objects.filter(event__isnull=False).delete()
        TouchpointEvent.objects.update(evaluated_at=None)
        events_evaluate(event_ids=event_ids, now=NOW)
        assert dict(TriggerDecision.objects.values_list("event_id", "outcome")) == first

    def test_without_an_nps_question_a_precision_rule_samples_at_its_fixed_rate(self, workspace, survey, delivered):
        rule = precision_rule(workspace, survey, delivered, sampling_rate=0.5)
        Question.objects.filter(survey=survey, type=Question.Type.NPS).update(is_archived=True)
        assert period_states([rule], NOW) == {}
        decided = outcomes_of(evaluate(workspace, 60))
        assert set(decided) == {DecisionOutcome.INVITED, DecisionOutcome.SAMPLED_OUT}

    def test_queries_do_not_grow_with_the_batch_or_the_precision_rules(self, workspace, survey, delivered):
        precision_rule(workspace, survey, delivered, daily_cap=1000)
        other = services.survey_publish(
            workspace=workspace,
            survey_id=services.survey_create_from_template(workspace=workspace, template="relationship_nps").pk,
        )

        def queries(count: int) -> int:
            tag = uuid.uuid4().hex[:8]
            items = [
                {"event": "order_delivered", "user_id": f"{tag}-{i}", "traits": {"email": "x@example.com"}}
                for i in range(count)
            ]
            ids = events_ingest(workspace=workspace, items=items).event_ids
            with CaptureQueriesContext(connection) as captured:
                events_evaluate(event_ids=ids)
            return len(captured)

        small, large = queries(3), queries(40)
        assert small == large
        precision_rule(workspace, other, delivered)
        assert queries(10) == small


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_evaluations_of_one_precision_rule_share_its_budget(workspace, survey, delivered, monkeypatch):
    require(connection.vendor == "postgresql", "needs PostgreSQL: set DATABASE_URL=postgres://…")
    from surveys.receivers import enqueue_evaluation
    from tests.integration.test_postgres import race
    from touchpoints.signals import events_ingested

    rule = precision_rule(workspace, survey, delivered, target_half_width=50)
    invitations(rule, 190, sent=NOW - timedelta(hours=1))
    [budget] = budgets_for([rule], NOW).values()
    events_ingested.disconnect(enqueue_evaluation, dispatch_uid="surveys.enqueue_evaluation")
    try:
        batches = []
        for _ in range(2):
            tag = uuid.uuid4().hex[:8]
            items = [
                {
                    "event": "order_delivered",
                    "user_id": f"{tag}-{i}",
                    "timestamp": (NOW - timedelta(minutes=5)).isoformat(),
                    "traits": {"email": f"{tag}-{i}@example.com"},
                }
                for i in range(30)
            ]
            batches.append(events_ingest(workspace=workspace, items=items).event_ids)
    finally:
        events_ingested.connect(enqueue_evaluation, dispatch_uid="surveys.enqueue_evaluation")
    # Hold each evaluation right after it has read its budget, until the other has read its own
    # too or 3 s passed: without the rule lock both read the same budget; with it the second
    # waits for the lock, so the first goes on alone after the timeout and commits first.
    both_read = threading.Barrier(2)

    def read_then_wait(*args, **kwargs):
        budgets = read_budgets(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait(timeout=3)
        return budgets

    read_budgets = precision.budgets_for
    monkeypatch.setattr(precision, "budgets_for", read_then_wait)
    _results, errors = race(2, lambda i: events_evaluate(event_ids=batches[i], now=NOW))
    assert errors == []
    # Without the rule lock both would read the same budget and invite twice as many.
    assert Invitation.objects.filter(rule=rule, event__isnull=False).count() == budget.left


# --- Savings ------------------------------------------------------------------------------


def decide(rule, outcomes, *, at):
    """Decisions of ``rule`` at ``at``, one event and customer each: ``{outcome: count}``."""
    tag = uuid.uuid4().hex[:8]
    total = sum(outcomes.values())
    people = customers(rule.workspace, total, at)
    events = TouchpointEvent.objects.bulk_create(
        [
            TouchpointEvent(
                workspace=rule.workspace,
                customer=customer,
                touchpoint=rule.touchpoint,
                name="order_delivered",
                message_id=f"{tag}-{i}",
                occurred_at=at,
                received_at=at,
                evaluated_at=at,
            )
            for i, customer in enumerate(people)
        ]
    )
    labels = [outcome for outcome, count in outcomes.items() for _ in range(count)]
    TriggerDecision.objects.bulk_create(
        [
            TriggerDecision(
                workspace=rule.workspace, rule=rule, event=event, customer=event.customer, outcome=label, decided_at=at
            )
            for event, label in zip(events, labels, strict=True)
        ]
    )


@pytest.mark.django_db
def test_savings_on_a_constructed_period(workspace, survey, delivered):
    rule = precision_rule(workspace, survey, delivered, sampling_rate=0.3)
    fixed_rule = rules.rule_create(
        workspace=workspace,
        survey_id=services.survey_publish(
            workspace=workspace,
            survey_id=services.survey_create_from_template(workspace=workspace, template="relationship_nps").pk,
        ).pk,
        touchpoint_id=delivered.pk,
        data={"channel": "email", "sampling_rate": 0.3},
    )
    this_week = NOW - timedelta(days=1)
    decide(
        rule,
        {
            DecisionOutcome.INVITED: 400,
            DecisionOutcome.SAMPLED_OUT: 300,
            DecisionOutcome.PRECISION_PENDING: 100,
            DecisionOutcome.PRECISION_REACHED: 1100,
            DecisionOutcome.NO_CHANNEL: 100,
            DecisionOutcome.SURVEY_RECONTACT: 500,  # not eligible: a fixed rate would not have sampled these
            DecisionOutcome.CONDITION_FALSE: 70,
        },
        at=this_week,
    )
    decide(rule, {DecisionOutcome.INVITED: 900}, at=this_week - WEEK)  # last week's: not this period's
    answered(rule, scores(60, 40, 30), at=this_week)
    answered(rule, scores(50, 0, 0), at=this_week - WEEK)

    reports = precision_reports(rules=[rule, fixed_rule], at=NOW)
    assert set(reports) == {rule.pk}
    report = reports[rule.pk]
    assert (report.period_start, report.period_end) == period_bounds(NOW, 7)
    assert report.eligible == 400 + 300 + 100 + 1100 + 100
    assert report.invited == 400
    assert report.fixed_rate_invitations == 600  # 30% of 2,000 eligible
    assert report.saved == 200
    assert report.saved_percent == pytest.approx(100 / 3)
    assert report.answers == 130
    assert report.nps == pytest.approx(100 * (60 - 30) / 130)
    assert report.half_width == pytest.approx(NpsCounts(60, 40, 30).half_width())
    assert report.half_width > 10
    assert not report.is_reached

    more = precision_reports(rules=[rule], at=NOW - WEEK)[rule.pk]  # last week: invited more than 30%
    assert (more.invited, more.eligible, more.saved) == (900, 900, 270 - 900)
    assert more.answers == 50
    assert more.is_reached


@pytest.mark.django_db
def test_a_rule_switched_to_precision_mode_keeps_its_rate_as_the_ceiling(workspace, survey, delivered):
    rule = rules.rule_create(
        workspace=workspace, survey_id=survey.pk, touchpoint_id=delivered.pk, data={"channel": "email"}
    )
    rule = rules.rule_update(
        workspace=workspace,
        rule_id=rule.pk,
        data={"sampling_mode": "precision", "target_half_width": 8, "sampling_rate": 0.4},
    )
    assert (rule.sampling_mode, rule.target_half_width, rule.sampling_rate) == ("precision", 8, 0.4)
    back = rules.rule_update(workspace=workspace, rule_id=rule.pk, data={"sampling_mode": "fixed"})
    assert back.target_half_width == 8  # kept, unused
    assert TriggerRule.objects.get().sampling_mode == "fixed"
