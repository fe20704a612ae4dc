"""An export's evidence pack: one signed JSON document an auditor takes away and checks
offline with the audit public key (`python -m ims_portal.audit.verify_offline --evidence`).

It holds who asked (and their roles at the time), what they asked for, every status change
with its time and what the cloud answered (job id, error codes, the cloud's request id, all
in the events' details), the export's own times, and every audit event of the export as the
trail holds it, with its chain position, plus the newest checkpoint that covers them. The
portal does not verify exported objects yet: the pack says so rather than leave it out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ims_portal.audit import checkpointing, exporting, keys, retention, signing
from ims_portal.audit.chain import canonical_time
from ims_portal.audit.checkpoints import CheckpointError
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.verify_offline import EVIDENCE_FORMAT
from ims_portal.exports.models import VERIFICATION_FACTS, Export

FORMAT = EVIDENCE_FORMAT
TIMES = (
    "created_at",
    "submitting_at",
    "submitted_at",
    "running_at",
    "finished_at",
    "job_begin_time",
    "job_end_time",
)


def pack(export: Export, made_by: str) -> dict[str, Any]:
    """The signed evidence pack of `export`, as of now. `keys.NoSigningKey` without a key."""
    key = keys.private_key()
    events = _events(export)
    requested = next((e for e in events if e["action"] == Action.EXPORT_REQUESTED), None)
    owner = export.owner
    document = {
        "evidence": FORMAT,
        "made_at": canonical_time(timezone.now()),
        "made_by": made_by,
        "export": {
            "id": export.pk,
            "image_id": export.image_id,
            "image_name": export.image_name,
            "image_size": export.image_size,
            "bucket": export.bucket,
            "object_name": export.object_name,
            "destination": export.destination,
            "file_format": export.file_format,
            "fast_export": export.quick,
            "retry_of": export.retry_of_id,
            "status": export.status,
            "job_id": export.job_id,
            "cloud_request_id": export.cloud_request_id,
            "error_code": export.error_code,
            "error_message": export.error_message,
            "submit_attempts": export.submit_attempts,
        },
        "requester": {
            "username": owner.get_username(),
            "email": owner.email,
            "roles_then": requested["actor_roles"] if requested else "",
        },
        "times": {name: _time(getattr(export, name)) for name in TIMES},
        "status_changes": [
            {
                "at": event["at"],
                "action": event["action"],
                "outcome": event["outcome"],
                "details": event["details"],
            }
            for event in events
            if event["action"].startswith("export.")
        ],
        "object_verification": _verification(export),
        "events": events,
        "covering_checkpoint": _covering_checkpoint(events),
    }
    return signing.signed(key, document)


def _verification(export: Export) -> dict[str, Any]:
    """What the portal found of the exported object in OBS: its state and the facts that
    state records in the trail (the same names as the `export.verified` event's details)."""
    facts: dict[str, Any] = {"state": export.proof.value, "label": export.proof.label}
    if export.proof.rule.action is None:
        return facts  # not checked (yet): there are no findings to state
    for name in VERIFICATION_FACTS:
        value = getattr(export, name)
        if isinstance(value, datetime):
            value = _time(value)
        if value not in (None, ""):
            facts[name] = value
    return facts


def _events(export: Export) -> list[dict[str, Any]]:
    """The export's audit events as exported rows, each with its chain position (an export
    has a handful of events: one count each)."""
    base = retention.online_base()
    rows = (
        AuditEvent.objects.for_target("export", export.pk)
        .order_by("id")
        .values_list(*exporting.COLUMNS)
    )
    return [
        {
            **exporting.exported_row(row),
            "position": retention.chain_position(row[0], base),
        }
        for row in rows
    ]


def _covering_checkpoint(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest checkpoint this process can read, if it covers the export's last status
    change (later events, such as this pack's own download, wait for the next one)."""
    changes = [event for event in events if event["action"].startswith("export.")]
    if not changes:
        return None
    try:
        newest = checkpointing.sink().last()
    except (OSError, CheckpointError):
        return None
    if newest is None or newest.size < changes[-1]["position"]:
        return None
    return newest.document


def _time(moment: datetime | None) -> str | None:
    return canonical_time(moment) if moment else None
