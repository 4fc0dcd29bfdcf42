"""API key authentication: ``Authorization: Bearer <key>``.

Both kinds of key authenticate; what they may do is the permissions' business
(:mod:`touchpoints.permissions`): secret keys act with their role, write keys may
only ingest events. The workspace always comes from the credential.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from touchpoints.models import ApiKey
from touchpoints.selectors import apikey_get_active
from touchpoints.services import apikey_touch


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """The ``request.user`` of a request made with an API key."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    pk: None = None

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the key as “Authorization: Bearer <key>”."))
        api_key = apikey_get_active(raw_key=header[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("Unknown or revoked API key."))
        apikey_touch(api_key=api_key)
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "touchpoints.authentication.ApiKeyAuthentication"
    name = "secretKey"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A secret API key (`jp_sk_…`). Write keys (`jp_wk_…`) can only send events.",
        }
