"""The follow-up case API: ``/api/v1/cases/``.

* ``GET /cases/`` — newest first, paginated; filters ``status``, ``source``,
  ``owner_team`` (exact), ``journey``, ``stage``, ``touchpoint``, ``assignee`` (a
  user id), ``unassigned=true``, ``overdue=true``. A bad value is a field-level 400.
  The list costs the same few queries for 5 cases as for 500.
* ``GET /cases/<id>/`` — one case with its notes and history and, for a detractor
  case, the response's answers.
* ``PATCH /cases/<id>/`` — ``status`` (``open``, ``in_progress``, ``closed``),
  ``assignee`` (a user id of an admin or designer of the workspace, or ``null``),
  ``due_at`` (ISO 8601 with a time zone, not in the past, at most two years ahead;
  a date whose conversion to UTC would leave the calendar is a field error too).
  Other fields are a 400.
* ``POST /cases/<id>/notes/`` — ``{"text": "..."}`` adds a note (201).

Admins and designers write; analysts and viewers read. Customer details follow
:meth:`touchpoints.models.Role.can_view_pii`: admins and designers see the
customer's external id and email, the response's text answers and the notes as
written; analysts and viewers get ``customer: null`` and those texts with e-mail
addresses and phone numbers masked (:func:`touchpoints.pii.mask_pii`). Scores are
not personal data and are shown to every role. Another workspace's case is a 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from analytics import cases
from analytics.alerts.common import flag_label, severity_label
from analytics.models import CaseNote, CaseSource, CaseStatus, FollowUpCase, FrictionFlagRecord
from surveys.models import Answer
from touchpoints.apis.base import IdFilter, ListMixin, RetrieveMixin, UpdateMixin, WorkspaceViewSet, id_field
from touchpoints.models import Role, Workspace
from touchpoints.pii import mask_pii


def can_view_pii(context: Mapping[str, Any]) -> bool:
    request = context.get("request")
    return Role.can_view_pii(getattr(request, "role", None))


def request_author(request: Request) -> tuple[Any, str]:
    """The user behind a request (``None`` for an API key) and how the history names them."""
    user: Any = request.user
    api_key = getattr(user, "api_key", None)
    if api_key is not None:
        return None, _("API key %(prefix)s…") % {"prefix": api_key.prefix}
    return user, user.get_username()


def _workspace(request: Request) -> Workspace:
    return request.workspace  # type: ignore[attr-defined,no-any-return] # set by authentication


class CaseFlagOutputSerializer(serializers.ModelSerializer):
    kind_label = serializers.SerializerMethodField()
    severity_label = serializers.SerializerMethodField()

    class Meta:
        model = FrictionFlagRecord
        fields = [
            "id",
            "kind",
            "kind_label",
            "level",
            "severity",
            "severity_label",
            "reason",
            "evidence",
            "first_seen_at",
            "last_seen_at",
            "resolved_at",
        ]

    def get_kind_label(self, record: FrictionFlagRecord) -> str:
        return flag_label(record.kind)

    def get_severity_label(self, record: FrictionFlagRecord) -> str:
        return severity_label(record.severity)


class CaseCustomerSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    email = serializers.EmailField()


class CaseOutputSerializer(serializers.ModelSerializer):
    journey_name = serializers.CharField(source="journey.name", read_only=True, default=None)
    stage_name = serializers.CharField(source="stage.name", read_only=True, default=None)
    touchpoint_name = serializers.CharField(source="touchpoint.name", read_only=True, default=None)
    assignee_name = serializers.SerializerMethodField()
    customer = serializers.SerializerMethodField(help_text=_("Only for admins and designers; null for other roles."))
    is_overdue = serializers.SerializerMethodField()
    note_count = serializers.IntegerField(read_only=True)
    flag = CaseFlagOutputSerializer(read_only=True, allow_null=True)

    class Meta:
        model = FollowUpCase
        fields = [
            "id",
            "source",
            "status",
            "journey",
            "journey_name",
            "stage",
            "stage_name",
            "touchpoint",
            "touchpoint_name",
            "owner_team",
            "assignee",
            "assignee_name",
            "due_at",
            "is_overdue",
            "opened_at",
            "followed_up_at",
            "closed_at",
            "response",
            "question_type",
            "score",
            "feedback_at",
            "customer",
            "flag",
            "note_count",
            "updated_at",
        ]

    def get_assignee_name(self, case: FollowUpCase) -> str | None:
        return case.assignee.get_username() if case.assignee is not None else None

    @extend_schema_field(CaseCustomerSerializer(allow_null=True))
    def get_customer(self, case: FollowUpCase) -> dict[str, str] | None:
        if case.customer is None or not can_view_pii(self.context):
            return None
        return {"external_id": case.customer.external_id, "email": case.customer.email}

    def get_is_overdue(self, case: FollowUpCase) -> bool:
        return cases.is_overdue(case, self.context.get("now"))


class CaseNoteOutputSerializer(serializers.ModelSerializer):
    # A plain string in the schema: an enum would rename the surveys' ``KindEnum`` (same field name).
    kind = serializers.CharField(help_text=_("``note``, or ``change`` (``changes`` maps a field to [old, new])."))
    author = serializers.CharField(source="author_label")
    text = serializers.SerializerMethodField(
        help_text=_("E-mail addresses and phone numbers are masked for roles that may not see customer data.")
    )

    class Meta:
        model = CaseNote
        fields = ["id", "kind", "text", "changes", "author", "created_at"]

    def get_text(self, note: CaseNote) -> str:
        # Staff write notes, but a note may quote the customer's phone or e-mail.
        return note.text if can_view_pii(self.context) else mask_pii(note.text)


class CaseAnswerOutputSerializer(serializers.ModelSerializer):
    question = serializers.IntegerField(source="question_id")
    question_type = serializers.CharField(source="question.type")
    question_order = serializers.IntegerField(source="question.order")
    text = serializers.SerializerMethodField()

    class Meta:
        model = Answer
        fields = ["question", "question_type", "question_order", "number", "choices", "text"]

    def get_text(self, answer: Answer) -> str:
        return answer.text if can_view_pii(self.context) else mask_pii(answer.text)


class CaseDetailOutputSerializer(CaseOutputSerializer):
    notes = CaseNoteOutputSerializer(many=True, read_only=True)
    answers = serializers.SerializerMethodField()

    class Meta(CaseOutputSerializer.Meta):
        fields = [*CaseOutputSerializer.Meta.fields, "notes", "answers"]

    @extend_schema_field(CaseAnswerOutputSerializer(many=True))
    def get_answers(self, case: FollowUpCase) -> list[Any]:
        if case.response is None:
            return []
        return list(CaseAnswerOutputSerializer(case.response.answers.all(), many=True, context=self.context).data)


class CaseUpdateInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
    assignee = id_field(required=False, allow_null=True, help_text=_("A user id; null to unassign."))
    # Read in UTC whatever zone is active: DRF turns an offset that overflows on conversion into a field error.
    due_at = serializers.DateTimeField(
        required=False, default_timezone=UTC, help_text=_("ISO 8601, e.g. 2026-05-04T17:00:00+02:00")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name[:40]: [_("This field cannot be changed.")] for name in unknown[:10]}
            )
        return attrs


class CaseNoteInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=cases.NOTE_MAX_LENGTH)


class CaseFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=CaseStatus.choices)
    source = filters.ChoiceFilter(choices=CaseSource.choices)
    owner_team = filters.CharFilter(max_length=120)
    journey = IdFilter(field_name="journey_id")
    stage = IdFilter(field_name="stage_id")
    touchpoint = IdFilter(field_name="touchpoint_id")
    assignee = IdFilter(field_name="assignee_id")
    unassigned = filters.BooleanFilter(field_name="assignee", lookup_expr="isnull")
    overdue = filters.BooleanFilter(method="filter_overdue", help_text=_("Not closed and past the due date."))

    class Meta:
        model = FollowUpCase
        fields = ["status", "source", "owner_team", "journey", "stage", "touchpoint", "assignee"]

    def filter_overdue(self, queryset: QuerySet[FollowUpCase], name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        overdue = queryset.exclude(status=CaseStatus.CLOSED).filter(due_at__lt=timezone.now())
        return overdue if value else queryset.exclude(pk__in=overdue.values("pk"))


class CaseViewSet(ListMixin, RetrieveMixin, UpdateMixin, WorkspaceViewSet):
    """Follow-up cases: detractors and friction flags someone has to act on."""

    model = FollowUpCase
    selector = staticmethod(cases.case_list)
    input_serializer_class = CaseUpdateInputSerializer
    output_serializer_class = CaseOutputSerializer
    filterset_class = CaseFilter
    ordering_fields = ["opened_at", "due_at", "updated_at"]
    ordering = ["-opened_at", "-id"]
    http_method_names = ["get", "patch", "post", "head", "options"]

    def get_queryset(self) -> QuerySet:
        if self.action in ("retrieve", "partial_update") and not getattr(self, "swagger_fake_view", False):
            return cases.case_detail(workspace=_workspace(self.request))
        return super().get_queryset()

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def output(self, instance: Any, **kwargs: Any) -> dict[str, Any]:
        serializer = CaseOutputSerializer if kwargs.get("many") else CaseDetailOutputSerializer
        return serializer(instance, context=self.get_serializer_context(), **kwargs).data

    @extend_schema(request=CaseUpdateInputSerializer, responses={200: CaseDetailOutputSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> ApiResponse:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(responses={200: CaseDetailOutputSerializer})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> ApiResponse:
        return super().retrieve(request, *args, **kwargs)

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        if "assignee" in data:
            data["assignee_id"] = data.pop("assignee")
        author, label = request_author(self.request)
        return cases.case_update(
            workspace=_workspace(self.request), case_id=instance.pk, data=data, author=author, author_label=label
        )

    @extend_schema(request=CaseNoteInputSerializer, responses={201: CaseNoteOutputSerializer}, summary="Add a note")
    @action(detail=True, methods=["post"])
    def notes(self, request: Request, pk: str) -> ApiResponse:
        case = self.get_object()
        serializer = CaseNoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        author, label = request_author(request)
        note = cases.case_note_add(
            workspace=_workspace(request),
            case_id=case.pk,
            text=serializer.validated_data["text"],
            author=author,
            author_label=label,
        )
        data = CaseNoteOutputSerializer(note, context=self.get_serializer_context()).data
        return ApiResponse(data, status=status.HTTP_201_CREATED)
