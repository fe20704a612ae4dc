"""System checks of the audit trail's configuration (`manage.py check`, and at start-up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

from ims_portal.audit.context import parse_networks


@register(Tags.security)
def trusted_proxies_are_networks(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Every TRUSTED_PROXIES entry is an address or CIDR network. A malformed one is an
    error rather than skipped: skipped, it would leave the trail naming that proxy instead
    of its clients."""
    try:
        parse_networks(settings.TRUSTED_PROXIES)
    except ValueError as error:
        return [
            Error(
                f"TRUSTED_PROXIES: {error}",
                hint="List the reverse proxies' addresses or CIDR networks, comma-separated.",
                id="audit.E001",
            )
        ]
    return []
