"""The trigger-rule API: rules, and the decisions that explain who was (not) invited.

``/trigger-rules/`` is CRUD for designers and admins (every role reads);
``/trigger-rules/<id>/outcomes/?since=&until=`` counts a rule's decisions by
outcome over a period and, for a target-precision rule, reports the precision
period holding ``until``: the interval reached and the invitations saved against
the rule's fixed rate (:func:`surveys.precision.precision_reports`);
``/trigger-decisions/?customer=<external id>`` answers "why did this customer not
get a survey?".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from surveys import precision, rules
from surveys.models import (
    TARGET_HALF_WIDTH_RANGE,
    ConditionOperator,
    DecisionOutcome,
    Invitation,
    PrecisionPeriod,
    SamplingMode,
    TriggerDecision,
    TriggerRule,
)
from touchpoints.apis.base import CrudViewSet, IdFilter, ListMixin, RetrieveMixin, WorkspaceViewSet, id_field

#: The longest period one outcome count may cover.
OUTCOMES_MAX_DAYS = 366


class ConditionSerializer(serializers.Serializer):
    field = serializers.CharField(max_length=400, help_text=_("properties.<path> or traits.<path>"))
    operator = serializers.ChoiceField(choices=ConditionOperator.choices)
    value = serializers.JSONField(required=False, allow_null=True)


class TriggerRuleInputSerializer(serializers.Serializer):
    survey = id_field()
    touchpoint = id_field()
    is_active = serializers.BooleanField(default=True)
    delay_minutes = serializers.IntegerField(min_value=0, max_value=60 * 24 * 90, default=0)
    sampling_rate = serializers.FloatField(min_value=0, max_value=1, default=1.0)
    conditions = serializers.ListField(child=ConditionSerializer(), required=False, max_length=rules.CONDITIONS_MAX)
    recontact_days = serializers.IntegerField(min_value=0, max_value=3650, default=90)
    daily_cap = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False, allow_null=True)
    channel = serializers.ChoiceField(choices=Invitation.Channel.choices)
    fallback_channel = serializers.ChoiceField(choices=Invitation.Channel.choices, required=False, allow_blank=True)
    quiet_hours_start = serializers.TimeField(required=False, allow_null=True, help_text=_("e.g. 21:00"))
    quiet_hours_end = serializers.TimeField(required=False, allow_null=True, help_text=_("e.g. 08:00"))
    sampling_mode = serializers.ChoiceField(
        choices=SamplingMode.choices,
        default=SamplingMode.FIXED,
        help_text=_(
            "fixed: invite sampling_rate of eligible events. precision: invite just enough for the NPS interval "
            "of each period to reach ±target_half_width, never more than sampling_rate."
        ),
    )
    target_half_width = serializers.FloatField(
        min_value=TARGET_HALF_WIDTH_RANGE[0],
        max_value=TARGET_HALF_WIDTH_RANGE[1],
        required=False,
        allow_null=True,
        help_text=_("Precision mode: the NPS interval's half-width to reach per period, in NPS points (10 for ±10)."),
    )
    precision_period_days = serializers.ChoiceField(
        choices=PrecisionPeriod.choices,
        default=PrecisionPeriod.WEEK,
        help_text=_("Precision mode: the period the target holds for, in UTC days (7: ISO weeks)."),
    )


class TriggerRuleOutputSerializer(serializers.ModelSerializer):
    survey_name = serializers.CharField(source="survey.name", read_only=True)
    touchpoint_name = serializers.CharField(source="touchpoint.name", read_only=True)
    conditions = ConditionSerializer(many=True, read_only=True)

    class Meta:
        model = TriggerRule
        fields = [
            "id",
            "survey",
            "survey_name",
            "touchpoint",
            "touchpoint_name",
            "is_active",
            "delay_minutes",
            "sampling_rate",
            "conditions",
            "recontact_days",
            "daily_cap",
            "channel",
            "fallback_channel",
            "quiet_hours_start",
            "quiet_hours_end",
            "sampling_mode",
            "target_half_width",
            "precision_period_days",
            "created_at",
            "updated_at",
        ]


class TriggerRuleFilter(filters.FilterSet):
    survey = IdFilter(field_name="survey_id")
    touchpoint = IdFilter(field_name="touchpoint_id")
    journey = IdFilter(field_name="touchpoint__stage__journey_id")

    class Meta:
        model = TriggerRule
        fields = ["survey", "touchpoint", "journey", "is_active", "channel", "sampling_mode"]


class PeriodSerializer(serializers.Serializer):
    since = serializers.DateTimeField(required=False, help_text=_("Default: 30 days ago."))
    until = serializers.DateTimeField(required=False, help_text=_("Default: now."))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        until = attrs.get("until") or timezone.now()
        since = attrs.get("since") or until - timedelta(days=30)
        if since >= until:
            raise serializers.ValidationError({"since": [_("Give a start before the end.")]})
        if until - since > timedelta(days=OUTCOMES_MAX_DAYS):
            raise serializers.ValidationError(
                {"since": [_("A period is at most %(days)d days.") % {"days": OUTCOMES_MAX_DAYS}]}
            )
        return {"since": since, "until": until}


class PrecisionReportSerializer(serializers.Serializer):
    period_start = serializers.DateTimeField(help_text=_("The precision period holding `until` (UTC)."))
    period_end = serializers.DateTimeField()
    target_half_width = serializers.FloatField()
    answers = serializers.IntegerField(help_text=_("NPS answers through this rule's invitations in the period."))
    nps = serializers.FloatField(allow_null=True)
    half_width = serializers.FloatField(
        allow_null=True, help_text=_("Half-width of the 95% adjusted-Wald interval, in NPS points.")
    )
    is_reached = serializers.BooleanField()
    invited = serializers.IntegerField()
    eligible = serializers.IntegerField(help_text=_("Events that passed conditions and throttles."))
    fixed_rate = serializers.FloatField(help_text=_("The rule's sampling rate: its ceiling, and the comparison."))
    fixed_rate_invitations = serializers.IntegerField(help_text=_("fixed_rate × eligible, rounded."))
    saved = serializers.IntegerField(help_text=_("fixed_rate_invitations − invited; negative if more were made."))
    saved_percent = serializers.FloatField(allow_null=True)


class OutcomeCountsSerializer(serializers.Serializer):
    rule = serializers.IntegerField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text=_("Decisions per outcome; every outcome is present.")
    )
    precision = PrecisionReportSerializer(
        allow_null=True, help_text=_("Target-precision rules only: the period holding `until`.")
    )


class TriggerRuleViewSet(CrudViewSet):
    """Rules: when an event of a touchpoint happens, invite its customer to a survey."""

    model = TriggerRule
    selector = staticmethod(rules.rules_for)
    input_serializer_class = TriggerRuleInputSerializer
    output_serializer_class = TriggerRuleOutputSerializer
    filterset_class = TriggerRuleFilter
    ordering_fields = ["created_at", "updated_at"]
    ordering = ["touchpoint_id", "survey_id", "id"]

    def perform_create(self, data: dict[str, Any]) -> Model:
        survey_id, touchpoint_id = data.pop("survey"), data.pop("touchpoint")
        return rules.rule_create(
            workspace=self.request.workspace, survey_id=survey_id, touchpoint_id=touchpoint_id, data=data
        )

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        for name in ("survey", "touchpoint"):
            if name in data and data.pop(name) != getattr(instance, f"{name}_id"):
                raise serializers.ValidationError({name: [_("A rule keeps its survey and touchpoint.")]})
        return rules.rule_update(workspace=self.request.workspace, rule_id=instance.pk, data=data)

    def perform_destroy(self, instance: Model) -> None:
        rules.rule_delete(workspace=self.request.workspace, rule_id=instance.pk)

    @extend_schema(
        parameters=[PeriodSerializer], responses={200: OutcomeCountsSerializer}, summary="Decisions by outcome"
    )
    @action(detail=True, methods=["get"])
    def outcomes(self, request: Request, pk: str) -> ApiResponse:
        rule = cast(TriggerRule, self.get_object())
        period = PeriodSerializer(data=request.query_params)
        period.is_valid(raise_exception=True)
        since: datetime = period.validated_data["since"]
        until: datetime = period.validated_data["until"]
        counts = rules.rule_outcome_counts(workspace=request.workspace, since=since, until=until, rule_ids=[rule.pk])
        report = precision.precision_reports(rules=[rule], at=until).get(rule.pk)
        body = {
            "rule": rule.pk,
            "since": since,
            "until": until,
            "counts": counts[rule.pk],
            "precision": report.as_dict() if report else None,
        }
        return ApiResponse(OutcomeCountsSerializer(body).data)


class TriggerDecisionOutputSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id", read_only=True)
    event_name = serializers.CharField(source="event.name", read_only=True)
    occurred_at = serializers.DateTimeField(source="event.occurred_at", read_only=True)
    survey = serializers.IntegerField(source="rule.survey_id", read_only=True)
    touchpoint = serializers.IntegerField(source="rule.touchpoint_id", read_only=True)
    reason = serializers.SerializerMethodField()

    class Meta:
        model = TriggerDecision
        fields = [
            "id",
            "rule",
            "survey",
            "touchpoint",
            "event",
            "event_name",
            "occurred_at",
            "customer",
            "outcome",
            "reason",
            "decided_at",
        ]

    def get_reason(self, decision: TriggerDecision) -> str:
        return str(DecisionOutcome(decision.outcome).label)


class TriggerDecisionFilter(filters.FilterSet):
    rule = IdFilter(field_name="rule_id")
    customer = filters.CharFilter(field_name="customer__external_id", help_text=_("A customer's external id."))
    since = filters.IsoDateTimeFilter(field_name="decided_at", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="decided_at", lookup_expr="lt")

    class Meta:
        model = TriggerDecision
        fields = ["rule", "customer", "outcome", "since", "until"]


class TriggerDecisionViewSet(ListMixin, RetrieveMixin, WorkspaceViewSet):
    """Every decision of the engine, newest first: why a customer was, or was not, invited."""

    model = TriggerDecision
    selector = staticmethod(rules.decisions_for)
    output_serializer_class = TriggerDecisionOutputSerializer
    input_serializer_class = TriggerDecisionOutputSerializer
    filterset_class = TriggerDecisionFilter
    ordering_fields = ["decided_at"]
    ordering = ["-decided_at", "-id"]
