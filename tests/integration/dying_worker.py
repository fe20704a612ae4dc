"""The portal's Celery app, in a worker whose pool process kills itself at one chosen
instant: right after the export's row was saved and before the message for its next step
is sent, the window in which a SIGTERM to the whole process group or the OOM killer can
strike.

Run as `celery -A tests.integration.dying_worker worker`. For each file `<pk>-<n>` in the
folder named by DIE_BEFORE_SENDING, the pool process that is about to send export <pk>'s
n-th next step (counted across the worker's processes: the first poll, sent by the submit,
is step 1) deletes the file and dies by SIGKILL instead; for a file `<pk>-ended`, the one
about to send the first step after the export ended (the check of its object). Nothing
else changes.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from celery import signals

from ims_portal.celery import app

__all__ = ["app"]

FOLDER = Path(os.environ["DIE_BEFORE_SENDING"])


@signals.worker_process_init.connect
def wrap_next_step(**kwargs: Any) -> None:
    """In each pool process (Django is set up by now), wrap the sender of the next step."""
    from ims_portal.exports import tasks

    send = tasks.send_next_step

    def send_or_die(export: Any) -> str | None:
        counter = FOLDER / f"sent-{export.pk}"
        with counter.open("a") as steps:  # one byte per step, shared by every process
            steps.write(".")
        marker = FOLDER / f"{export.pk}-{counter.stat().st_size}"
        if not marker.exists() and export.is_terminal:
            marker = FOLDER / f"{export.pk}-ended"
        if marker.exists():
            marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)
        return send(export)

    tasks.send_next_step = send_or_die
