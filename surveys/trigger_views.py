"""The trigger designer: a journey's stages and touchpoints with the rules that survey them.

Every role sees the rules and what they decided over a period (invited, and why
not); designers and admins add, change and delete rules. The "why not?" lookup
lists one customer's recent decisions.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from surveys import rules
from surveys.forms import DecisionLookupForm, TriggerRuleForm
from surveys.models import DecisionOutcome, Survey, TriggerRule
from touchpoints import selectors as touchpoint_selectors
from touchpoints.models import Journey, Role, Stage, Touchpoint
from touchpoints.permissions import workspace_member_required

#: Periods the outcome counts can cover, in days.
PERIODS = (1, 7, 30, 90)
DECISIONS_SHOWN = 50


def delay_text(minutes: int) -> str:
    """``at once``, ``after 2 days``, ``after 3 hours``, ``after 45 minutes``."""
    if not minutes:
        return _("at once")
    if minutes % (60 * 24) == 0:
        days = minutes // (60 * 24)
        return ngettext("after %(n)d day", "after %(n)d days", days) % {"n": days}
    if minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("after %(n)d hour", "after %(n)d hours", hours) % {"n": hours}
    return ngettext("after %(n)d minute", "after %(n)d minutes", minutes) % {"n": minutes}


def _journeys(request: HttpRequest) -> list[Journey]:
    return list(Journey.objects.for_workspace(request.workspace).order_by("-is_active", "name", "id"))


def _map(request: HttpRequest, journey: Journey) -> list[Stage]:
    """The journey's stages, each with its touchpoints and each touchpoint with its rules, in four queries."""
    workspace = request.workspace
    rule_rows = rules.rules_for(workspace=workspace).order_by("survey__name", "id")
    touchpoints = Touchpoint.objects.for_workspace(workspace).prefetch_related(
        Prefetch("trigger_rules", queryset=rule_rows, to_attr="rules")
    )
    return list(
        Stage.objects.for_workspace(workspace)
        .filter(journey=journey)
        .order_by("order")
        .prefetch_related(Prefetch("touchpoints", queryset=touchpoints, to_attr="points"))
    )


@workspace_member_required()
def trigger_map(request: HttpRequest) -> HttpResponse:
    """``/triggers/?journey=<id>&days=30``: the rules beside the journey map, with their outcomes."""
    journeys = _journeys(request)
    journey_id = request.GET.get("journey", "")
    journey = next((j for j in journeys if str(j.pk) == journey_id), journeys[0] if journeys else None)
    days = int(request.GET["days"]) if request.GET.get("days") in {str(p) for p in PERIODS} else 30
    stages = _map(request, journey) if journey else []
    rule_ids = [rule.pk for stage in stages for point in stage.points for rule in point.rules]
    now = timezone.now()
    counts = rules.rule_outcome_counts(
        workspace=request.workspace, since=now - timedelta(days=days), until=now, rule_ids=rule_ids
    )
    for stage in stages:
        for point in stage.points:
            for rule in point.rules:
                rule.counts = counts[rule.pk]
                rule.not_invited = [
                    (DecisionOutcome(outcome).label, n)
                    for outcome, n in counts[rule.pk].items()
                    if outcome != DecisionOutcome.INVITED and n
                ]
                rule.channel_text = rules.channel_summary(rule)
                rule.delay_text = delay_text(rule.delay_minutes)
    lookup = DecisionLookupForm(request.GET if "customer" in request.GET else None)
    decisions: list[Any] = []
    if lookup.is_valid():
        decisions = list(
            rules.decisions_for(workspace=request.workspace).filter(
                customer__external_id=lookup.cleaned_data["customer"]
            )[:DECISIONS_SHOWN]
        )
    context = {
        "journeys": journeys,
        "journey": journey,
        "stages": stages,
        "days": days,
        "periods": PERIODS,
        "lookup": lookup,
        "decisions": decisions,
        "can_edit": Role.can_write(request.membership.role),
    }
    return render(request, "surveys/designer/triggers.html", context)


def _form(request: HttpRequest, rule: TriggerRule | None) -> TriggerRuleForm:
    surveys = list(Survey.objects.for_workspace(request.workspace).exclude(status=Survey.Status.ARCHIVED))
    touchpoints = list(
        touchpoint_selectors.touchpoint_list(workspace=request.workspace)
        .select_related("stage__journey")
        .order_by("stage__journey__name", "stage__order", "order", "id")
    )
    initial = TriggerRuleForm.initial_for(rule) if rule else {"touchpoint": request.GET.get("touchpoint")}
    form = TriggerRuleForm(request.POST or None, initial=initial, surveys=surveys, touchpoints=touchpoints)
    if rule is not None:  # a rule keeps its survey and touchpoint
        for name in ("survey", "touchpoint"):
            form.fields[name].disabled = True
    return form


def _back(rule: TriggerRule) -> str:
    journey_id = rule.touchpoint.stage.journey_id
    return f"{reverse('surveys:triggers')}?journey={journey_id}#touchpoint-{rule.touchpoint_id}"


@workspace_member_required(write=True)
def rule_create(request: HttpRequest) -> HttpResponse:
    form = _form(request, None)
    if request.method == "POST" and form.is_valid():
        rule = form.run_service(
            lambda: rules.rule_create(
                workspace=request.workspace,
                survey_id=form.cleaned_data["survey"],
                touchpoint_id=form.cleaned_data["touchpoint"],
                data=form.service_data(),
            )
        )
        if rule is not None:
            messages.success(request, _("Rule created."))
            return redirect(_back(rule))
    status = 400 if form.errors else 200
    return render(request, "surveys/designer/rule_form.html", {"form": form, "rule": None}, status=status)


@workspace_member_required(write=True)
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(
        rules.rules_for(workspace=request.workspace).select_related("touchpoint__stage"), pk=rule_id
    )
    form = _form(request, rule)
    if request.method == "POST" and form.is_valid():
        saved = form.run_service(
            lambda: rules.rule_update(workspace=request.workspace, rule_id=rule.pk, data=form.service_data())
        )
        if saved is not None:
            messages.success(request, _("Rule saved."))
            return redirect(_back(rule))
    status = 400 if form.errors else 200
    return render(request, "surveys/designer/rule_form.html", {"form": form, "rule": rule}, status=status)


@require_POST
@workspace_member_required(write=True)
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(
        rules.rules_for(workspace=request.workspace).select_related("touchpoint__stage"), pk=rule_id
    )
    back = _back(rule)
    rules.rule_delete(workspace=request.workspace, rule_id=rule.pk)
    messages.success(request, _("Rule deleted."))
    return redirect(back)
