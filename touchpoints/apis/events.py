"""Event ingestion over HTTP: the native API and a Segment-compatible one.

- Native: ``POST /api/v1/events`` with ``Authorization: Bearer <write key>``, one
  event or ``{"batch": [...]}`` (at most ``EVENTS_BATCH_MAX``).
- Segment-compatible: ``POST /v1/batch``, ``/v1/track``, ``/v1/identify``,
  ``/v1/page``, ``/v1/screen`` with the write key as the HTTP Basic user name (or
  ``writeKey`` in the body), so any Segment or RudderStack SDK works by pointing
  its host here. ``Content-Encoding: gzip`` is accepted on both.

Both answer ``{"accepted": n, "duplicates": n, "errors": [{"index", "field",
"message"}]}``: valid items are kept even when others are rejected. A request in
which nothing was valid is a 400. Bodies are read with a hard cap (also after
gzip), so an oversize request is a 413, never a memory blow-up.
"""

from __future__ import annotations

import base64
import binascii
import io
import zlib
from dataclasses import asdict
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError, PayloadTooLarge
from config.limits import EVENTS_BATCH_MAX, EVENTS_REQUEST_MAX_BYTES
from config.pagination import PageNumberPagination
from config.parsers import JSONParser
from touchpoints.authentication import ApiKeyAuthentication, ApiKeyPrincipal
from touchpoints.models import ApiKey, Role
from touchpoints.selectors import apikey_get_active, event_name_stats
from touchpoints.services import apikey_touch
from touchpoints.services.events import KINDS, IngestResult, events_ingest

#: A native request may carry up to EVENTS_BATCH_MAX events of a few KB each.
NATIVE_REQUEST_MAX_BYTES = 4 * 1024 * 1024


