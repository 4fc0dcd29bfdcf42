"""Journeys, stages, touchpoints and personas."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from config.limits import LIST_MAX_ITEMS, STAGES_MAX
from touchpoints import selectors, services
from touchpoints.apis.base import CrudViewSet, IdFilter, id_field, id_list_field
from touchpoints.models import Channel, Journey, Persona, Stage, Touchpoint

# --- Personas --------------------------------------------------------------------


class PersonaInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    goals = serializers.CharField(required=False, allow_blank=True, default="")
    pains = serializers.CharField(required=False, allow_blank=True, default="")
    needs = serializers.CharField(required=False, allow_blank=True, default="")


class PersonaOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Persona
        fields = ["id", "name", "description", "goals", "pains", "needs", "created_at", "updated_at"]


class PersonaFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains", help_text=_("Part of the name."))

    class Meta:
        model = Persona
        fields = ["name"]


class PersonaViewSet(CrudViewSet):
    """Personas: who the journeys are for."""

    model = Persona
    selector = staticmethod(selectors.persona_list)
    input_serializer_class = PersonaInputSerializer
    output_serializer_class = PersonaOutputSerializer
    filterset_class = PersonaFilter
    ordering_fields = ["name", "created_at"]
    ordering = ["name"]

    def perform_create(self, data: dict[str, Any]) -> Model:
        return services.persona_create(workspace=self.request.workspace, **data)

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        return services.persona_update(workspace=self.request.workspace, persona_id=instance.pk, data=data)

    def perform_destroy(self, instance: Model) -> None:
        services.persona_delete(workspace=self.request.workspace, persona_id=instance.pk)


# --- Stage serializers (the journeys reorder action answers with stages) -------------


class StageInputSerializer(serializers.Serializer):
    journey = id_field()
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    order = serializers.IntegerField(
        min_value=1,
        max_value=STAGES_MAX,
        required=False,
        help_text=_("1-based. On create, omit to add the stage last; on update, moves the stage there."),
    )


class StageOutputSerializer(serializers.ModelSerializer):
    touchpoint_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Stage
        fields = ["id", "journey", "name", "description", "order", "touchpoint_count", "created_at", "updated_at"]


# --- Journeys ----------------------------------------------------------------------


class JourneyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    map_type = serializers.ChoiceField(choices=Journey.MapType.choices, default=Journey.MapType.CURRENT_STATE)
    is_active = serializers.BooleanField(default=True)
    persona_ids = id_list_field(default=list, help_text=_("Replaces the journey's personas."))


class JourneyCreateInputSerializer(JourneyInputSerializer):
    from_template = serializers.BooleanField(
        default=False,
        help_text=_("Start with the nine standard stages, named in the workspace language."),
    )


class PersonaRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Persona
        fields = ["id", "name"]


class JourneyOutputSerializer(serializers.ModelSerializer):
    personas = PersonaRefSerializer(many=True, read_only=True)
    stage_count = serializers.IntegerField(read_only=True)
    touchpoint_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Journey
        fields = [
            "id",
            "name",
            "description",
            "map_type",
            "is_active",
            "personas",
            "stage_count",
            "touchpoint_count",
            "created_at",
            "updated_at",
        ]


class StageReorderInputSerializer(serializers.Serializer):
    stage_ids = id_list_field(
        max_length=STAGES_MAX,
        allow_empty=False,
        help_text=_("Every stage id of the journey, in the new order."),
    )


class JourneyFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains", help_text=_("Part of the name."))
    persona = IdFilter(field_name="personas", help_text=_("A persona id."))

    class Meta:
        model = Journey
        fields = ["name", "map_type", "is_active", "persona"]


class JourneyViewSet(CrudViewSet):
    """Journeys: maps of the customer's way through stages and touchpoints."""

    model = Journey
    selector = staticmethod(selectors.journey_list)
    input_serializer_class = JourneyInputSerializer
    create_input_serializer_class = JourneyCreateInputSerializer
    output_serializer_class = JourneyOutputSerializer
    filterset_class = JourneyFilter
    ordering_fields = ["name", "created_at", "updated_at"]
    ordering = ["name"]

    def perform_create(self, data: dict[str, Any]) -> Model:
        return services.journey_create(workspace=self.request.workspace, **data)

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        return services.journey_update(workspace=self.request.workspace, journey_id=instance.pk, data=data)

    def perform_destroy(self, instance: Model) -> None:
        services.journey_delete(workspace=self.request.workspace, journey_id=instance.pk)

    @extend_schema(
        request=StageReorderInputSerializer,
        responses={200: StageOutputSerializer(many=True)},
        summary="Reorder a journey's stages",
    )
    @action(detail=True, methods=["post"], url_path="reorder-stages")
    def reorder_stages(self, request: Request, pk: str) -> Response:
        """Give the journey's stages the orders 1..n in the order of ``stage_ids``, atomically."""
        journey = self.get_object()
        serializer = StageReorderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.stage_reorder(
            workspace=request.workspace, journey_id=journey.pk, stage_ids=serializer.validated_data["stage_ids"]
        )
        stages = selectors.stage_list(workspace=request.workspace).filter(journey=journey).order_by("order")
        return Response(StageOutputSerializer(stages, many=True).data)


