"""Celery tasks that carry an export through the cloud.

Tasks take an export id, never an object, and are safe to run twice: each one starts with
a compare-and-swap on the row, so a duplicate delivery finds nothing left to do.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ims_portal.cloud import CloudError, ConfigurationError, ObjectInfo
from ims_portal.exports import preflight, verification, workflow
from ims_portal.exports.cloud_access import get_client
from ims_portal.exports.models import Export, Status, TransitionConflict, Verification

log = logging.getLogger(__name__)


def enqueue_submit(export: Export) -> None:
    """Send `submit_export` once the row that it reads has been committed."""
    transaction.on_commit(lambda: submit_export.delay(export.pk))


# acks_late: if the worker dies before the POST, the redelivered message submits; if it
# dies after `submitting` was saved, the redelivery finds the row claimed and does nothing,
# and the reconciler hands the export to a person as `unknown`.
@shared_task(acks_late=True)
def submit_export(export_id: int) -> None:
    """Send the export POST for a queued export, exactly once."""
    export = Export.objects.filter(pk=export_id).first()
    if export is None or export.status != Status.QUEUED:
        return
    try:
        export.transition(Status.SUBMITTING, submit_attempts=export.submit_attempts + 1)
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
    schedule_poll(export.pk, due)


def schedule_poll(export_id: int, due: datetime) -> None:
    """Send the poll due at `due`, named by that time (see `poll_export`)."""
    countdown = max(0.0, (due - timezone.now()).total_seconds())
    poll_export.apply_async((export_id, due.isoformat()), countdown=countdown)


@shared_task(acks_late=True)
def poll_export(export_id: int, due: str) -> None:
    """Ask the cloud about the export's job, record it, and poll again unless it ended.

    `due` names the poll this message was scheduled as. Only the poll matching the row's
    `next_poll_at` runs, and only it may write (`Export.record_poll`), so a poll re-sent by
    the reconciler and a late original never both keep a chain going.
    """
    due_at = datetime.fromisoformat(due)
    export = Export.objects.followed().filter(pk=export_id, next_poll_at=due_at).first()
    if export is None:
        return
    try:
        _follow(export)
    except TransitionConflict:
        return  # another poll, the reconciler or a person wrote first
    if export.is_terminal:
        log.info("export %s: %s", export.pk, export.status)
        if export.is_being_verified and export.verify_due_at is not None:
            schedule_verify(export.pk, export.verify_due_at)
        return
    # Every write of a followed export names its next poll; should one ever not, the
    # reconciler re-arms it.
    if export.next_poll_at is not None:
        schedule_poll(export.pk, export.next_poll_at)


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


@shared_task(acks_late=True)
def verify_export(export_id: int, due: str) -> None:
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
    if export.is_being_verified and export.verify_due_at is not None:
        schedule_verify(export.pk, export.verify_due_at)


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
    # Longer than any back-off a live task may still be waiting out.
    grace = timedelta(seconds=max(2 * settings.EXPORT_POLL_MAX, 60.0))

    for export in Export.objects.filter(status=Status.QUEUED, updated_at__lt=now - grace):
        submit_export.delay(export.pk)
        counts["resubmitted"] += 1

    stuck_since = now - timedelta(seconds=settings.EXPORT_SUBMITTING_TIMEOUT)
    for export in Export.objects.filter(status=Status.SUBMITTING, submitting_at__lt=stuck_since):
        try:
            export.transition(
                Status.UNKNOWN,
                error_message="The portal stopped while submitting; the cloud may or may not "
                "have started the export.",
            )
            counts[Status.UNKNOWN.value] += 1
        except TransitionConflict:
            pass

    overdue = Q(next_poll_at__lt=now - grace) | Q(next_poll_at__isnull=True)
    for export in Export.objects.followed().filter(overdue):
        with contextlib.suppress(TransitionConflict):  # its poll came back meanwhile
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
        with contextlib.suppress(TransitionConflict):
            export.rearm_check(now)
            schedule_verify(export.pk, now)
            counts["reverified"] += 1
    if any(counts.values()):
        log.info("reconcile: %s", counts)
    return counts
