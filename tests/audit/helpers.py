"""Small helpers of the audit tests."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.core.management import CommandError, call_command

from ims_portal.audit.models import AuditEvent


def only(action: str, **filters: Any) -> AuditEvent:
    """The one event of `action` (matching `filters`); fails if there are none or several."""
    events = list(AuditEvent.objects.filter(action=action, **filters))
    assert len(events) == 1, f"expected one {action} event, found {events}"
    return events[0]


def verify(*args: str) -> tuple[bool, str]:
    """Run `verify_audit` in this process: did it pass, and what did it say."""
    out = StringIO()
    try:
        call_command("verify_audit", *args, stdout=out)
    except CommandError as error:  # `manage.py` exits 1 with this message
        return False, f"{out.getvalue()}{error}"
    return True, out.getvalue()
