"""The manager dashboard: a journey's report, a stage's drill-down and each chart's data as CSV.

Every role reads reports (sign-in and a membership); only admins and designers
see who wrote a comment. Filters come as query parameters, checked by
:class:`analytics.forms.ReportFilterForm` with the report API's rules: bad ones
come back beside their fields with status 400. A journey or stage of another
workspace is a 404. Figures come from :func:`analytics.reports.journey_report`,
the same service as the API and its CSV, so they always agree; each page costs a
fixed number of queries whatever the data size.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from analytics import charts
from analytics.aggregation import ReportFilters
from analytics.cases import followup_summary
from analytics.forms import FIELDS, ReportFilterForm, ReportSettingsForm, api_query
from analytics.friction import FrictionSettings
from analytics.report_settings import report_settings_get, report_settings_update
from analytics.reports import DROP_OFF_WINDOW_DAYS, JourneyReport, journey_report
from surveys.models import Invitation, Survey
from surveys.precision import RESPONSE_WINDOW
from touchpoints.models import Journey, Membership, Persona, Role, Stage, Touchpoint, Workspace
from touchpoints.permissions import workspace_member_required

JOURNEY_CHARTS = ("stages", "funnel")
STAGE_CHARTS = ("touchpoints", "channels", "personas", "drivers", "trend", "distribution")


class MemberRequest(HttpRequest):
    """A request that passed :func:`workspace_member_required`."""

    workspace: Workspace
    membership: Membership


def _min_n() -> int:
    """The n below which a figure is insufficient: the report's (the default friction settings)."""
    return FrictionSettings().min_n


def _journeys(request: MemberRequest) -> list[Journey]:
    return list(Journey.objects.for_workspace(request.workspace).order_by("-is_active", "name", "id"))


def _filter_form(request: MemberRequest) -> tuple[ReportFilterForm, list[str]]:
    """The filter form, bound when the query names a filter; and the languages the surveys offer."""
    workspace = request.workspace
    personas = list(Persona.objects.for_workspace(workspace).order_by("name").values_list("name", flat=True))
    surveys = list(
        Survey.objects.for_workspace(workspace).order_by("name", "id").values_list("pk", "name", "languages")
    )
    languages = sorted({language for _pk, _name, codes in surveys for language in codes or [] if language})
    data = request.GET if any(name in request.GET for name in FIELDS) else None
    form = ReportFilterForm(
        data,
        workspace=workspace,
        personas=personas,
        surveys=[(pk, name) for pk, name, _codes in surveys],
        today=timezone.now().date(),
    )
    return form, languages


def _url(name: str, query: dict[str, str], *args: Any) -> str:
    url = reverse(name, args=args)
    return f"{url}?{urlencode(query)}" if query else url


def _filters_text(form: ReportFilterForm, filters: ReportFilters) -> list[str]:
    """The filters in words: the period first, then each filter given."""
    parts = [
        _("%(since)s to %(until)s (UTC)")
        % {
            "since": formats.date_format(filters.since, "DATE_FORMAT"),
            "until": formats.date_format(filters.until, "DATE_FORMAT"),
        }
    ]
    labels = {
        "channel": Invitation.Channel(filters.channel).label if filters.channel else None,
        "persona": (filters.persona or _("Without a persona")) if filters.persona is not None else None,
        "survey": form.survey_names.get(filters.survey_id) if filters.survey_id is not None else None,
    }
    for name, label in labels.items():
        if label:
            parts.append(_("%(filter)s: %(value)s") % {"filter": form.fields[name].label, "value": label})
    if filters.language:
        parts.append(_("%(filter)s: %(value)s") % {"filter": form.fields["language"].label, "value": filters.language})
    return parts


def _base_context(request: MemberRequest, journey: Journey, journeys: list[Journey]) -> dict[str, Any]:
    form, languages = _filter_form(request)
    valid = not form.is_bound or form.is_valid()
    query = form.query() if valid else {}
    context: dict[str, Any] = {
        "journey": journey,
        "journeys": [(item, _url("analytics:journey", query, item.pk)) for item in journeys],
        "form": form,
        "report_languages": languages,
        "query": query,
        "valid": valid,
        "journey_url": _url("analytics:journey", query, journey.pk),
        "figure_labels": [str(label) for _name, label, _kind in charts.ROW_FIGURES],
        "drop_off_window_days": DROP_OFF_WINDOW_DAYS,
        "plotly_locale": charts.plotly_locale(),
    }
    if valid:
        filters = form.filters()
        context.update(
            filters=filters,
            filters_text=_filters_text(form, filters),
            api_csv_url=_url("api:journey-report-csv", api_query(filters), journey.pk),
        )
    return context


