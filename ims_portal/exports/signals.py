"""What the export workflow tells the rest of the portal, without knowing who listens."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by `Export._write`, the one writer of an export row, inside the transaction of the
# write, after the row and its audit event are saved, and by `Export.record_polls` for each
# row of a batch of polls. Arguments: `export` (as written), `from_status` (its status
# before the write), `at` (the write's time) and, for a batch, `together`: one dict for all
# the batch's rows, where a receiver may keep what it does for them at once (under a key of
# its own). A receiver that writes rows writes them in the same transaction, so they exist
# exactly when the change does.
export_written = Signal()
