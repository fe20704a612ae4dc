"""System checks of the sign-in configuration (`manage.py check`, and at start-up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security)
def sign_in_is_configured(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Outside development the portal is reached only through company SSO: without
    OIDC_ISSUER nobody but a superuser (at /admin/) can sign in."""
    if settings.OIDC_ISSUER or settings.DEVELOPMENT_SIGN_IN:
        return []
    return [
        Warning(
            "Company SSO is not configured and DEBUG is off: nobody can sign in to the "
            "portal (a superuser still can at /admin/).",
            hint="Set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (see README).",
            id="accounts.W001",
        )
    ]
