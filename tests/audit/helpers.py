"""Small helpers of the audit tests."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import CommandError, call_command

from ims_portal.audit import keys, signing
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


def download_to(client: Any, path: Path, fmt: str = "csv", **query: str) -> Path:
    """Export the trail through the auditor's page into `path` (byte for byte)."""
    response = client.get(f"/audit/export.{fmt}", query)
    assert response.status_code == 200, response.content
    path.write_bytes(b"".join(response.streaming_content))
    return path


def public_key_file(folder: Path) -> Path:
    """The portal's public key as an auditor is handed it: a PEM file, nothing more."""
    path = folder / "audit-public.pem"
    path.write_text(signing.public_pem(keys.public_key()))
    return path
