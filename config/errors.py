"""The one error type services raise, and the one shape every API error takes.

Services raise :class:`ApplicationError`. :func:`exception_handler` (wired as DRF's
``EXCEPTION_HANDLER``) renders every 4xx as::

    {"error": {"code": "invalid", "message": "Invalid input.",
               "fields": {"name": ["This field is required."]}}}

``ApplicationError`` and any ``ValidationError`` (DRF's or Django's) are 400,
``ObjectDoesNotExist``/``Http404`` are 404, DRF's own exceptions keep their status.
Anything else is a bug and reaches Django's 500 handler (JSON for ``/api/`` paths,
see :mod:`config.views`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.encoding import force_str
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response


class ApplicationError(Exception):
    """An expected failure of a service: bad input or a broken business rule.

    ``fields`` maps field names to messages, so forms and the API can show each
    message beside its field. ``code`` is a stable machine-readable identifier.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.code, self.fields = message, code, fields or {}

    @classmethod
    def for_field(cls, field: str, message: str, *, code: str = "invalid") -> ApplicationError:
        """A one-field error: the message is both the summary and the field's message."""
        return cls(message, code=code, fields={field: [message]})


def error_body(code: str, message: str, fields: Mapping[str, list[str]] | None = None) -> dict:
    """The JSON body of every error response."""
    return {"error": {"code": code, "message": message, "fields": dict(fields or {})}}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into ``{"field.sub.0": ["message", ...]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for sub_key, messages in flatten_errors(value, name).items():
                flat.setdefault(sub_key, []).extend(messages)
    elif isinstance(detail, Sequence) and not isinstance(detail, str):
        if all(not isinstance(item, (Mapping, list)) for item in detail):
            flat[prefix or "non_field_errors"] = [force_str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    name = f"{prefix}.{index}" if prefix else str(index)
                    flat.update(flatten_errors(item, name))
    else:
        flat[prefix or "non_field_errors"] = [force_str(detail)]
    return flat


def _validation_response(fields: dict[str, list[str]], code: str = "invalid") -> Response:
    general = fields.get("non_field_errors") or fields.get("__all__")
    message = general[0] if general and len(fields) == 1 else _("Invalid input.")
    return Response(error_body(code, message, fields), status=status.HTTP_400_BAD_REQUEST)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: one shape for every 4xx, ``None`` (a real 500) otherwise."""
    # Imported here: rest_framework.views loads the authentication classes, which
    # import services, which import this module.
    from rest_framework.views import set_rollback

    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        if hasattr(exc, "error_dict"):
            fields = {key: [force_str(m) for m in msgs] for key, msgs in exc.message_dict.items()}
        else:
            fields = {"non_field_errors": [force_str(m) for m in exc.messages]}
        return _validation_response(fields)
    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        return _validation_response(flatten_errors(exc.detail))
    if isinstance(exc, (Http404, ObjectDoesNotExist)):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    set_rollback()
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else "error"
    return Response(error_body(code, force_str(exc.detail)), status=exc.status_code, headers=headers)


class PayloadTooLarge(exceptions.APIException):
    """HTTP 413: a request body or batch over its documented limit."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = gettext_lazy("The request is too large.")
    default_code = "payload_too_large"
