"""`manage.py audit_checkpoint`: write one signed checkpoint of the audit trail now.

Beat writes one every AUDIT_CHECKPOINT_EVERY seconds; this is the same, on demand (before
an audit, after a deployment, from cron where there is no beat).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ims_portal.audit import checkpointing, keys, retention


class Command(BaseCommand):
    help = "Write one signed checkpoint of the audit trail (size, head, time) now."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            checkpoint = checkpointing.write_checkpoint()
        except (keys.NoSigningKey, retention.ArchiveError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"Wrote {checkpoint}: head event #{checkpoint.document['head_id']}, "
            f"hash {checkpoint.head_hash}, to {checkpointing.sink().path}"
        )