def _chart_urls(chart_list: list[charts.Chart], query: dict[str, str], journey: Journey, stage: Stage | None) -> None:
    for chart in chart_list:
        if chart.name in JOURNEY_CHARTS or stage is None:
            chart.csv_url = _url("analytics:journey-chart-csv", query, journey.pk, chart.name)
            chart.filename = f"journey-{journey.pk}-{chart.name}"
        else:
            chart.csv_url = _url("analytics:stage-chart-csv", query, journey.pk, stage.pk, chart.name)
            chart.filename = f"journey-{journey.pk}-stage-{stage.pk}-{chart.name}"


@require_GET
@workspace_member_required()
def report_home(request: MemberRequest) -> HttpResponse:
    """``/reports/``: the first active journey's report, or the list of journeys when none is active."""
    journeys = _journeys(request)
    if journeys and journeys[0].is_active:
        url = reverse("analytics:journey", args=[journeys[0].pk])
        query = request.GET.urlencode()
        return redirect(f"{url}?{query}" if query else url)
    return render(request, "analytics/journey_list.html", {"journeys": journeys})


@require_GET
@workspace_member_required()
def journey_page(request: MemberRequest, journey_id: str) -> HttpResponse:
    """A journey's stages in order: NPS with its interval, CSAT, CES, rates, drop-off and friction."""
    journeys = _journeys(request)
    journey = next((item for item in journeys if item.pk == int(journey_id)), None)
    if journey is None:
        raise Http404
    context = _base_context(request, journey, journeys)
    if not context["valid"]:
        return render(request, "analytics/journey_report.html", context, status=400)
    report = journey_report(
        workspace=request.workspace, journey=journey, filters=context["filters"], with_drivers=False
    )
    chart = charts.stage_nps_chart(report)
    _chart_urls([chart], context["query"], journey, None)
    context.update(
        report=report,
        stages=[
            (view, _url("analytics:stage", context["query"], journey.pk, view.unit.id))
            for view in charts.stage_views(report)
        ],
        chart=chart,
        nps_bands={name: formats.number_format(lowest, 0) for lowest, name, _colour in charts.NPS_BANDS},
        response_window_days=RESPONSE_WINDOW.days,
        followup=charts.followup_view(
            followup_summary(
                workspace=request.workspace,
                journey=journey,
                since=context["filters"].since,
                until=context["filters"].until,
            )
        ),
        followup_url=_url("followup:list", {"journey": str(journey.pk)}),
    )
    return render(request, "analytics/journey_report.html", context)


def _stage(request: MemberRequest, journey_id: str, stage_id: str) -> tuple[Journey, Stage]:
    stage = get_object_or_404(
        Stage.objects.for_workspace(request.workspace).select_related("journey"),
        pk=int(stage_id),
        journey_id=int(journey_id),
    )
    return stage.journey, stage


def _touchpoint_channels(request: MemberRequest, stage: Stage) -> dict[int, str]:
    points = Touchpoint.objects.for_workspace(request.workspace).filter(stage=stage)
    return {point.pk: point.get_channel_display() for point in points}


def _drivers(report: JourneyReport, stage: Stage) -> charts.Drivers:
    unit = next(item for item in report.stages if item.id == stage.pk)
    names = {point.id: point.name for point in report.touchpoints}
    return charts.driver_tables(unit, touchpoint_names=names)


@require_GET
@workspace_member_required()
def stage_page(request: MemberRequest, journey_id: str, stage_id: str) -> HttpResponse:
    """One stage: touchpoints, channels, personas, weekly trend, scores, funnel, comments and key terms."""
    journey, stage = _stage(request, journey_id, stage_id)
    workspace = request.workspace
    context = _base_context(request, journey, [journey])
    context["stage"] = stage
    if not context["valid"]:
        return render(request, "analytics/stage_report.html", context, status=400)
    filters: ReportFilters = context["filters"]
    report = journey_report(workspace=workspace, journey=journey, filters=filters)
    view = next(item for item in charts.stage_views(report) if item.unit.id == stage.pk)
    weekly = charts.weekly_counts(workspace=workspace, journey=journey, filters=filters)
    breakdowns = {
        "touchpoints": charts.touchpoint_breakdown(report, stage=stage, channels=_touchpoint_channels(request, stage)),
        **{
            f"{dimension}s": charts.dimension_breakdown(
                workspace=workspace,
                journey=journey,
                filters=filters,
                stage=stage,
                dimension=dimension,
                min_n=report.min_n,
            )
            for dimension in ("channel", "persona")
        },
    }
    figures = [
        charts.trend_chart(weekly, stage=stage, min_n=report.min_n),
        charts.distribution_chart(weekly, stage=stage),
        charts.funnel_chart(
            workspace=workspace,
            journey=journey,
            filters=filters,
            stages=[(unit.id, unit.name) for unit in report.stages],
            current=stage.pk,
        ),
    ]
    drivers = _drivers(report, stage)
    tables = [item.chart for item in breakdowns.values()]
    _chart_urls([*figures, *tables, drivers.chart], context["query"], journey, stage)
    show_pii = Role.can_view_pii(request.membership.role)
    terms, texts_read = charts.key_terms(workspace=workspace, stage=stage, filters=filters, show_pii=show_pii)
    context.update(
        report=report,
        view=view,
        breakdowns=breakdowns,
        drivers=drivers,
        figures=figures,
        comments=charts.detractor_comments(workspace=workspace, stage=stage, filters=filters, show_pii=show_pii),
        show_pii=show_pii,
        terms=terms,
        texts_read=texts_read,
        texts_limit=charts.TERM_TEXTS_READ,
        comments_limit=charts.COMMENTS_SHOWN,
    )
    return render(request, "analytics/stage_report.html", context)


