"""``/api/v1/embed/``: the two calls ``embed.js`` makes from a company's pages.

They are public (the write key, which is safe in a browser, names the workspace;
the user hash or the invitation token is the credential) and cross-origin: the
script posts JSON as ``text/plain`` so browsers send it without a preflight, and
the answer carries ``Access-Control-Allow-Origin`` only for the workspace's
embed origins. No cookies are read or set. See :mod:`surveys.embed`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import reverse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from config.errors import ApplicationError
from config.parsers import JSONParser, PlainTextJSONParser
from surveys.embed import embed_identify, invitation_dismiss, invitation_for_dismissal, origin_allowed
from surveys.texts import text_for
from surveys.views import TOKEN_SHAPE, form_language, ui_language
from touchpoints.models import ApiKey, Workspace, validate_traits
from touchpoints.selectors import apikey_get_active


class EmbedIdentifyInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=100, help_text=_("The workspace's write key (jp_wk_…)."))
    userId = serializers.CharField(max_length=200, help_text=_("The customer's external id."))  # noqa: N815
    userHash = serializers.RegexField(  # noqa: N815
        r"^[0-9a-fA-F]{64}$",
        help_text=_("Hex HMAC-SHA256 of userId with the workspace's identity secret, computed on your server."),
        error_messages={"invalid": _("Send the 64 hex digits of the HMAC-SHA256 of the user id.")},
    )
    traits = serializers.JSONField(required=False, default=dict, validators=[validate_traits])


class EmbedSurveySerializer(serializers.Serializer):
    token = serializers.CharField()
    url = serializers.CharField(help_text=_("The form in compact mode, for the slide-in iframe."))
    title = serializers.CharField()
    language = serializers.CharField()
    labels = serializers.DictField(child=serializers.CharField(), help_text=_("The slide-in's own words."))


class EmbedIdentifyOutputSerializer(serializers.Serializer):
    survey = EmbedSurveySerializer(allow_null=True)


class EmbedDismissInputSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64)


class EmbedApi(APIView):
    """Public, cross-origin, cookie-free."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [PlainTextJSONParser, JSONParser]

    def own_origin(self, request: Request) -> str:
        return f"{request.scheme}://{request.get_host()}"

    def check_origin(self, request: Request, workspace: Workspace) -> None:
        if not origin_allowed(
            workspace=workspace, origin=request.headers.get("Origin"), own_origin=self.own_origin(request)
        ):
            raise PermissionDenied(
                gettext("This site is not among the workspace's embed origins."), code="origin_not_allowed"
            )

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.headers.get("Origin")
        # Errors are readable too, so a developer sees why in the console; they reveal nothing.
        if origin:
            response["Access-Control-Allow-Origin"] = origin
            patch_vary_headers(response, ["Origin"])
        response["Cache-Control"] = "no-store"
        return response

    def options(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        """A preflight, for clients that send ``application/json``; the real request is checked."""
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type"
        response["Access-Control-Max-Age"] = "86400"
        return response


class EmbedIdentifyApi(EmbedApi):
    """Identify a visitor and get their pending embedded survey, if any."""

    input_serializer_class = EmbedIdentifyInputSerializer
    output_serializer_class = EmbedIdentifyOutputSerializer

    @extend_schema(summary="Identify a visitor and get their pending embedded survey", auth=[])
    def post(self, request: Request) -> ApiResponse:
        data = EmbedIdentifyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        api_key = apikey_get_active(raw_key=values["key"])
        if api_key is None or api_key.kind != ApiKey.Kind.WRITE:
            raise ApplicationError.for_field("key", gettext("Give the workspace's write key (jp_wk_…)."))
        workspace = api_key.workspace
        self.check_origin(request, workspace)
        invitation = embed_identify(
            workspace=workspace, user_id=values["userId"], given_hash=values["userHash"], traits=values["traits"]
        )
        if invitation is None:
            return ApiResponse({"survey": None})
        language = form_language(request, invitation)
        survey = invitation.survey
        with translation.override(ui_language(language)):
            labels = {"close": gettext("Close the survey"), "region": gettext("Survey")}
        path = reverse("survey-form", args=[invitation.token]) + "?compact=1"
        item = {
            "token": invitation.token,
            "url": request.build_absolute_uri(path),
            "title": text_for(survey.texts, "title", language, survey.default_language) or labels["region"],
            "language": language,
            "labels": labels,
        }
        return ApiResponse(EmbedIdentifyOutputSerializer({"survey": item}).data)


class EmbedDismissApi(EmbedApi):
    """The visitor closed the embedded survey: it is recorded as dismissed and not offered again."""

    input_serializer_class = EmbedDismissInputSerializer

    @extend_schema(summary="Dismiss an embedded survey", auth=[], responses={204: None})
    def post(self, request: Request) -> ApiResponse:
        data = EmbedDismissInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = data.validated_data["token"]
        invitation = invitation_for_dismissal(token=token) if TOKEN_SHAPE.fullmatch(token) else None
        if invitation is None:
            raise NotFound()
        self.check_origin(request, invitation.workspace)
        invitation_dismiss(invitation=invitation)
        return ApiResponse(status=status.HTTP_204_NO_CONTENT)