# --- Stages --------------------------------------------------------------------------


class StageFilter(filters.FilterSet):
    # Number filters, not model choices: a choice filter would check the id against
    # every workspace's journeys and so tell whether another workspace's id exists.
    journey = IdFilter(field_name="journey_id", help_text=_("A journey id."))

    class Meta:
        model = Stage
        fields = ["journey"]


class StageViewSet(CrudViewSet):
    """Stages: the columns of a journey map, ordered 1..n."""

    model = Stage
    selector = staticmethod(selectors.stage_list)
    input_serializer_class = StageInputSerializer
    output_serializer_class = StageOutputSerializer
    filterset_class = StageFilter
    ordering_fields = ["order", "name", "created_at"]
    ordering = ["journey_id", "order"]

    def perform_create(self, data: dict[str, Any]) -> Model:
        return services.stage_create(workspace=self.request.workspace, journey_id=data.pop("journey"), **data)

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        if "journey" in data:
            data["journey_id"] = data.pop("journey")
        return services.stage_update(workspace=self.request.workspace, stage_id=instance.pk, data=data)

    def perform_destroy(self, instance: Model) -> None:
        services.stage_delete(workspace=self.request.workspace, stage_id=instance.pk)


# --- Touchpoints -----------------------------------------------------------------------


class TouchpointInputSerializer(serializers.Serializer):
    stage = id_field()
    name = serializers.CharField(max_length=120)
    channel = serializers.ChoiceField(choices=Channel.choices)
    customer_does = serializers.CharField(required=False, allow_blank=True, default="")
    customer_thinks = serializers.CharField(required=False, allow_blank=True, default="")
    customer_feels = serializers.CharField(required=False, allow_blank=True, default="")
    owner_team = serializers.CharField(required=False, allow_blank=True, default="", max_length=120)
    event_names = serializers.ListField(
        child=serializers.CharField(max_length=200),
        max_length=LIST_MAX_ITEMS,
        required=False,
        default=list,
        help_text=_("Event names that mean this touchpoint happened; each is unique in the workspace."),
    )
    order = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)


class TouchpointOutputSerializer(serializers.ModelSerializer):
    journey = serializers.IntegerField(source="journey_id", read_only=True)
    event_names = serializers.SerializerMethodField()

    class Meta:
        model = Touchpoint
        fields = [
            "id",
            "journey",
            "stage",
            "name",
            "channel",
            "customer_does",
            "customer_thinks",
            "customer_feels",
            "owner_team",
            "event_names",
            "order",
            "created_at",
            "updated_at",
        ]

    def get_event_names(self, touchpoint: Touchpoint) -> list[str]:
        return [event_name.name for event_name in touchpoint.event_names.all()]


class TouchpointFilter(filters.FilterSet):
    journey = IdFilter(field_name="stage__journey_id", help_text=_("A journey id."))
    stage = IdFilter(field_name="stage_id", help_text=_("A stage id."))
    event_name = filters.CharFilter(field_name="event_names__name", help_text=_("An event name."))

    class Meta:
        model = Touchpoint
        fields = ["journey", "stage", "channel", "event_name"]


class TouchpointViewSet(CrudViewSet):
    """Touchpoints: where the customer meets the company, on one channel."""

    model = Touchpoint
    selector = staticmethod(selectors.touchpoint_list)
    input_serializer_class = TouchpointInputSerializer
    output_serializer_class = TouchpointOutputSerializer
    filterset_class = TouchpointFilter
    ordering_fields = ["name", "order", "created_at"]
    ordering = ["stage__journey_id", "stage__order", "order", "id"]

    def perform_create(self, data: dict[str, Any]) -> Model:
        return services.touchpoint_create(workspace=self.request.workspace, stage_id=data.pop("stage"), **data)

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        if "stage" in data:
            data["stage_id"] = data.pop("stage")
        return services.touchpoint_update(workspace=self.request.workspace, touchpoint_id=instance.pk, data=data)

    def perform_destroy(self, instance: Model) -> None:
        services.touchpoint_delete(workspace=self.request.workspace, touchpoint_id=instance.pk)
