"""The audit trail's scheduled work: a signed checkpoint every AUDIT_CHECKPOINT_EVERY seconds
(settings' CELERY_BEAT_SCHEDULE entry `audit-checkpoint`)."""

from __future__ import annotations

from celery import shared_task

from ims_portal.audit import checkpointing


# Never retried or queued up: a late checkpoint is worth nothing once the next one is due,
# and beat sends the next one anyway.
@shared_task(name="ims_portal.audit.tasks.write_checkpoint", ignore_result=True, expires=60)
def write_checkpoint() -> int:
    """Write one checkpoint of the trail as it is now; returns its sequence number."""
    return checkpointing.write_checkpoint().seq
