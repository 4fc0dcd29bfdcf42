"""The surveys API: surveys, questions, ready templates, publishing.

Designers and admins write; every role reads. Survey and question texts are
JSON objects keyed by language; see :mod:`surveys.texts`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, Model, OuterRef
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from config.errors import ApplicationError
from config.limits import LIST_MAX_ITEMS
from surveys import selectors, services
from surveys.exports import responses_csv_rows
from surveys.invitations import invitations_create as create_invitations
from surveys.models import Answer, Invitation, Question, Response, Survey
from surveys.survey_templates import TEMPLATES
from surveys.texts import missing_texts
from touchpoints.apis.base import (
    CrudViewSet,
    CsvDownloadNegotiation,
    IdFilter,
    ListMixin,
    RetrieveMixin,
    WorkspaceViewSet,
    id_field,
    id_list_field,
)
from touchpoints.models import Role
from touchpoints.pii import mask_pii

TEXTS_HELP = _('Texts per language, e.g. {"en": {"text": "…"}, "pl": {"text": "…"}}.')


class SurveyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=Survey.Kind.choices, default=Survey.Kind.NPS)
    default_language = serializers.CharField(max_length=16, required=False)
    languages = serializers.ListField(child=serializers.CharField(max_length=16), max_length=20, required=False)
    texts = serializers.DictField(required=False, help_text=TEXTS_HELP)
    invitation_expiry_days = serializers.IntegerField(min_value=1, max_value=365, default=30)


class SurveyCreateInputSerializer(SurveyInputSerializer):
    name = serializers.CharField(max_length=120, required=False, help_text=_("Optional with a template."))
    template = serializers.ChoiceField(
        choices=[(key, str(spec["label"])) for key, spec in TEMPLATES.items()],
        required=False,
        help_text=_("Start from a ready survey in English, Russian, Polish and Hungarian."),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("template") and not attrs.get("name"):
            raise serializers.ValidationError({"name": [_("This field is required.")]})
        return attrs


class SurveyOutputSerializer(serializers.ModelSerializer):
    question_count = serializers.IntegerField(read_only=True)
    missing_texts = serializers.SerializerMethodField(
        help_text=_("Per enabled language, the texts not written yet (title, q1.text, q2.option.price, …).")
    )

    class Meta:
        model = Survey
        fields = [
            "id",
            "name",
            "kind",
            "status",
            "default_language",
            "languages",
            "texts",
            "invitation_expiry_days",
            "question_count",
            "missing_texts",
            "published_at",
            "created_at",
            "updated_at",
        ]

    def get_missing_texts(self, survey: Survey) -> dict[str, list[str]]:
        return missing_texts(languages=survey.languages, survey_texts=survey.texts, questions=survey.live_questions)


class SurveyFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Survey
        fields = ["name", "kind", "status"]


class QuestionReorderInputSerializer(serializers.Serializer):
    question_ids = id_list_field(allow_empty=False, help_text=_("Every question id of the survey, in the new order."))


class QuestionInputSerializer(serializers.Serializer):
    survey = id_field()
    type = serializers.ChoiceField(choices=Question.Type.choices)
    is_required = serializers.BooleanField(default=False)
    texts = serializers.DictField(required=False, help_text=TEXTS_HELP)
    options = serializers.ListField(
        child=serializers.DictField(),
        max_length=LIST_MAX_ITEMS,
        required=False,
        help_text=_('Choice options: [{"key": "price", "labels": {"en": "Price"}}, …].'),
    )
    condition_question = id_field(required=False, allow_null=True)
    condition_operator = serializers.ChoiceField(choices=Question.Operator.choices, required=False, allow_blank=True)
    condition_value = serializers.JSONField(required=False, allow_null=True)


class QuestionOutputSerializer(serializers.ModelSerializer):
    has_answers = serializers.BooleanField(read_only=True)

    class Meta:
        model = Question
        fields = [
            "id",
            "survey",
            "order",
            "type",
            "is_required",
            "is_archived",
            "texts",
            "options",
            "condition_question",
            "condition_operator",
            "condition_value",
            "has_answers",
            "created_at",
            "updated_at",
        ]


def _question_arguments(data: dict[str, Any]) -> dict[str, Any]:
    """API field names → service argument names."""
    if "condition_question" in data:
        data["condition_question_id"] = data.pop("condition_question")
    data.pop("survey", None)
    return data


class SurveyViewSet(CrudViewSet):
    """Surveys: NPS, CSAT, CES or custom, in one or more languages."""

    model = Survey
    selector = staticmethod(selectors.survey_list)
    input_serializer_class = SurveyInputSerializer
    create_input_serializer_class = SurveyCreateInputSerializer
    output_serializer_class = SurveyOutputSerializer
    filterset_class = SurveyFilter
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def perform_create(self, data: dict[str, Any]) -> Model:
        template = data.pop("template", None)
        if template:
            return services.survey_create_from_template(
                workspace=self.request.workspace,
                template=template,
                name=data.get("name", ""),
                languages=data.get("languages"),
            )
        return services.survey_create(workspace=self.request.workspace, **data)

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        return services.survey_update(workspace=self.request.workspace, survey_id=instance.pk, data=data)

    def perform_destroy(self, instance: Model) -> None:
        services.survey_delete(workspace=self.request.workspace, survey_id=instance.pk)

    @extend_schema(request=None, responses={200: SurveyOutputSerializer}, summary="Publish a draft survey")
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> ApiResponse:
        survey = services.survey_publish(workspace=request.workspace, survey_id=self.get_object().pk)
        return ApiResponse(self.output(self.reread(survey)))

    @extend_schema(request=None, responses={200: SurveyOutputSerializer}, summary="Archive a survey")
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str) -> ApiResponse:
        survey = services.survey_archive(workspace=request.workspace, survey_id=self.get_object().pk)
        return ApiResponse(self.output(self.reread(survey)))

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR},
        summary="Export a survey's responses as CSV",
        description="Streamed; one column per question. Email only for admins and designers.",
    )
    @action(detail=True, methods=["get"], url_path="responses.csv", content_negotiation_class=CsvDownloadNegotiation)
    def responses_csv(self, request: Request, pk: str) -> StreamingHttpResponse:
        survey = self.get_object()
        responses = selectors.response_list(workspace=request.workspace).filter(survey=survey)
        rows = responses_csv_rows(survey=survey, responses=responses, include_pii=Role.can_view_pii(request.role))
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="survey-{survey.pk}-responses.csv"'
        return response

    @extend_schema(
        request=QuestionReorderInputSerializer,
        responses={200: QuestionOutputSerializer(many=True)},
        summary="Reorder a survey's questions",
    )
    @action(detail=True, methods=["post"], url_path="reorder-questions")
    def reorder_questions(self, request: Request, pk: str) -> ApiResponse:
        survey = self.get_object()
        serializer = QuestionReorderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.question_reorder(
            workspace=request.workspace, survey_id=survey.pk, question_ids=serializer.validated_data["question_ids"]
        )
        questions = selectors.question_list(workspace=request.workspace).filter(survey=survey).order_by("order")
        return ApiResponse(QuestionOutputSerializer(questions, many=True).data)


class QuestionFilter(filters.FilterSet):
    survey = IdFilter(field_name="survey_id", help_text=_("A survey id."))

    class Meta:
        model = Question
        fields = ["survey", "type", "is_archived"]


class QuestionViewSet(CrudViewSet):
    """Questions of a survey, in order; conditions look back at earlier answers."""

    model = Question
    selector = staticmethod(selectors.question_list)
    input_serializer_class = QuestionInputSerializer
    output_serializer_class = QuestionOutputSerializer
    filterset_class = QuestionFilter
    ordering_fields = ["order", "created_at"]
    ordering = ["survey_id", "order"]

    def perform_create(self, data: dict[str, Any]) -> Model:
        survey_id = data["survey"]
        return services.question_add(workspace=self.request.workspace, survey_id=survey_id, **_question_arguments(data))

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        if data.get("survey", instance.survey_id) != instance.survey_id:
            raise ApplicationError.for_field("survey", gettext("A question cannot move to another survey."))
        return services.question_update(
            workspace=self.request.workspace, question_id=instance.pk, data=_question_arguments(data)
        )

    def perform_destroy(self, instance: Model) -> None:
        services.question_delete(workspace=self.request.workspace, question_id=instance.pk)

    @extend_schema(request=None, responses={200: QuestionOutputSerializer}, summary="Archive a question")
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str) -> ApiResponse:
        question = services.question_archive(workspace=request.workspace, question_id=self.get_object().pk)
        return ApiResponse(self.output(self.reread(question)))


class SurveyTemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField()
    languages = serializers.ListField(child=serializers.CharField())


class SurveyTemplateListApi(APIView):
    """The ready surveys to start from (``POST /surveys/ {"template": key}``)."""

    @extend_schema(responses={200: SurveyTemplateSerializer(many=True)}, summary="List survey templates")
    def get(self, request: Request) -> ApiResponse:
        items = [
            {"key": key, "label": str(spec["label"]), "kind": spec["kind"], "languages": list(spec["texts"])}
            for key, spec in TEMPLATES.items()
        ]
        return ApiResponse(SurveyTemplateSerializer(items, many=True).data)


class InvitationInputSerializer(serializers.Serializer):
    survey = id_field()
    customers = serializers.ListField(
        child=serializers.CharField(max_length=200),
        allow_empty=False,
        max_length=1000,
        help_text=_("External ids of the customers to invite."),
    )
    channel = serializers.ChoiceField(choices=Invitation.Channel.choices, default=Invitation.Channel.LINK)
    language = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    touchpoint = id_field(required=False, allow_null=True)
    send_at = serializers.DateTimeField(required=False, help_text=_("Default: now."))


class InvitationOutputSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id", read_only=True)
    url = serializers.SerializerMethodField(
        help_text=_("The public survey link for this customer; null unless your role may edit (it lets anyone answer).")
    )

    class Meta:
        model = Invitation
        fields = [
            "id",
            "survey",
            "customer",
            "touchpoint",
            "channel",
            "language",
            "status",
            "url",
            "send_at",
            "expires_at",
            "sent_at",
            "opened_at",
            "answered_at",
            "expired_at",
            "suppressed_at",
            "failed_at",
            "dismissed_at",
            "rule",
            "event",
            "delivery_attempts",
            "last_error",
            "created_at",
        ]
        extra_kwargs = {
            "rule": {"help_text": _("The trigger rule that made it; null for a manual send.")},
            "event": {"help_text": _("The touchpoint event that made it; null for a manual send.")},
            "last_error": {"help_text": _("Why the last email or webhook delivery failed, if it did.")},
        }

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_url(self, invitation: Invitation) -> str | None:
        request = self.context.get("request")
        if request is None or not Role.can_write(getattr(request, "role", None)):
            return None
        return request.build_absolute_uri(reverse("survey-form", args=[invitation.token]))


class InvitationFilter(filters.FilterSet):
    survey = IdFilter(field_name="survey_id")
    rule = IdFilter(field_name="rule_id")
    touchpoint = IdFilter(field_name="touchpoint_id")
    customer = filters.CharFilter(field_name="customer__external_id", help_text=_("A customer's external id."))

    class Meta:
        model = Invitation
        fields = ["survey", "customer", "status", "channel", "touchpoint", "rule"]


class InvitationViewSet(ListMixin, RetrieveMixin, WorkspaceViewSet):
    """Invitations: one customer asked to answer one survey. ``POST`` is a manual send."""

    model = Invitation
    selector = staticmethod(selectors.invitation_list)
    input_serializer_class = InvitationInputSerializer
    output_serializer_class = InvitationOutputSerializer
    filterset_class = InvitationFilter
    ordering_fields = ["send_at", "created_at", "status"]
    ordering = ["-send_at", "id"]

    @extend_schema(
        request=InvitationInputSerializer,
        responses={201: InvitationOutputSerializer(many=True)},
        summary="Invite customers to a survey (manual send)",
    )
    def create(self, request: Request) -> ApiResponse:
        data = self.validated(request.data)
        invitations = create_invitations(
            workspace=request.workspace,
            survey_id=data["survey"],
            customer_external_ids=data["customers"],
            channel=data["channel"],
            language=data["language"],
            touchpoint_id=data.get("touchpoint"),
            send_at=data.get("send_at"),
        )
        rows = self.get_queryset().filter(pk__in=[invitation.pk for invitation in invitations]).order_by("id")
        return ApiResponse(self.output(rows, many=True), status=201)


class AnswerOutputSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="question.type", read_only=True)
    text = serializers.SerializerMethodField(
        help_text=_(
            "Free text; e-mail addresses and phone numbers are masked for roles that may not see customer data."
        )
    )

    class Meta:
        model = Answer
        fields = ["question", "type", "number", "choices", "text"]

    def get_text(self, answer: Answer) -> str:
        request = self.context.get("request")
        return answer.text if Role.can_view_pii(getattr(request, "role", None)) else mask_pii(answer.text)


class ResponseOutputSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="invitation.customer.external_id", read_only=True)
    touchpoint = serializers.IntegerField(source="invitation.touchpoint_id", read_only=True, allow_null=True)
    answers = AnswerOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Response
        fields = [
            "id",
            "survey",
            "invitation",
            "customer",
            "touchpoint",
            "language",
            "is_complete",
            "started_at",
            "completed_at",
            "answers",
        ]


NPS_BUCKETS = {"detractor": (0, 6), "passive": (7, 8), "promoter": (9, 10)}


class ResponseFilter(filters.FilterSet):
    survey = IdFilter(field_name="survey_id")
    touchpoint = IdFilter(field_name="invitation__touchpoint_id")
    stage = IdFilter(field_name="invitation__touchpoint__stage_id")
    journey = IdFilter(field_name="invitation__touchpoint__stage__journey_id")
    completed_after = filters.IsoDateTimeFilter(field_name="completed_at", lookup_expr="gte")
    completed_before = filters.IsoDateTimeFilter(field_name="completed_at", lookup_expr="lt")
    nps_bucket = filters.ChoiceFilter(
        choices=[(key, key) for key in NPS_BUCKETS],
        method="filter_nps_bucket",
        help_text=_("Responses whose NPS answer is 0–6 (detractor), 7–8 (passive) or 9–10 (promoter)."),
    )

    class Meta:
        model = Response
        fields = ["survey", "touchpoint", "stage", "journey", "is_complete", "language"]

    def filter_nps_bucket(self, queryset: Any, name: str, value: str) -> Any:
        low, high = NPS_BUCKETS[value]
        nps_answers = Answer.objects.filter(
            response=OuterRef("pk"), question__type=Question.Type.NPS, number__range=(low, high)
        )
        return queryset.filter(Exists(nps_answers))


class ResponseViewSet(ListMixin, RetrieveMixin, WorkspaceViewSet):
    """Responses with their answers (read only). Export a survey's as CSV at ``surveys/{id}/responses.csv``."""

    model = Response
    selector = staticmethod(selectors.response_list)
    output_serializer_class = ResponseOutputSerializer
    filterset_class = ResponseFilter
    ordering_fields = ["started_at", "completed_at"]
    ordering = ["-started_at", "id"]
