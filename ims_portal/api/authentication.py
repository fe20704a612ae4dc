"""How the API knows who calls: a personal token (`Authorization: Bearer <token>`), or the
signed-in browser session of the portal's own pages, with its CSRF token on unsafe methods.

A refused token answers 401 with `WWW-Authenticate: Bearer error="invalid_token"`
(RFC 6750), whatever the reason, which the problem's `detail` gives in words.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.request import Request

from ims_portal.api import tokens
from ims_portal.api.models import ApiToken
from ims_portal.api.problems import Problem

REALM = "ims-portal"


class BearerTokenAuthentication(BaseAuthentication):
    """A personal API token in the `Authorization` header."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        """The token's user and the token; None when no bearer token was sent."""
        scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            token = tokens.authenticate(credentials.strip(), ip=_client_ip(request))
        except tokens.TokenRefused as refused:
            raise Problem(
                401,
                "invalid-token",
                f"The API token was refused: {refused.reason}.",
                headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
            ) from refused
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{REALM}"'


class PortalSessionAuthentication(SessionAuthentication):
    """The portal's signed-in session; REST framework checks its CSRF token on unsafe
    methods, as Django does for the pages' forms."""


def _client_ip(request: Request) -> str:
    # Set by the audit trail's request middleware: the socket peer, or the client behind a
    # trusted proxy (TRUSTED_PROXIES).
    ip: Any = getattr(request, "client_ip", "")
    return str(ip or "")


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for personal tokens."""

    target_class = BearerTokenAuthentication
    name = "personalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token, made on the portal's API tokens page.",
        }


class PortalSessionScheme(OpenApiAuthenticationExtension):
    """The schema's name for the portal's session (its pages' own use)."""

    target_class = PortalSessionAuthentication
    name = "portalSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
