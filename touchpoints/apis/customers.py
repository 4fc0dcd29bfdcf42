"""Customers: list, read, upsert by external id, update, erase.

Analysts and viewers never see PII: for them ``email`` and ``traits`` are left
out of every answer, and they cannot filter on them.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from touchpoints import selectors, services
from touchpoints.apis.base import CrudViewSet
from touchpoints.models import Customer, Role, validate_language_tag, validate_timezone, validate_traits

PII_FIELDS = ("email", "traits")


class CustomerInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200, help_text=_("Your own id for this person."))
    email = serializers.EmailField(required=False, allow_blank=True)
    language = serializers.CharField(
        required=False, allow_blank=True, max_length=16, validators=[validate_language_tag]
    )
    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64, validators=[validate_timezone])
    traits = serializers.DictField(
        required=False,
        validators=[validate_traits],
        help_text=_("Merged into the stored traits; a null value removes a key."),
    )


class CustomerUpdateInputSerializer(CustomerInputSerializer):
    external_id = None  # type: ignore[assignment]


class CustomerOutputSerializer(serializers.ModelSerializer):
    """A customer; ``email`` and ``traits`` are omitted for analysts and viewers."""

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "email",
            "language",
            "timezone",
            "traits",
            "first_seen_at",
            "last_seen_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"email": {"required": False}, "traits": {"required": False}}

    def to_representation(self, instance: Customer) -> dict[str, Any]:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if not Role.can_view_pii(getattr(request, "role", None)):
            for name in PII_FIELDS:
                data.pop(name, None)
        return data


class CustomerFilter(filters.FilterSet):
    external_id = filters.CharFilter(help_text=_("Exact external id."))
    seen_after = filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="gte")
    seen_before = filters.IsoDateTimeFilter(field_name="last_seen_at", lookup_expr="lt")

    class Meta:
        model = Customer
        fields = ["external_id", "language", "seen_after", "seen_before"]


@extend_schema_view(
    create=extend_schema(
        summary="Create or update a customer by external id",
        responses={201: CustomerOutputSerializer, 200: CustomerOutputSerializer},
    ),
)
class CustomerViewSet(CrudViewSet):
    """Customers: one profile per person, keyed by your external id."""

    model = Customer
    selector = staticmethod(selectors.customer_list)
    input_serializer_class = CustomerUpdateInputSerializer
    create_input_serializer_class = CustomerInputSerializer
    output_serializer_class = CustomerOutputSerializer
    filterset_class = CustomerFilter
    ordering_fields = ["last_seen_at", "first_seen_at", "external_id"]
    ordering = ["-last_seen_at", "id"]
    lookup_field = "external_id"
    # External ids are the company's own and may contain "/" (``acct/42``).
    lookup_value_regex = ".+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Upsert: 201 with a new customer, 200 when the external id was known."""
        data = self.validated(request.data, creating=True)
        customer, created = services.customer_upsert(
            workspace=request.workspace, external_id=data.pop("external_id"), data=data
        )
        return Response(
            self.output(self.reread(customer)),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:
        customer, _created = services.customer_upsert(
            workspace=self.request.workspace, external_id=instance.external_id, data=data
        )
        return customer

    def perform_destroy(self, instance: Model) -> None:
        services.customer_delete(workspace=self.request.workspace, external_id=instance.external_id)
