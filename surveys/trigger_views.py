"""The trigger designer: a journey's stages and touchpoints with the rules that survey them.

Every role sees the rules and what they decided over a period (invited, and why
not); designers and admins add, change and delete rules. The "why not?" lookup
lists one customer's recent decisions. A target-precision rule also shows its
current period: the NPS interval reached against the target, and the invitations
saved against its fixed rate (:func:`surveys.precision.precision_reports`, two
queries for all of them).
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
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from surveys import precision, rules
from surveys.forms import DecisionLookupForm, TriggerRuleForm
from surveys.models import DecisionOutcome, PrecisionPeriod, SamplingMode, Survey, TriggerRule
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


def _number(value: float, digits: int) -> str:
    """Rounded, in the language's format (``number_format`` alone truncates: 0.29 × 100 would be "28")."""
    return number_format(round(value, digits), digits)


def period_text(days: int) -> str:
    """``per week``, ``per day``, ``per 30 days``: one phrase per period choice (plural forms vary by language)."""
    phrases = {
        PrecisionPeriod.DAY: _("per day"),
        PrecisionPeriod.WEEK: _("per week"),
        PrecisionPeriod.TWO_WEEKS: _("per two weeks"),
        PrecisionPeriod.THIRTY_DAYS: _("per 30 days"),
        PrecisionPeriod.THIRTEEN_WEEKS: _("per 13 weeks"),
    }
    return phrases.get(days, "") or ngettext("per %(n)d day", "per %(n)d days", days) % {"n": days}


def precision_lines(rule: TriggerRule, report: precision.PrecisionReport | None) -> list[str]:
    """What a target-precision rule says on the page: its target, this period's interval, the saving."""
    percent = _number(rule.sampling_rate * 100, 0)
    lines = [
        _("Target precision ±%(target)s NPS points %(period)s, at most %(percent)s%% sampled")
        % {
            "target": _number(rule.target_half_width or 0, 1),
            "period": period_text(rule.precision_period_days),
            "percent": percent,
        }
    ]
    if report is None:
        return lines
    if getattr(rule, "nps_question_id", True) is None:
        lines.append(_("The survey has no NPS question to measure: sampling at the fixed rate."))
        return lines
    values = {"half_width": _number(report.half_width or 0, 1), "n": report.answers}
    if report.half_width is None:
        lines.append(_("This period: no answers yet."))
    elif report.is_reached:
        lines.append(
            ngettext(
                "This period: ±%(half_width)s NPS points from %(n)d answer, target reached",
                "This period: ±%(half_width)s NPS points from %(n)d answers, target reached",
                report.answers,
            )
            % values
        )
    else:
        lines.append(
            ngettext(
                "This period: ±%(half_width)s NPS points from %(n)d answer, target not reached yet",
                "This period: ±%(half_width)s NPS points from %(n)d answers, target not reached yet",
                report.answers,
            )
            % values
        )
    if not report.eligible:
        return lines
    if report.saved >= 0:
        lines.append(
            ngettext(
                "Saved %(n)d invitation (%(share)s%%) against sampling %(percent)s%% this period",
                "Saved %(n)d invitations (%(share)s%%) against sampling %(percent)s%% this period",
                report.saved,
            )
            % {"n": report.saved, "share": _number(report.saved_percent or 0, 0), "percent": percent}
        )
    else:
        lines.append(
            ngettext(
                "%(n)d invitation more than sampling %(percent)s%% this period",
                "%(n)d invitations more than sampling %(percent)s%% this period",
                -report.saved,
            )
            % {"n": -report.saved, "percent": percent}
        )
    return lines


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
    all_rules = [rule for stage in stages for point in stage.points for rule in point.rules]
    rule_ids = [rule.pk for rule in all_rules]
    now = timezone.now()
    counts = rules.rule_outcome_counts(
        workspace=request.workspace, since=now - timedelta(days=days), until=now, rule_ids=rule_ids
    )
    reports = precision.precision_reports(rules=all_rules, at=now)
    for stage in stages:
        for point in stage.points:
            for rule in point.rules:
                rule.counts = counts[rule.pk]
                rule.precision_lines = (
                    precision_lines(rule, reports.get(rule.pk)) if rule.sampling_mode == SamplingMode.PRECISION else []
                )
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
