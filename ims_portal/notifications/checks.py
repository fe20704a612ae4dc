"""System checks of the notifications' settings (`manage.py check`, and at start-up)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Warning, register


@register()
def portal_url_is_absolute(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """E-mails and webhooks link to the export's page; without PORTAL_URL the link is a bare
    path that nobody can follow from a mail client."""
    parts = urlsplit(settings.PORTAL_URL)
    if parts.scheme in ("http", "https") and parts.netloc:
        return []
    return [
        Warning(
            "PORTAL_URL is not an absolute http(s) address: links in notifications will be "
            "paths only.",
            hint="Set PORTAL_URL to the portal's address as users reach it, "
            "e.g. https://ims-portal.example.com",
            id="notifications.W001",
        )
    ]
