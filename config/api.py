"""The OpenAPI schema class and the error schema (pagination is in :mod:`config.pagination`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable error code, e.g. `invalid`.")
    message = serializers.CharField(help_text="A human-readable summary, in the caller's language.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field (dotted paths for nested fields).",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class InputOutputAutoSchema(AutoSchema):
    """Reads ``input_serializer_class`` / ``output_serializer_class`` from our API views.

    Our views validate with one serializer and answer with another (see STYLE.md);
    this tells drf-spectacular so, and documents the shared error shape on every
    operation.
    """

    def get_request_serializer(self) -> Any:
        input_class = getattr(self.view, "input_serializer_class", None)
        if input_class is not None and self.method in ("POST", "PUT", "PATCH"):
            return input_class
        return super().get_request_serializer()

    def get_response_serializers(self) -> Any:
        if self.method == "DELETE":
            success: dict[str, Any] = {"204": None}
        else:
            output_class = getattr(self.view, "output_serializer_class", None)
            code = "201" if self.method == "POST" else "200"
            success = {code: output_class or super().get_response_serializers()}
        errors = {"400": ErrorSerializer, "401": ErrorSerializer, "403": ErrorSerializer}
        if self._is_detail():
            errors["404"] = ErrorSerializer
        return {**success, **errors}

    def _is_detail(self) -> bool:
        return "{" in self.path
