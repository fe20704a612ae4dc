"""Writing the trail's signed checkpoints: on beat's schedule (`tasks.write_checkpoint`,
every AUDIT_CHECKPOINT_EVERY seconds, also when nothing happened) and on demand
(`manage.py audit_checkpoint`).

Each checkpoint records the trail's size and head as one consistent cut: the online count,
head and oldest row come from one SQL statement, and events commit in chain order
(trail.py's writer lock), so the newest event counted is the one at position `size`. The
size is a chain position, not a row count: it includes the events archived before the
oldest online row (`retention.py`), so a checkpoint means the same after an archive.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone

from ims_portal.audit import checkpoint_sinks, checkpoints, keys, retention
from ims_portal.audit.chain import GENESIS
from ims_portal.audit.models import AuditEvent

log = logging.getLogger(__name__)


def sink() -> checkpoint_sinks.FileSink:
    """The checkpoint file the settings name."""
    return checkpoint_sinks.FileSink(
        settings.AUDIT_CHECKPOINT_PATH, settings.AUDIT_CHECKPOINT_ROTATE_BYTES
    )


def trail_head() -> tuple[int, int | None, str]:
    """The trail's size (the chain position of its head), and its newest event's id and
    hash, from one snapshot. `retention.ArchiveError` when the oldest online row follows
    neither the chain's start nor a recorded archive."""
    for _attempt in range(retention.READ_ATTEMPTS):
        cut = AuditEvent.objects.aggregate(size=Count("id"), head_id=Max("id"), first=Min("id"))
        head_id = cut["head_id"]
        if head_id is None:
            return retention.online_base().position, None, GENESIS
        ends = AuditEvent.objects.filter(pk__in=[cut["first"], head_id])
        rows = {
            pk: (prev_hash, event_hash)
            for pk, prev_hash, event_hash in ends.values_list("pk", "prev_hash", "hash")
        }
        if len(rows) == len({cut["first"], head_id}):
            try:
                base = retention.base_of(
                    (cut["first"], rows[cut["first"]][0]), retention.recorded_archives()
                )
            except retention.ArchiveError:
                if AuditEvent.objects.filter(pk=cut["first"]).exists():
                    raise
            else:
                return base.position + int(cut["size"]), int(head_id), rows[head_id][1]
        # An archive removed rows since the count: count again.
    raise retention.ArchiveError("the trail kept changing under an archive: try again")


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
