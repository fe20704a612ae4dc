"""Celery tasks that carry an export through the cloud.

Tasks take an export id, never an object, and are safe to run twice: each one starts with
a compare-and-swap on the row, so a duplicate delivery finds nothing left to do.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ims_portal.audit import context
from ims_portal.cloud import Client, CloudError, ConfigurationError, ObjectInfo
from ims_portal.cloud.transport import DEFAULT_TIMEOUT
from ims_portal.exports import preflight, verification, workflow
from ims_portal.exports.cloud_access import get_client
from ims_portal.exports.models import Export, Status, TransitionConflict, Verification
from ims_portal.monitoring import metrics

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


# Both tasks are safe to run twice (each begins with a compare-and-swap on the row), so a
# message whose worker process died under it is handed out again rather than dropped:
# acks_late keeps it unacknowledged while the task runs, and reject_on_worker_lost puts it
# back on the queue when the process is killed (kill -9, the OOM killer, a SIGTERM to the
# whole process group). A submit redelivered after its POST may have left finds the row
# `submitting` and does nothing; the reconciler hands it to a person as `unknown`. A
# message that itself kills its worker would come back each time; neither task holds
# anything large enough for that.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def submit_export(self: Task[Any, None], export_id: int) -> None:
    """Send the export POST for a queued export, exactly once."""
    export = Export.objects.filter(pk=export_id).first()
    if export is None:
        return
    if export.status != Status.QUEUED:
        _resend_next_step_if_redelivered(self, export.pk)
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
        return
    send_next_step(export)


def _redelivered(task: Task[Any, Any]) -> bool:
    """Whether this message came back to the queue (its worker died, or shut down, under it)."""
    return bool((task.request.delivery_info or {}).get("redelivered"))


def send_next_step(export: Export) -> str | None:
    """Send the message that the row names as the export's next step: its next poll, or the
    next check of its object. Return which, or None when nothing is due."""
    if export.status in Status.FOLLOWED and export.next_poll_at is not None:
        schedule_poll(export.pk, export.next_poll_at)
        return "poll"
    if export.is_being_verified and export.verify_due_at is not None:
        schedule_verify(export.pk, export.verify_due_at)
        return "object check"
    return None


def _resend_next_step_if_redelivered(task: Task[Any, Any], export_id: int) -> None:
    """For a message that found its export moved on: if it was handed out again, send the
    export's next step again.

    The process that ran it first may have died between saving the row and sending that
    step (a SIGTERM to the whole process group, the OOM killer), and with the reconciler
    not running nothing else would send it. If it was sent, the two messages name the same
    step: the first to run writes, the other finds the row moved on and does nothing.
    """
    if not _redelivered(task):
        return
    export = Export.objects.filter(pk=export_id).first()
    if export is not None and (step := send_next_step(export)):
        log.info("export %s: redelivered %s: sent its next %s again", export_id, task.name, step)


def schedule_poll(export_id: int, due: datetime) -> None:
    """Send the poll due at `due`, named by that time (see `poll_export`)."""
    countdown = max(0.0, (due - timezone.now()).total_seconds())
    poll_export.apply_async((export_id, due.isoformat()), countdown=countdown)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def poll_export(self: Task[Any, None], export_id: int, due: str) -> None:
    """Ask the cloud about the export's job, record it, and poll again unless it ended.

    `due` names the poll this message was scheduled as. Only the poll matching the row's
    `next_poll_at` runs, and only it may write (`Export.record_poll`), so a poll re-sent by
    the reconciler and a late original never both keep a chain going.
    """
    due_at = datetime.fromisoformat(due)
    export = Export.objects.followed().filter(pk=export_id, next_poll_at=due_at).first()
    if export is None:
        _resend_next_step_if_redelivered(self, export_id)
        return
    metrics.POLL_LATENESS.observe(max(0.0, (timezone.now() - due_at).total_seconds()))
    try:
        _follow(export)
    except TransitionConflict:
        return  # another poll, the reconciler or a person wrote first
    if export.is_terminal:
        log.info("export %s: %s", export.pk, export.status)
    # Every write of a followed export names its next poll; should one ever not, the
    # reconciler re-arms it.
    send_next_step(export)


def _follow(export: Export) -> None:
    """Ask the cloud about the export's job once and record the answer, or its absence."""
    try:
        job = get_client().get_job(export.job_id)
    except CloudError as error:
        if error.retryable:
            log.warning("export %s: polling failed, will retry: %s", export.pk, error)
            workflow.poll_again(export)
        else:
            log.error("export %s: job %s cannot be read: %s", export.pk, export.job_id, error)
            workflow.record_poll_refusal(export, error)
        return
    workflow.apply_job(export, job)


