"""System checks of the monitoring settings (`manage.py check`, and at start-up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

from ims_portal.audit.context import parse_networks


@register(Tags.security)
def metrics_networks_are_networks(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Every METRICS_ALLOWED_NETWORKS entry is an address or CIDR network."""
    try:
        parse_networks(settings.METRICS_ALLOWED_NETWORKS)
    except ValueError as error:
        return [
            Error(
                f"METRICS_ALLOWED_NETWORKS: {error}",
                hint="List the scrapers' addresses or CIDR networks, comma-separated.",
                id="monitoring.E001",
            )
        ]
    return []
