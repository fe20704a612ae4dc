"""What the export workflow tells the rest of the portal, without knowing who listens."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by `Export._write`, the one writer of an export row, inside the transaction of the
# write, after the row and its audit event are saved. Arguments: `export` (as written),
# `from_status` (its status before the write) and `at` (the write's time). A receiver that
# writes rows writes them in the same transaction, so they exist exactly when the change does.
export_written = Signal()
