"""The proof of a succeeded export: what OBS says of the object IMS reported written.

When a job succeeds, `tasks.verify_export` reads the object's metadata (`HEAD` on it) and
`record` decides what the answer means, on the rules of `models.VERIFICATION_TABLE`:

- an object with bytes in it: `verified`, with its size, ETag and last-modified time as
  evidence (on the export and in its `export.verified` audit event);
- no object, or an empty one: OBS may not show a fresh object at once, so it is checked
  again, EXPORT_VERIFY_DELAY seconds later and doubling, EXPORT_VERIFY_TRIES times in all,
  before the export is marked `not_found` ("succeeded — object not found");
- no answer (OBS unreachable, refusing, not configured): `not_verified`, checked again every
  EXPORT_VERIFY_RETRY_AFTER seconds, EXPORT_VERIFY_UNREACHABLE_TRIES times.

The status stays `succeeded` throughout: IMS said the job succeeded, and the page shows
both that and what the portal could see.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ims_portal.cloud import CloudError, ConfigurationError, ObjectInfo
from ims_portal.exports.cloud_access import describe_obs_error
from ims_portal.exports.models import Export, Verification


def start(now: datetime | None = None) -> dict[str, Any]:
    """The fields a move to `succeeded` saves with it: the first check is due at once."""
    return {"verification": Verification.PENDING, "verify_due_at": now or timezone.now()}


def record(
    export: Export,
    found: ObjectInfo | CloudError | ConfigurationError | None,
    now: datetime | None = None,
) -> None:
    """Record what one check of the export's object found (`found`: the object's metadata,
    None for no object, or the error that kept OBS from saying), and when the next check is
    due, if any. Raises `TransitionConflict` if another check wrote first."""
    now = now or timezone.now()
    if isinstance(found, CloudError | ConfigurationError):
        unreachable = export.verify_unreachable + 1
        again = unreachable < settings.EXPORT_VERIFY_UNREACHABLE_TRIES
        export.record_check(
            Verification.NOT_VERIFIED,
            verify_unreachable=unreachable,
            verified_at=now,
            verify_due_at=now + timedelta(seconds=settings.EXPORT_VERIFY_RETRY_AFTER)
            if again
            else None,
            verification_note=_note(describe_obs_error(found), again),
        )
        return
    if found is not None and found.size > 0:
        export.record_check(
            Verification.VERIFIED,
            verified_at=now,
            verify_due_at=None,
            object_size=found.size,
            object_etag=found.etag,
            object_last_modified=found.last_modified,
            verification_note="",
        )
        return
    misses = export.verify_misses + 1
    what = "The object is empty (0 bytes)" if found is not None else "No object in OBS"
    facts: dict[str, Any] = {"verify_misses": misses, "verified_at": now}
    if found is not None:
        facts |= {
            "object_size": found.size,
            "object_etag": found.etag,
            "object_last_modified": found.last_modified,
        }
    if misses < settings.EXPORT_VERIFY_TRIES:
        delay = settings.EXPORT_VERIFY_DELAY * 2 ** (misses - 1)
        export.record_check(
            Verification.PENDING,
            verify_due_at=now + timedelta(seconds=delay),
            verification_note=f"{what} yet; checking again ({misses} of "
            f"{settings.EXPORT_VERIFY_TRIES} checks so far).",
            **facts,
        )
        return
    export.record_check(
        Verification.NOT_FOUND,
        verify_due_at=None,
        verification_note=f"{what} after {misses} checks over {_spent(misses)}.",
        **facts,
    )


def _note(reason: str, again: bool) -> str:
    later = "the portal checks again later" if again else "the portal has stopped checking"
    return f"{reason}; {later}."[:255]


def _spent(misses: int) -> str:
    seconds = sum(settings.EXPORT_VERIFY_DELAY * 2**n for n in range(misses - 1))
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
