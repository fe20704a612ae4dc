"""System checks of the audit trail's configuration (`manage.py check`, and at start-up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from ims_portal.audit import db_roles, keys
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


@register(Tags.security)
def signing_key_is_usable(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A signing key is set and loads: without one no checkpoint is written and exported
    files are unsigned, so nothing holds the newest events in place. (A development run
    without one is fine: `make run` makes one.)"""
    if not keys.configured() and not settings.DEBUG:
        return [
            Warning(
                "No audit signing key: the trail's checkpoints are not written and exported "
                "files are not signed.",
                hint="Set AUDIT_SIGNING_KEY_FILE (`manage.py audit_keygen --out PATH`).",
                id="audit.W002",
            )
        ]
    if not keys.configured():
        return []
    try:
        keys.private_key()
    except keys.NoSigningKey as error:
        return [Error(str(error), id="audit.E002")]
    return []


@register(Tags.security, deploy=True)
def app_role_cannot_disable_the_guard(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """`manage.py check --deploy`: the portal's database role is neither a superuser nor the
    audit table's owner, either of which could switch the append-only trigger off."""
    try:
        problems = db_roles.role_warnings(connections[DEFAULT_DB_ALIAS])
    except DatabaseError:
        return []  # no database to ask: `migrate` and the app's start say so loudly enough
    return [
        Warning(
            f"{problem}: it could switch off the audit trail's append-only trigger "
            "(ALTER TABLE audit_event DISABLE TRIGGER ...).",
            hint="Run the portal as an application role (DATABASE_URL) and migrations as "
            "the owner (DATABASE_MIGRATE_URL); `manage.py audit_grants` (README: production "
            "set-up).",
            id="audit.W003",
        )
        for problem in problems
    ]
