"""What a write of an export means for its owner's notifications, and how an event reads.

`events_of` decides which events one write raises; `payload` is the event as the webhook
body carries it (schema version `PAYLOAD_VERSION`, documented in docs/notifications.md) and
as the mail is written from.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from ims_portal.exports.models import Export, Status, Verification
from ims_portal.exports.workflow import is_stalled
from ims_portal.notifications.models import EVENT_OF_STATUS, Event

PAYLOAD_VERSION = 1


def events_of(export: Export, from_status: Status, at: datetime) -> list[tuple[Event, str]]:
    """The events one write of `export` raises, each with its de-duplication key.

    - A move into an end the user did not bring about (`EVENT_OF_STATUS`) is that event,
      told once.
    - A followed export is *stalled* when its job has shown no change for
      EXPORT_STALLED_AFTER seconds (`workflow.is_stalled`, the rule the export page shows):
      every poll writes the row, so the first poll past that mark raises it. It is told
      once per quiet spell, keyed by the spell's start (`last_change_at`); a change ends the
      spell, and a later stall is a new one.
    - A succeeded export whose object check ends in `not_found` (OBS does not show the file,
      check after check) is *verification failed*. That state is final, and the outbox's
      de-duplication tells it once whatever writes follow.
    """
    status = Status(export.status)
    if status != from_status and status in EVENT_OF_STATUS:
        return [(EVENT_OF_STATUS[status], "")]
    if export.proof == Verification.NOT_FOUND:
        return [(Event.VERIFICATION_FAILED, "")]
    if is_stalled(export, at) and export.last_change_at is not None:
        return [(Event.STALLED, export.last_change_at.isoformat())]
    return []


def export_url(export: Export) -> str:
    """The export's page as an absolute address, for mail and webhooks (PORTAL_URL)."""
    return absolute(export.get_absolute_url())


def absolute(path: str) -> str:
    base: str = settings.PORTAL_URL
    return base.rstrip("/") + path if base else path


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def export_facts(export: Export) -> dict[str, Any]:
    """The export as version 1 of the payload describes it."""
    error = (
        {
            "code": export.error_code,
            "message": export.error_message,
            "remedy": export.error_remedy,
            "cloud_request_id": export.cloud_request_id,
        }
        if export.error_code or export.error_message
        else None
    )
    return {
        "id": export.pk,
        "url": export_url(export),
        "status": export.status,
        "owner": export.owner.get_username(),
        "image": {"id": export.image_id, "name": export.image_name, "size": export.image_size},
        "bucket": export.bucket,
        "object": export.object_name,
        "destination": export.destination,
        "format": export.written_format,
        "fast_export": export.quick,
        "job_id": export.job_id or None,
        "progress": export.progress,
        "error": error,
        "verification": {"state": export.proof.value, "note": export.verification_note}
        if export.proof.value
        else None,
        "created_at": _time(export.created_at),
        "finished_at": _time(export.finished_at),
        "last_change_at": _time(export.last_change_at),
    }


def payload(
    event: Event, export: Export | None, *, uid: uuid.UUID, at: datetime | None = None
) -> dict[str, Any]:
    """The event as sent: the same for every attempt (the timestamp header is per attempt)."""
    return {
        "version": PAYLOAD_VERSION,
        "id": str(uid),
        "type": event.value,
        "occurred_at": _time(at or timezone.now()),
        "test": event == Event.TEST,
        "export": export_facts(export) if export is not None else None,
    }