def _csv_response(chart: charts.Chart, filename: str) -> HttpResponse:
    response = HttpResponse(chart.csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv_filters(request: MemberRequest) -> ReportFilters | HttpResponse:
    form, _languages = _filter_form(request)
    if form.is_bound and not form.is_valid():
        lines = [f"{name}: {message}" for name, messages in form.errors.items() for message in messages]
        return HttpResponse("\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8")
    return form.filters()


def _report_for(request: MemberRequest, journey: Journey, filters: ReportFilters) -> JourneyReport:
    return journey_report(workspace=request.workspace, journey=journey, filters=filters)


@require_GET
@workspace_member_required()
def journey_chart_csv(request: MemberRequest, journey_id: str, chart: str) -> HttpResponse:
    """``/reports/journeys/<id>/charts/<chart>.csv``: the data of the journey view's charts."""
    if chart not in JOURNEY_CHARTS:
        raise Http404
    journey = get_object_or_404(Journey.objects.for_workspace(request.workspace), pk=int(journey_id))
    filters = _csv_filters(request)
    if isinstance(filters, HttpResponse):
        return filters
    if chart == "stages":
        data = charts.stage_nps_chart(_report_for(request, journey, filters))
    else:
        stages = list(Stage.objects.for_workspace(request.workspace).filter(journey=journey).order_by("order"))
        data = charts.funnel_chart(
            workspace=request.workspace,
            journey=journey,
            filters=filters,
            stages=[(stage.pk, stage.name) for stage in stages],
            current=0,
        )
    return _csv_response(data, f"journey-{journey.pk}-{chart}-{filters.since}-{filters.until}.csv")


@require_GET
@workspace_member_required()
def stage_chart_csv(request: MemberRequest, journey_id: str, stage_id: str, chart: str) -> HttpResponse:
    """``/reports/journeys/<id>/stages/<id>/charts/<chart>.csv``: the data of a drill-down's charts and tables."""
    if chart not in STAGE_CHARTS:
        raise Http404
    journey, stage = _stage(request, journey_id, stage_id)
    filters = _csv_filters(request)
    if isinstance(filters, HttpResponse):
        return filters
    workspace = request.workspace
    data: charts.Chart
    if chart == "drivers":
        report = _report_for(request, journey, filters)
        data = _drivers(report, stage).chart
    elif chart == "touchpoints":
        report = _report_for(request, journey, filters)
        data = charts.touchpoint_breakdown(report, stage=stage, channels={}).chart
    elif chart in ("channels", "personas"):
        data = charts.dimension_breakdown(
            workspace=workspace,
            journey=journey,
            filters=filters,
            stage=stage,
            dimension=chart[:-1],
            min_n=_min_n(),
        ).chart
    else:
        weekly = charts.weekly_counts(workspace=workspace, journey=journey, filters=filters)
        if chart == "trend":
            data = charts.trend_chart(weekly, stage=stage, min_n=_min_n())
        else:
            data = charts.distribution_chart(weekly, stage=stage)
    return _csv_response(data, f"journey-{journey.pk}-stage-{stage.pk}-{chart}-{filters.since}-{filters.until}.csv")


@workspace_member_required(admin=True)
def report_settings_page(request: MemberRequest) -> HttpResponse:
    """``/settings/reports/`` (admins): the thresholds of the high-effort and low-response flags."""
    workspace = request.workspace
    current = report_settings_get(workspace=workspace)
    form = ReportSettingsForm(
        request.POST if request.method == "POST" else None,
        initial={"ces_threshold": current.ces_threshold, "low_response_percent": current.low_response_percent},
    )
    posted = request.method == "POST" and form.is_valid()
    saved = (
        form.run_service(lambda: report_settings_update(workspace=workspace, **form.cleaned_data)) if posted else None
    )
    if saved is not None:
        messages.success(request, _("Report thresholds saved."))
        return redirect("analytics:report-settings")
    context = {
        "form": form,
        "title": _("Report thresholds"),
        "intro": _(
            "When a stage or touchpoint counts as hard for customers, or as answered too rarely for its score to "
            "be trusted. Reports, friction alerts and the weekly digest use them from the next refresh on."
        ),
        "back_url": reverse("analytics:home"),
        "action": reverse("analytics:report-settings"),
    }
    return render(request, "touchpoints/form_page.html", context, status=400 if form.errors else 200)