def read_json(request: Request, max_bytes: int) -> Any:
    """The request body as JSON, gunzipped if needed, never more than ``max_bytes`` read or inflated."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > max_bytes:
        raise PayloadTooLarge()
    raw = request._request.read(max_bytes + 1)  # the Django request: DRF has not parsed it
    if len(raw) > max_bytes:
        raise PayloadTooLarge()
    if request.headers.get("Content-Encoding", "").lower() == "gzip":
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            raw = inflater.decompress(raw, max_bytes + 1)
        except zlib.error as exc:
            raise exceptions.ParseError(_("The body is not valid gzip.")) from exc
        if len(raw) > max_bytes or inflater.unconsumed_tail:
            raise PayloadTooLarge()
    # The API's own parser: the same 400s for bad JSON, deep nesting and lone surrogates.
    return JSONParser().parse(io.BytesIO(raw))


def ingest_key(api_key: ApiKey | None) -> ApiKey:
    """Write keys ingest; so do secret keys of admins and designers (servers sending events)."""
    if api_key is None:
        raise exceptions.NotAuthenticated(_("Send a write key."))
    if api_key.kind == ApiKey.Kind.WRITE or Role.can_write(api_key.role):
        return api_key
    raise exceptions.PermissionDenied(_("This key may not send events."))


def result_body(result: IngestResult) -> dict[str, Any]:
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "errors": [asdict(error) for error in sorted(result.errors, key=lambda error: error.index)],
    }


def respond(result: IngestResult, extra: dict[str, Any] | None = None) -> Response:
    nothing_taken = not result.accepted and not result.duplicates and result.errors
    return Response({**(extra or {}), **result_body(result)}, status=400 if nothing_taken else 200)


class IngestResultSerializer(serializers.Serializer):
    class ItemErrorSerializer(serializers.Serializer):
        index = serializers.IntegerField()
        field = serializers.CharField()
        message = serializers.CharField()

    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = ItemErrorSerializer(many=True)


class EventInputSerializer(serializers.Serializer):
    """Documentation of one native event (validation happens per item in the service)."""

    type = serializers.ChoiceField(choices=KINDS, required=False, default="track")
    event = serializers.CharField(max_length=200, help_text="An event name, e.g. checkout_completed.")
    user_id = serializers.CharField(max_length=200, required=False, help_text="Your id for the customer.")
    anonymous_id = serializers.CharField(max_length=200, required=False)
    message_id = serializers.CharField(max_length=200, required=False, help_text="Makes retries safe.")
    timestamp = serializers.DateTimeField(required=False, help_text="When it happened (ISO 8601); default now.")
    properties = serializers.DictField(required=False)
    traits = serializers.DictField(required=False, help_text="Merged into the customer's traits.")
    context = serializers.DictField(required=False, help_text='e.g. {"locale": "pl-PL"}')


class EventIngestApi(APIView):
    """``POST /api/v1/events``: one event, or ``{"batch": [...]}``."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [AllowAny]  # the view checks the key (ingest_key), which may come in the body
    throttle_classes: list[Any] = []

    @extend_schema(
        summary="Send events",
        request=EventInputSerializer,
        responses={200: IngestResultSerializer, 400: IngestResultSerializer},
        examples=[
            OpenApiExample(
                "One event",
                value={"event": "order_delivered", "user_id": "u-42", "properties": {"order": "A-1001"}},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        api_key = ingest_key(request.auth if isinstance(request.auth, ApiKey) else None)
        data = read_json(request, NATIVE_REQUEST_MAX_BYTES)
        if isinstance(data, dict) and "batch" in data:
            items = data["batch"]
            if not isinstance(items, list):
                raise ApplicationError.for_field("batch", _("Give a list of events."))
        else:
            items = [data]
        if len(items) > EVENTS_BATCH_MAX:
            raise PayloadTooLarge(_("At most %(max)d events per request.") % {"max": EVENTS_BATCH_MAX})
        return respond(events_ingest(workspace=api_key.workspace, items=items))


class SegmentBasicAuthentication(ApiKeyAuthentication):
    """Segment's convention: the write key as the HTTP Basic user name, no password."""

    keyword = "Basic"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = request.headers.get("Authorization", "").split()
        if len(header) != 2 or header[0].lower() != "basic":
            return None
        try:
            raw_key = base64.b64decode(header[1], validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise exceptions.AuthenticationFailed(_("Send the write key as the Basic user name.")) from exc
        return _principal(raw_key)


def _principal(raw_key: str) -> tuple[ApiKeyPrincipal, ApiKey]:
    api_key = apikey_get_active(raw_key=raw_key) if raw_key and "\x00" not in raw_key else None
    if api_key is None:
        raise exceptions.AuthenticationFailed(_("Unknown or revoked API key."))
    apikey_touch(api_key=api_key)
    return ApiKeyPrincipal(api_key), api_key


class SegmentBasicAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "touchpoints.apis.events.SegmentBasicAuthentication"
    name = "segmentWriteKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Segment's convention: the write key (`jp_wk_…`) as the user name, no password.",
        }


#: Segment's field names → ours.
SEGMENT_FIELDS = {
    "userId": "user_id",
    "anonymousId": "anonymous_id",
    "messageId": "message_id",
    "event": "event",
    "properties": "properties",
    "traits": "traits",
    "context": "context",
    "timestamp": "timestamp",
    "type": "type",
}


def from_segment(item: Any, kind: str | None) -> Any:
    """A Segment call as a native item (``page``/``screen`` take their ``name`` as the event name)."""
    if not isinstance(item, dict):
        return item
    native = {ours: item[theirs] for theirs, ours in SEGMENT_FIELDS.items() if theirs in item}
    native["type"] = kind or item.get("type") or "track"
    if "timestamp" not in native and "originalTimestamp" in item:
        native["timestamp"] = item["originalTimestamp"]
    if native["type"] in ("page", "screen") and "event" not in native and isinstance(item.get("name"), str):
        native["event"] = item["name"]
    if native["type"] == "identify" and "traits" not in native:
        context = item.get("context")
        if isinstance(context, dict) and isinstance(context.get("traits"), dict):
            native["traits"] = context["traits"]
    return native


class SegmentApi(APIView):
    """``POST /v1/<kind>``: Segment's HTTP tracking API (batch, track, identify, page, screen)."""

    authentication_classes = [SegmentBasicAuthentication]
    permission_classes = [AllowAny]  # the view checks the key (ingest_key), which may come in the body
    throttle_classes: list[Any] = []
    #: ``batch`` or one call type.
    kind = "batch"

    @extend_schema(
        summary="Segment-compatible tracking API",
        request={"application/json": {"type": "object"}},
        responses={200: IngestResultSerializer, 400: IngestResultSerializer},
    )
    def post(self, request: Request) -> Response:
        data = read_json(request, EVENTS_REQUEST_MAX_BYTES)
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        if api_key is None and isinstance(data, dict) and isinstance(data.get("writeKey"), str):
            api_key = _principal(data["writeKey"])[1]
        api_key = ingest_key(api_key)
        if self.kind == "batch":
            items = data.get("batch") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ApplicationError.for_field("batch", _("Give a list of calls."))
            native = [from_segment(item, None) for item in items]
        else:
            native = [from_segment(data, self.kind)]
        result = events_ingest(workspace=api_key.workspace, items=native)
        return respond(result, {"success": not (result.errors and not result.accepted and not result.duplicates)})


class EventNameStatsSerializer(serializers.Serializer):
    name = serializers.CharField()
    count = serializers.IntegerField()
    last_seen_at = serializers.DateTimeField()
    touchpoint = serializers.IntegerField(
        source="mapped_touchpoint_id", allow_null=True, help_text="Null: not mapped yet."
    )


class EventNameListApi(APIView):
    """``GET /api/v1/event-names/``: every event name received, with counts; ``?mapped=false`` for the unmapped."""

    @extend_schema(
        summary="List received event names with counts",
        parameters=[OpenApiParameter("mapped", bool, description="Only mapped (true) or unmapped (false) names.")],
        responses={200: EventNameStatsSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("mapped", "")
        if raw not in ("", "true", "false"):
            raise ApplicationError.for_field("mapped", _("Use true or false."))
        stats = event_name_stats(workspace=request.workspace, mapped=None if not raw else raw == "true")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(stats, request, view=self)
        return paginator.get_paginated_response(EventNameStatsSerializer(page, many=True).data)
