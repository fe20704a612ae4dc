"""The portal's Celery app, in a worker whose pool process kills itself at one chosen
instant of a poll round: right after the round's claim committed, or right after one of its
polls was saved, with the rest of the claim still leased and the round's successor not yet
sent — the windows in which a SIGTERM to the whole process group or the OOM killer can
strike.

Run as `celery -A tests.integration.dying_worker worker`. In the folder named by
DIE_BEFORE_SENDING, for a file `claimed-<pk>` the pool process whose claim first takes
export <pk> deletes the file and dies by SIGKILL before polling anything; for `<pk>-<n>`,
the one that has just saved export <pk>'s n-th poll or object check (counted across the
worker's processes) does; for `<pk>-ended`, the one that has just saved the poll that
ended the export (its object check is then due on the row). Nothing else changes.
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


def _die_if_marked(marker: Path) -> None:
    if marker.exists():
        marker.unlink()
        os.kill(os.getpid(), signal.SIGKILL)


@signals.worker_process_init.connect
def wrap_the_poll_round(**kwargs: Any) -> None:
    """In each pool process (Django is set up by now), wrap the claim and the steps."""
    from ims_portal.exports import poller

    claim_due, follow, check = poller.claim_due, poller.follow, poller.check

    def claim_or_die(*args: Any, **options: Any) -> poller.Claim:
        claim = claim_due(*args, **options)
        for export in [*claim.polls, *claim.checks]:
            _die_if_marked(FOLDER / f"claimed-{export.pk}")
        return claim

    def counted(step: Any) -> Any:
        def step_or_die(export: Any, *rest: Any) -> None:
            try:
                step(export, *rest)
            finally:
                counter = FOLDER / f"steps-{export.pk}"
                with counter.open("a") as steps:  # one byte per step, shared by every process
                    steps.write(".")
                marker = FOLDER / f"{export.pk}-{counter.stat().st_size}"
                if not marker.exists() and export.is_terminal and step is follow:
                    marker = FOLDER / f"{export.pk}-ended"
                _die_if_marked(marker)

        return step_or_die

    poller.claim_due = claim_or_die
    poller.follow = counted(follow)
    poller.check = counted(check)
