"""The base of every workspace-scoped API resource.

A resource says which selector lists it (``get_queryset``), which serializer
validates input and which renders output, and which services write it
(``perform_create``/``perform_update``/``perform_destroy``). This class does the
rest the same way everywhere: scoping (another workspace's object is a 404),
filtering, ordering, pagination, status codes and re-reading the written object
through the selector so the answer looks exactly like a read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django import forms
from django.db.models import Model, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django_filters import rest_framework as filters
from rest_framework import serializers, status, viewsets
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from config.limits import ID_MAX, LIST_MAX_ITEMS


class CsvDownloadNegotiation(BaseContentNegotiation):
    """For endpoints that answer CSV themselves: any ``Accept`` header is fine.

    The view returns its CSV as a plain Django response, so DRF's renderers only
    ever render an error; with the default negotiation, ``Accept: text/csv`` (what
    a spreadsheet or ``curl -H`` asks for) got 406 Not Acceptable instead of the
    file. Errors still come as JSON, with their status code.
    """

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


class WorkspaceViewSet(viewsets.GenericViewSet):
    model: ClassVar[type[Model]]
    #: The list selector, called as ``selector(workspace=...)``; wrap it in ``staticmethod``.
    selector: ClassVar[Callable[..., QuerySet]]
    lookup_value_regex = "[0-9]+"
    input_serializer_class: ClassVar[type[serializers.Serializer]]
    output_serializer_class: ClassVar[type[serializers.Serializer]]
    #: Used for POST when creating takes more fields than updating.
    create_input_serializer_class: ClassVar[type[serializers.Serializer] | None] = None

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return self.output_serializer_class

    def get_queryset(self) -> QuerySet:
        """The selector's rows of the caller's workspace: the only way in to any object."""
        if getattr(self, "swagger_fake_view", False):  # schema generation has no workspace
            return self.model.objects.none()
        return self.selector(workspace=self.request.workspace)

    def get_object(self) -> Model:
        """The object named in the URL, looked up in the caller's workspace only."""
        lookup = self.lookup_url_kwarg or self.lookup_field
        value = self.kwargs[lookup]
        if "\x00" in value:  # cannot exist, and PostgreSQL refuses the byte in a query
            raise Http404
        return get_object_or_404(self.get_queryset(), **{self.lookup_field: value})

    def validated(self, data: Any, *, creating: bool = False, partial: bool = False) -> dict[str, Any]:
        serializer_class = (creating and self.create_input_serializer_class) or self.input_serializer_class
        serializer = serializer_class(data=data, partial=partial, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def output(self, instance: Any, **kwargs: Any) -> dict[str, Any]:
        return self.output_serializer_class(instance, context=self.get_serializer_context(), **kwargs).data

    def reread(self, instance: Model) -> Model:
        """The written object as the list selector returns it (annotations, relations)."""
        return self.get_queryset().get(pk=instance.pk)

    # Hooks for the concrete resources: one service call each.
    def perform_create(self, data: dict[str, Any]) -> Model:  # type: ignore[override]
        raise NotImplementedError

    def perform_update(self, instance: Model, data: dict[str, Any]) -> Model:  # type: ignore[override]
        raise NotImplementedError

    def perform_destroy(self, instance: Model) -> None:
        raise NotImplementedError


class ListMixin:
    def list(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset: QuerySet = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.output(page, many=True))


class RetrieveMixin:
    def retrieve(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self.output(self.get_object()))


class CreateMixin:
    def create(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.perform_create(self.validated(request.data, creating=True))
        return Response(self.output(self.reread(instance)), status=status.HTTP_201_CREATED)


class UpdateMixin:
    def update(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        data = self.validated(request.data, partial=partial)
        return Response(self.output(self.reread(self.perform_update(instance, data))))

    def partial_update(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)


class DestroyMixin:
    def destroy(self: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.perform_destroy(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CrudViewSet(ListMixin, RetrieveMixin, CreateMixin, UpdateMixin, DestroyMixin, WorkspaceViewSet):
    """List, read, create, update (PUT/PATCH) and delete."""


def id_field(**kwargs: Any) -> serializers.IntegerField:
    """An id in a request body: a positive integer that fits a bigint (larger is a field error)."""
    return serializers.IntegerField(min_value=1, max_value=ID_MAX, **kwargs)


def id_list_field(*, max_length: int = LIST_MAX_ITEMS, **kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=id_field(), max_length=max_length, **kwargs)


class IdFilter(filters.Filter):
    """``?journey=3``: an integer id; ``1.5``, ``1e40`` or a huge number are a 400, not a guess or a 500."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)
