"""The demo's 90 days of history: the first report shows the planted friction, with reasons, and once only."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F, Max, Min
from django.utils import timezone

from analytics import charts
from analytics.aggregation import ReportFilters
from analytics.demo import DEFAULT_SEED, HISTORY_PREFIX, Surveying, history_plan
from analytics.models import AnswerTouchpointRollup, RollupState
from analytics.reports import default_period, journey_report
from surveys.models import Answer, Invitation, Response
from touchpoints.models import Customer, Journey, Stage, TouchpointEvent, Workspace

pytestmark = pytest.mark.django_db

HISTORY_MODELS = (Customer, TouchpointEvent, Invitation, Response, Answer, AnswerTouchpointRollup)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in HISTORY_MODELS}


def flags_by_unit(report) -> dict[tuple[str, str], set[str]]:
    return {(unit.level, unit.name): {flag.kind for flag in unit.flags} for unit in report.units()}


def test_seed_demo_history_shows_the_planted_friction_once():
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)
    assert "History: 90 days" in out.getvalue()
    workspace = Workspace.objects.get(slug="demo")
    today = timezone.now().date()
    since, until = default_period(today)
    filters = ReportFilters(since=since, until=until)
    report = journey_report(workspace=workspace, journey=Journey.objects.get(workspace=workspace), filters=filters)

    flags = flags_by_unit(report)
    assert "below_journey" in flags[("stage", "Purchase")]
    assert "below_journey" in flags[("touchpoint", "Checkout")]
    assert "declining" in flags[("stage", "Post-purchase")]
    assert "declining" in flags[("touchpoint", "Delivery")]  # the declining touchpoint, named in its stage
    assert "drop_off" in flags[("stage", "Intent")]
    below = {name for (level, name), kinds in flags.items() if "below_journey" in kinds and level == "stage"}
    declining = {(level, name) for (level, name), kinds in flags.items() if "declining" in kinds}
    # The data depend on the day the demo is seeded (it ends today): on some day a chance flag may
    # join the planted ones (each kind's family errs with probability alpha = 5%), never many.
    assert len(below - {"Purchase"}) <= 1
    assert len(declining - {("stage", "Post-purchase"), ("touchpoint", "Delivery")}) <= 1
    stages = {unit.name: unit for unit in report.stages}
    purchase, rest = stages.pop("Purchase"), stages.values()
    assert purchase.figures["nps"].n >= 500
    assert all(unit.figures["nps"].n >= 200 for unit in rest)
    assert max(unit.figures["nps"].value for unit in rest) - purchase.figures["nps"].value >= 15
    flag = next(flag for flag in purchase.flags if flag.kind == "below_journey")
    assert flag.evidence["gap"] >= 20
    assert "significantly below the rest of the journey" in flag.reason
    delivery = next(unit for unit in report.touchpoints if unit.name == "Delivery")
    assert delivery.figures["nps"].n >= 700
    assert all(unit.figures[name] is not None for unit in report.touchpoints for name in ("response_rate",))
    support = next(unit for unit in report.touchpoints if unit.name == "Support call")
    onboarding = next(unit for unit in report.touchpoints if unit.name == "App onboarding")
    assert support.figures["csat"] is not None
    assert onboarding.figures["ces"] is not None

    # Rolled up to yesterday, so reports read rollups; every row is in the period and back-dated.
    assert RollupState.objects.get(workspace=workspace).complete_until == today
    moments = Answer.objects.filter(workspace=workspace).aggregate(first=Min("created_at"), last=Max("created_at"))
    assert moments["first"] >= datetime.combine(since, datetime.min.time(), tzinfo=UTC)
    assert moments["last"] <= timezone.now()
    assert not Answer.objects.exclude(created_at=F("response__completed_at")).exists()
    assert not TouchpointEvent.objects.filter(evaluated_at__isnull=True).exists()  # never for the trigger engine
    history = Invitation.objects.filter(customer__external_id__startswith=HISTORY_PREFIX)
    assert not history.filter(status=Invitation.Status.SCHEDULED).exists()  # never for the dispatcher
    assert set(history.values_list("language", flat=True)) == {"en", "ru", "pl", "hu"}

    # The detractors' complaints are what the Purchase stage's key terms find (en and ru here: loading
    # the Polish and Hungarian dictionaries takes seconds; they find theirs too).
    purchase_stage = Stage.objects.get(workspace=workspace, name="Purchase")
    for language, word in (("en", "checkout"), ("ru", "оплата")):
        terms, _read = charts.key_terms(
            workspace=workspace,
            stage=purchase_stage,
            filters=ReportFilters(since=since, until=until, language=language),
            show_pii=False,
        )
        assert word in {term.term.term for group in terms for term in group.terms}

    first = counts()
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)
    assert counts() == first
    assert "History" not in out.getvalue()


def test_seed_demo_without_history_writes_none():
    call_command("seed_demo", "--force", "--no-history", stdout=StringIO())
    assert not Customer.objects.filter(external_id__startswith=HISTORY_PREFIX).exists()
    assert not Answer.objects.exists()


def test_the_history_plan_is_fixed_by_the_seed_and_never_in_the_future():
    now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    surveying = {"Delivery": Surveying(kind="nps", channel="email", delay_minutes=2, expiry_days=14)}

    def plan(seed: int):
        customers, events, invitations = history_plan(days=14, seed=seed, now=now, surveying=surveying)
        return (
            [(customer.external_id, customer.language, customer.persona) for customer in customers],
            [(event.message_id, event.touchpoint, event.occurred_at) for event in events],
            [(item.event.message_id, item.sent_at, item.status, item.answers) for item in invitations],
        )

    first = plan(DEFAULT_SEED)
    assert first == plan(DEFAULT_SEED)
    assert first != plan(DEFAULT_SEED + 1)
    _customers, events, invitations = first
    assert all(moment <= now for _id, _touchpoint, moment in events)
    assert {touchpoint for _id, touchpoint, _moment in events} >= {"Checkout", "Delivery"}
    assert all(sent_at <= now for _id, sent_at, _status, _answers in invitations)
    assert {status for _id, _sent, status, _answers in invitations} >= {"answered", "sent"}


def test_the_history_plan_depends_on_the_day_not_the_hour():
    """Seeded at 09:30 or 17:00, the morning's data are the same: the later plan only adds what came after."""
    surveying = {"Delivery": Surveying(kind="nps", channel="email", delay_minutes=2, expiry_days=14)}
    morning, evening = datetime(2026, 12, 2, 9, 30, tzinfo=UTC), datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    _c, early_events, early_invitations = history_plan(days=14, seed=DEFAULT_SEED, now=morning, surveying=surveying)
    _c, late_events, late_invitations = history_plan(days=14, seed=DEFAULT_SEED, now=evening, surveying=surveying)

    def events(items, until):
        return [(e.message_id, e.touchpoint, e.occurred_at) for e in items if e.occurred_at <= until]

    assert events(late_events, morning) == events(early_events, morning)
    # Invitations answered by the morning keep their scores (an open one may be answered later in the day).
    answered = {
        item.event.message_id: item.answers
        for item in early_invitations
        if item.status == "answered" and item.answers.get("nps") is not None
    }
    later = {item.event.message_id: item for item in late_invitations}
    assert len(answered) > 50
    for message_id, answers in answered.items():
        assert later[message_id].status == "answered"
        assert later[message_id].answers["nps"] == answers["nps"]