def schedule_verify(export_id: int, due: datetime) -> None:
    """Send the check of the exported object due at `due`, named by that time."""
    countdown = max(0.0, (due - timezone.now()).total_seconds())
    verify_export.apply_async((export_id, due.isoformat()), countdown=countdown)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def verify_export(self: Task[Any, None], export_id: int, due: str) -> None:
    """Read the metadata of a succeeded export's object in OBS and record it as evidence
    (`verification.record`), checking again later where that is due.

    Like a poll, only the check matching the row's `verify_due_at` runs and writes.
    """
    export = Export.objects.filter(
        pk=export_id,
        status=Status.SUCCEEDED,
        verification__in=Verification.CHECKING,
        verify_due_at=datetime.fromisoformat(due),
    ).first()
    if export is None:
        _resend_next_step_if_redelivered(self, export_id)
        return
    found: ObjectInfo | CloudError | ConfigurationError | None
    try:
        found = get_client().object_info(export.bucket, export.object_name)
    except (CloudError, ConfigurationError) as error:
        log.warning("export %s: the object could not be checked: %s", export.pk, error)
        found = error
    try:
        verification.record(export, found)
    except TransitionConflict:
        return  # another check wrote first
    log.info("export %s: object %s: %s", export.pk, export.bucket_url, export.verification)
    send_next_step(export)


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
    """How late a poll, and a retried submit, may be before the reconciler steps in.

    Each is longer than the wait a live message may still be sitting out (one poll interval
    at most, with its jitter; one submit back-off), and one more poll interval for a busy
    worker to come round to it. Stepping in early costs a duplicate message and nothing else:
    each task is a compare-and-swap.
    """
    poll = workflow.longest_poll_wait()
    return timedelta(seconds=2 * poll), timedelta(seconds=workflow.longest_submit_wait() + poll)


@shared_task
def reconcile_exports() -> dict[str, int]:
    """Put exports whose next step went missing back on track (run by Celery beat).

    A lost message, a broker restart or a dead worker can leave an export waiting for a
    task that will never come. Queued ones are sent again (no POST has left for them);
    followed ones get a fresh poll; one stuck in `submitting` may have reached the cloud,
    so it becomes `unknown` for a person to check, never a second POST; a succeeded one
    whose object check went missing gets a fresh check.
    """
    now = timezone.now()
    counts = {"resubmitted": 0, "repolled": 0, "reverified": 0, Status.UNKNOWN.value: 0}
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

    overdue = Q(next_poll_at__lt=now - grace) | Q(next_poll_at__isnull=True)
    for export in Export.objects.followed().filter(overdue):
        # suppress: its poll came back meanwhile
        with contextlib.suppress(TransitionConflict), context.continuing(export.request_id()):
            export.rearm_poll(now)
            schedule_poll(export.pk, now)
            counts["repolled"] += 1

    # A check of an exported object whose message went missing.
    checking = Export.objects.filter(
        status=Status.SUCCEEDED,
        verification__in=Verification.CHECKING,
        verify_due_at__lt=now - grace,
    )
    for export in checking:
        with contextlib.suppress(TransitionConflict), context.continuing(export.request_id()):
            export.rearm_check(now)
            schedule_verify(export.pk, now)
            counts["reverified"] += 1
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
