"""The report API: ``GET /api/v1/journeys/<id>/report`` (JSON) and ``…/report.csv``.

Filters come as query parameters (``since``, ``until``, ``channel``, ``persona``,
``survey``, ``language``); an unknown parameter, a reversed or too long period, or
a survey of another workspace is a field-level 400; a journey of another
workspace is a 404. Every role may read reports: they hold no customer PII.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.aggregation import ReportFilters
from analytics.exports import report_csv
from analytics.report_settings import report_settings_get, report_settings_update
from analytics.reports import DROP_OFF_WINDOW_DAYS, JourneyReport, journey_report, report_filters_build
from config.errors import ApplicationError
from surveys.models import Invitation
from surveys.precision import RESPONSE_WINDOW
from touchpoints.apis.base import CsvDownloadNegotiation, id_field
from touchpoints.models import Journey, Role, Workspace, validate_language_tag


class ReportQuerySerializer(serializers.Serializer):
    since = serializers.DateField(
        required=False, help_text=_("First day (UTC), e.g. 2026-09-01. Default: 90 days ago.")
    )
    until = serializers.DateField(required=False, help_text=_("Last day (UTC), included. Default: today."))
    channel = serializers.ChoiceField(choices=Invitation.Channel.choices, required=False)
    persona = serializers.CharField(
        max_length=120,
        required=False,
        allow_blank=True,
        help_text=_("A persona name; empty for customers without one."),
    )
    survey = id_field(required=False)
    language = serializers.CharField(max_length=16, required=False, validators=[validate_language_tag])

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name[:40]: [_("Unknown filter.")] for name in unknown[:5]})
        try:
            self._filters = report_filters_build(
                workspace=self.context["request"].workspace,
                since=attrs.get("since"),
                until=attrs.get("until"),
                channel=attrs.get("channel"),
                persona=attrs.get("persona"),
                survey_id=attrs.get("survey"),
                language=attrs.get("language"),
            )
        except ApplicationError as error:
            raise serializers.ValidationError(error.fields) from error
        return attrs

    def filters(self) -> ReportFilters:
        """The checked filters (after ``is_valid()``)."""
        return self._filters


class EstimateSerializer(serializers.Serializer):
    value = serializers.FloatField(required=False)
    ci_low = serializers.FloatField(required=False)
    ci_high = serializers.FloatField(required=False)
    n = serializers.IntegerField()
    insufficient_data = serializers.BooleanField(required=False)


class FlagSerializer(serializers.Serializer):
    kind = serializers.CharField()
    severity = serializers.CharField()
    reason = serializers.CharField()
    evidence = serializers.DictField()


class DriverSerializer(serializers.Serializer):
    value = serializers.JSONField(help_text=_("A touchpoint's id, a channel, or a persona name (empty: without one)."))
    n = serializers.IntegerField()
    is_sufficient = serializers.BooleanField()
    share = serializers.FloatField(help_text=_("Share of the stage's NPS answers, 0 to 1."))
    detractors = serializers.IntegerField()
    detractor_share = serializers.FloatField(allow_null=True, help_text=_("Share of the stage's detractors, 0 to 1."))
    nps = EstimateSerializer()
    gap = serializers.FloatField(allow_null=True, help_text=_("The reference NPS minus this value's NPS."))
    contribution = serializers.FloatField(help_text=_("Share times gap: NPS points of the stage's gap."))


class DriverBreakdownSerializer(serializers.Serializer):
    dimension = serializers.CharField()
    reference_nps = serializers.FloatField(help_text=_("The NPS of the rest of the journey."))
    stage = EstimateSerializer()
    gap = serializers.FloatField(allow_null=True)
    drivers = DriverSerializer(many=True)


class DriversSerializer(serializers.Serializer):
    touchpoint = DriverBreakdownSerializer()
    channel = DriverBreakdownSerializer()
    persona = DriverBreakdownSerializer()


class UnitSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    stage = serializers.IntegerField()
    order = serializers.IntegerField()
    nps = EstimateSerializer()
    csat = EstimateSerializer()
    csat_mean = EstimateSerializer()
    ces = EstimateSerializer()
    ces_agree = EstimateSerializer()
    response_rate = EstimateSerializer(
        help_text=format_lazy(
            _("Answered of sent, without the invitations sent in the last {days} days: they may still be answered."),
            days=RESPONSE_WINDOW.days,
        )
    )
    drop_off = EstimateSerializer(
        allow_null=True,
        help_text=format_lazy(
            _(
                "From touchpoint events, null for the last stage: of the customers whose {days}-day window after "
                "reaching the stage ended in the period, the share who did not reach the next stage. The channel, "
                "persona, survey and language filters do not apply."
            ),
            days=DROP_OFF_WINDOW_DAYS,
        ),
    )
    flags = FlagSerializer(many=True)
    drivers = DriversSerializer(
        allow_null=True,
        help_text=_(
            "Only for a flagged stage below the rest of its journey: its gap to the rest per touchpoint, "
            "channel and persona, largest contribution first (values with too few answers last)."
        ),
    )


class JourneyReportSerializer(serializers.Serializer):
    journey = serializers.DictField()
    period = serializers.DictField()
    filters = serializers.DictField()
    min_n = serializers.IntegerField()
    stages = UnitSerializer(many=True)
    touchpoints = UnitSerializer(many=True)


def _report(request: Request, journey_id: int) -> JourneyReport:
    workspace: Workspace = request.workspace  # type: ignore[attr-defined] # set by authentication
    journey = get_object_or_404(Journey.objects.for_workspace(workspace), pk=journey_id)
    query = ReportQuerySerializer(data=request.query_params, context={"request": request})
    query.is_valid(raise_exception=True)
    return journey_report(workspace=workspace, journey=journey, filters=query.filters())


class JourneyReportApi(APIView):
    """Every stage and touchpoint of a journey: NPS, CSAT, CES, response rate, drop-off, friction flags, drivers."""

    @extend_schema(parameters=[ReportQuerySerializer], responses={200: JourneyReportSerializer})
    def get(self, request: Request, journey_id: int) -> Response:
        return Response(_report(request, journey_id).as_dict())


class JourneyReportCsvApi(APIView):
    """The journey report as CSV: one row per stage and touchpoint, each figure with its interval and n."""

    content_negotiation_class = CsvDownloadNegotiation

    @extend_schema(parameters=[ReportQuerySerializer], responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request: Request, journey_id: int) -> HttpResponse:
        report = _report(request, journey_id)
        response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
        name = f"journey-{report.journey_id}-report-{report.filters.since}-{report.filters.until}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


class ReportSettingsSerializer(serializers.Serializer):
    ces_threshold = serializers.DecimalField(
        max_digits=3,
        decimal_places=2,
        min_value=Decimal("1.0"),
        max_value=Decimal("7.0"),
        coerce_to_string=False,
        help_text=_("High effort: a CES interval (1 to 7) entirely below this."),
    )
    low_response_percent = serializers.IntegerField(
        min_value=1, max_value=99, help_text=_("Low response: a response rate interval entirely below this share.")
    )


class ReportSettingsApi(APIView):
    """The workspace's friction thresholds: every role reads them, admins change them."""

    write_roles = (Role.ADMIN,)

    @extend_schema(responses={200: ReportSettingsSerializer})
    def get(self, request: Request) -> Response:
        return Response(ReportSettingsSerializer(report_settings_get(workspace=request.workspace)).data)  # type: ignore[attr-defined]

    @extend_schema(request=ReportSettingsSerializer, responses={200: ReportSettingsSerializer})
    def patch(self, request: Request) -> Response:
        workspace: Workspace = request.workspace  # type: ignore[attr-defined] # set by authentication
        data = ReportSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        saved = report_settings_update(workspace=workspace, **data.validated_data)
        return Response(ReportSettingsSerializer(saved).data)
