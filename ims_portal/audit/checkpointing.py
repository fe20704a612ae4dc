"""Writing the trail's signed checkpoints: on beat's schedule (`tasks.write_checkpoint`,
every AUDIT_CHECKPOINT_EVERY seconds, also when nothing happened) and on demand
(`manage.py audit_checkpoint`).

Each checkpoint records the trail's size and head as one consistent cut: both come from one
SQL statement, and events commit in chain order (trail.py's writer lock), so the newest
event counted is the one at position `size`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Count, Max
from django.utils import timezone

from ims_portal.audit import checkpoint_sinks, checkpoints, keys
from ims_portal.audit.chain import GENESIS
from ims_portal.audit.models import AuditEvent

log = logging.getLogger(__name__)


def sink() -> checkpoint_sinks.FileSink:
    """The checkpoint file the settings name."""
    return checkpoint_sinks.FileSink(
        settings.AUDIT_CHECKPOINT_PATH, settings.AUDIT_CHECKPOINT_ROTATE_BYTES
    )


def trail_head() -> tuple[int, int | None, str]:
    """The trail's size, and its newest event's id and hash, from one snapshot."""
    cut = AuditEvent.objects.aggregate(size=Count("id"), head_id=Max("id"))
    head_id = cut["head_id"]
    if head_id is None:
        return 0, None, GENESIS
    head_hash = AuditEvent.objects.filter(pk=head_id).values_list("hash", flat=True).get()
    return int(cut["size"]), int(head_id), head_hash


def write_checkpoint() -> checkpoints.Checkpoint:
    """Sign the trail's current size and head, chained to the previous checkpoint, and append
    it to the file (and send it to the syslog collector, when one is set)."""
    key = keys.private_key()
    target = sink()
    with target.locked():
        previous = target.last()
        size, head_id, head_hash = trail_head()
        checkpoint = checkpoints.make(
            key,
            previous,
            size=size,
            head_id=head_id,
            head_hash=head_hash,
            at=timezone.now(),
            every=settings.AUDIT_CHECKPOINT_EVERY,
        )
        target.append(checkpoint)
    if settings.AUDIT_CHECKPOINT_SYSLOG:
        try:
            checkpoint_sinks.send_syslog(settings.AUDIT_CHECKPOINT_SYSLOG, checkpoint)
        except OSError as error:
            # The file holds it; a collector that is down must not stop the checkpoints.
            log.error(
                "audit checkpoint %s not sent to syslog at %s: %s",
                checkpoint.seq,
                settings.AUDIT_CHECKPOINT_SYSLOG,
                error,
            )
    log.info("audit %s written to %s", checkpoint, target.path)
    return checkpoint
