"""Request parsers. Kept apart from DRF's views: DRF imports them while loading its settings."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError

#: A JSON escape of a UTF-16 surrogate (``\ud83d``): the only way one gets into parsed JSON.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with two more 400s instead of 500s.

    Absurdly deep nesting would raise ``RecursionError``; a lone UTF-16 surrogate
    (``"\\ud800"``, valid JSON but not Unicode) would fail later, in the database
    driver, when the string is stored or even just compared: it is a field error
    of the top-level field that holds it.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(_("JSON parse error - the document is nested too deeply.")) from exc
        # A surrogate can only come from a \uD800-\uDFFF escape (UTF-8 cannot carry one), so
        # only a body with such an escape pays for the full check.
        field = _unencodable_field(data) if SURROGATE_ESCAPE.search(raw) else None
        if field is not None:
            raise ValidationError({field: [_("This holds an invalid character (a lone UTF-16 surrogate).")]})
        return data


def _unencodable_field(data: Any) -> str | None:
    """The top-level field (or ``non_field_errors``) holding a string that is not valid Unicode."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    if isinstance(data, dict):
        for key, value in data.items():
            try:
                json.dumps({key: value}, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                return key if key.isascii() else "non_field_errors"
    return "non_field_errors"


class PlainTextJSONParser(JSONParser):
    """JSON sent as ``text/plain``: browsers send that cross-origin without a CORS preflight.

    Only for endpoints called by our own browser script from other sites (``embed.js``).
    """

    media_type = "text/plain"
