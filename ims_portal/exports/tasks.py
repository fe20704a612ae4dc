"""Celery tasks that carry an export through the cloud.

`submit_export` sends one export's POST; `poll_due_exports` follows every export in flight
in batches (`poller.py` tells how); beat's sweeps put back on track what a lost message
or a dead worker left behind. Tasks are safe to run twice: each one starts with a
compare-and-swap, so a duplicate delivery finds nothing left to do.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

from celery import Task, shared_task, signals
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ims_portal.audit import context
from ims_portal.cloud import Client, CloudError, ConfigurationError
from ims_portal.cloud.transport import DEFAULT_TIMEOUT
from ims_portal.exports import poller, preflight, workflow
from ims_portal.exports.cloud_access import get_client
from ims_portal.exports.models import Export, Status, TransitionConflict

log = logging.getLogger(__name__)


# How much longer than the client's own limits a submit may take before the reconciler
# concludes that no live worker is still sending it: the database writes around the POST.
SUBMITTING_MARGIN = 30.0


def enqueue_submit(export: Export) -> None:
    """Send `submit_export` once the row that it reads has been committed.

    Should the broker be down, the export stays saved and `queued`, marked as waiting for
    the work queue; `send_waiting_exports` sends it once the broker is back. The request
    that saved it is answered as usual either way.
    """
    transaction.on_commit(lambda: _send_submit(export))


def _send_submit(export: Export) -> bool:
    """Hand `submit_export` of a queued export to the broker; False if the broker is down."""
    try:
        submit_export.delay(export.pk)
    except Exception as error:  # kombu's OperationalError, or any other way a publish fails
        log.warning(
            "export %s: the work queue is unreachable (%s); it is sent once it is back",
            export.pk,
            error,
        )
        with contextlib.suppress(TransitionConflict):
            export.note_queue(reached=False)
        return False
    return True


# Both tasks are safe to run twice (each begins with a compare-and-swap: on the export's
# row, or on its poll chain's slot), so a message whose worker process died under it is
# handed out again rather than dropped: acks_late keeps it unacknowledged while the task
# runs, and reject_on_worker_lost puts it back on the queue when the process is killed
# (kill -9, the OOM killer, a SIGTERM to the whole process group). A submit redelivered
# after its POST may have left finds the row `submitting` and does nothing; the reconciler
# hands it to a person as `unknown`. A message that itself kills its worker would come back
# each time; neither task holds anything large enough for that.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def submit_export(self: Task[Any, None], export_id: int) -> None:
    """Send the export POST for a queued export, exactly once."""
    export = Export.objects.filter(pk=export_id).first()
    if export is None:
        return
    if export.status != Status.QUEUED:
        return
    try:
        export.transition(
            Status.SUBMITTING,
            submit_attempts=export.submit_attempts + 1,
            waiting_for_queue_since=None,
        )
    except TransitionConflict:
        return  # another delivery claimed it
    log.info("export %s: submitting %s to %s", export.pk, export.image_id, export.bucket_url)
    try:
        client = get_client()
    except ConfigurationError as error:
        log.error("export %s: the cloud settings are incomplete: %s", export.pk, error)
        export.transition(
            Status.FAILED,
            error_message=f"The portal's cloud settings are incomplete ({error}). "
            "Nothing was sent to the cloud; ask an operator.",
        )
        return
    try:
        job_id = client.export_image(
            export.image_id,
            export.bucket_url,
            file_format=export.file_format or None,
            quick=export.quick,
        )
    except CloudError as error:
        log.warning("export %s: submit failed: %s", export.pk, error)
        # IMS's refusal of the bucket or the object can only guess which rule it was; OBS,
        # asked now, usually shows the one.
        causes = [] if error.retryable else preflight.refusal_causes(export, error.code)
        try:
            retry_in = workflow.record_submit_failure(export, error, causes)
        except TransitionConflict:
            log.warning(
                "export %s: no longer followed; its submit failure is not recorded", export.pk
            )
            return
        if retry_in is not None:
            submit_export.apply_async((export.pk,), countdown=retry_in)
        return
    except Exception as error:
        # A bug or an unforeseen failure after the POST may have left: never guess.
        log.exception("export %s: unexpected error while submitting", export.pk)
        export.transition(
            Status.UNKNOWN,
            error_message=f"The portal failed while submitting ({type(error).__name__}).",
        )
        return
    # Logged before it is saved: should the save fail, a person still finds the job.
    log.info("export %s: submitted as job %s", export.pk, job_id)
    # Its first poll is the time saved with it: the poll chains take it once it is due.
    due = timezone.now() + timedelta(seconds=workflow.poll_delay(0))
    try:
        export.transition(
            Status.SUBMITTED, job_id=job_id, next_poll_at=due, error_code="", error_message=""
        )
    except TransitionConflict:
        # Its owner stopped following it while the POST was out: the job runs unfollowed.
        log.warning(
            "export %s: job %s was accepted after it stopped being followed", export.pk, job_id
        )


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def poll_due_exports(self: Task[Any, None], chain: int, predecessor: str = "") -> None:
    """One round of poll chain `chain`: claim the due polls and object checks, do them,
    and send the chain's next round (see `poller`, whose docstring tells the whole design).

    `predecessor` is the id of the round that sent this one; blank for a starter, which
    takes only a slot no live chain holds. Redelivered after its worker died, a round
    takes its slot again and makes the rows it had claimed due at once.
    """
    me = str(self.request.id)
    wait = poller.run_round(chain, me, predecessor)
    if wait is not None:
        poll_due_exports.apply_async((chain, me), countdown=wait)


def start_poll_chains(countdown: float = 0.0) -> None:
    """Send a starter for every poll chain; one whose chain is alive ends at once."""
    for chain in poller.chain_numbers():
        poll_due_exports.apply_async((chain,), countdown=countdown)


@signals.worker_ready.connect(dispatch_uid="exports-start-poll-chains")
def start_poll_chains_with_the_worker(**kwargs: Any) -> None:
    """A worker that starts (a first start, a restart after a crash) starts the poll chains
    that are not running: now, and once the hold of a chain that died with the worker it
    replaces has lapsed."""
    try:
        start_poll_chains()
        start_poll_chains(countdown=poller.HOLD)
    except Exception as error:  # the broker is down: the reconciler starts them later
        log.warning("the poll chains could not be started: %s", error)


def submitting_timeout() -> float:
    """Seconds after which an export still `submitting` has no live worker sending it.

    EXPORT_SUBMITTING_TIMEOUT if set; else the longest the cloud client can take over an
    export POST (`Client.longest_export_seconds`, from its timeouts) plus a margin. A
    worker that is still alive is done with the POST by then, one way or the other.
    """
    if settings.EXPORT_SUBMITTING_TIMEOUT is not None:
        return float(settings.EXPORT_SUBMITTING_TIMEOUT)
    try:
        longest = get_client().longest_export_seconds()
    except ConfigurationError:
        longest = Client.longest_export_seconds_with(DEFAULT_TIMEOUT, token=True)
    return longest + SUBMITTING_MARGIN


def reconcile_graces() -> tuple[timedelta, timedelta]:
    """How long a queued export, never tried and tried before, may wait for its submit
    before the reconciler sends it again.

    Each is longer than the wait a live message may still be sitting out (none for a first
    try; one submit back-off for a retry), and one poll interval more for a busy worker to
    come round to it. Stepping in early costs a duplicate message and nothing else: the
    submit is a compare-and-swap.
    """
    poll = workflow.longest_poll_wait()
    return timedelta(seconds=2 * poll), timedelta(seconds=workflow.longest_submit_wait() + poll)


@shared_task
def reconcile_exports() -> dict[str, int]:
    """Put exports whose next step went missing back on track (run by Celery beat).

    A lost message, a broker restart or a dead worker can leave an export waiting for a
    task that will never come. Queued ones are sent again (no POST has left for them); one
    stuck in `submitting` may have reached the cloud, so it becomes `unknown` for a person
    to check, never a second POST; a followed one that names no next poll gets one. Polls
    and object checks that are merely late need nothing: they are due rows, which the poll
    chains take, and the chains themselves are started again here should one have gone.
    """
    now = timezone.now()
    counts = {"resubmitted": 0, "repolled": 0, Status.UNKNOWN.value: 0}
    grace, retry_grace = reconcile_graces()

    # A queued export never tried has no back-off to wait out; a retried one may be
    # waiting out its back-off. Each repair is done under the export's own request id, so
    # the task it sends, the audit event it writes and its log lines stay on its one trail.
    lost = Q(submit_attempts=0, updated_at__lt=now - grace) | Q(updated_at__lt=now - retry_grace)
    for export in Export.objects.filter(lost, status=Status.QUEUED):
        with context.continuing(export.request_id()):
            if _send_submit(export):
                counts["resubmitted"] += 1

    stuck_since = now - timedelta(seconds=submitting_timeout())
    for export in Export.objects.filter(status=Status.SUBMITTING, submitting_at__lt=stuck_since):
        try:
            with context.continuing(export.request_id()):
                export.transition(
                    Status.UNKNOWN,
                    error_message="The portal stopped while submitting; the cloud may or may "
                    "not have started the export.",
                )
            counts[Status.UNKNOWN.value] += 1
        except TransitionConflict:
            pass

    for export in Export.objects.followed().filter(next_poll_at__isnull=True):
        # suppress: a poll named one meanwhile
        with contextlib.suppress(TransitionConflict), context.continuing(export.request_id()):
            export.rearm_poll(now)
            counts["repolled"] += 1

    start_poll_chains()
    if any(counts.values()):
        log.info("reconcile: %s", counts)
    return counts


@shared_task
def send_waiting_exports() -> int:
    """Send the exports saved while the broker was down (run by Celery beat every few
    seconds, so they leave within seconds of its return); return how many were sent.

    Resending one whose message did get through is harmless: the submit is a
    compare-and-swap on the row.
    """
    sent = 0
    for export in Export.objects.filter(
        status=Status.QUEUED, waiting_for_queue_since__isnull=False
    ):
        with context.continuing(export.request_id()):
            reached = _send_submit(export)
        if not reached:
            break  # still down: the next run tries again
        with contextlib.suppress(TransitionConflict):  # a worker claimed it meanwhile
            export.note_queue(reached=True)
        sent += 1
    if sent:
        log.info("sent %d export(s) that waited for the work queue", sent)
    return sent
