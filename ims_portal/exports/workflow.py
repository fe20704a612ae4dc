"""What each cloud answer does to an export: the decisions behind the tasks.

The Celery tasks in `tasks.py` only load rows, call these, and schedule what comes next;
keeping the decisions here lets them be read (and tested) without a broker.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from ims_portal.cloud import CloudError, Job, Throttled
from ims_portal.cloud.catalogue import Explanation, Retry, explain
from ims_portal.cloud.models import JobStatus
from ims_portal.exports import verification
from ims_portal.exports.models import Export, Status

if TYPE_CHECKING:
    from ims_portal.exports.preflight import Finding

log = logging.getLogger(__name__)


def human_error(code: str, fallback: str) -> str:
    """The catalogue's message and remedy for an IMS code, or the cloud's own words."""
    if not code:
        return fallback
    explanation = explain(code)
    return f"{explanation.message} {explanation.remedy}".strip() or fallback


# An export of unknown outcome has one remedy, whatever the error: find out before acting.
CHECK_FIRST = (
    "Check in the OBS and IMS consoles whether the file exists or an export job of the image is"
    " running before exporting it again."
)


def failure_facts(
    explanation: Explanation,
    what: str,
    *,
    retry: Retry | None = None,
    remedy: str | None = None,
    request_id: str = "",
) -> dict[str, Any]:
    """What a failure records on the export, so its page can say what happened (`what`),
    whether sending it again can help, what to do, and the cloud's request id to quote."""
    return {
        "error_message": what,
        "error_remedy": explanation.remedy if remedy is None else remedy,
        "retry_advice": retry or explanation.retry,
        "cloud_request_id": request_id,
    }


def _explain(error: CloudError) -> Explanation:
    return explain(error.code, status=error.status)


POLL_JITTER = 0.1  # each poll delay is moved by up to this fraction either way
SUBMIT_RETRY_MAX = 60.0  # seconds: the cap of a submit's back-off, before its jitter
SUBMIT_RETRY_JITTER = 0.2


def poll_delay(poll_count: int) -> float:
    """Back-off between polls: start short, grow by a factor, cap, with a little jitter."""
    first: float = settings.EXPORT_POLL_FIRST
    factor: float = settings.EXPORT_POLL_FACTOR
    delay = min(first * factor ** max(poll_count, 0), float(settings.EXPORT_POLL_MAX))
    return delay * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)  # noqa: S311 - jitter, not security


def longest_poll_wait() -> float:
    """The longest a poll message waits before it runs (`poll_delay` at its cap)."""
    return float(settings.EXPORT_POLL_MAX) * (1 + POLL_JITTER)


def submit_retry_delay(attempt: int) -> float:
    return min(2.0**attempt, SUBMIT_RETRY_MAX) * random.uniform(  # noqa: S311
        1 - SUBMIT_RETRY_JITTER, 1 + SUBMIT_RETRY_JITTER
    )


def longest_submit_wait() -> float:
    """The longest a retried submit waits before it runs (`submit_retry_delay` at its cap)."""
    return SUBMIT_RETRY_MAX * (1 + SUBMIT_RETRY_JITTER)


def record_submit_failure(
    export: Export, error: CloudError, causes: Sequence[Finding] = ()
) -> float | None:
    """Decide what a failed export POST means; return a delay if it should be retried.

    - The cloud answered with a final refusal (4xx): `rejected`, with its code; where the
      pre-flight, run again, found what IMS refused (`causes`, see
      `preflight.refusal_causes`), its message names that cause and its remedy.
    - The outcome is unknown (timeout after sending, 500/502/504): `unknown`. The cloud may
      be exporting already, so never a second POST; a person checks.
    - The cloud surely did not act (refused connection, 429, 503): back to `queued` and
      try again later, until the attempts run out, then `failed`.
    """
    explanation = _explain(error)
    message = explanation.message if error.code else error.message or explanation.message
    if error.outcome_unknown:
        # Whether to send it again is exactly what a person has to find out first.
        export.transition(
            Status.UNKNOWN,
            **failure_facts(
                explanation,
                f"The cloud did not confirm the export ({error}). {message}",
                retry=Retry.MAYBE,
                remedy=CHECK_FIRST,
                request_id=error.request_id,
            ),
            error_code=error.code,
        )
        return None
    if not error.retryable:
        remedy = None
        if causes:
            message = " ".join([explanation.message, *(cause.message for cause in causes)])
            remedy = " ".join(cause.remedy for cause in causes)
        export.transition(
            Status.REJECTED,
            **failure_facts(explanation, message, remedy=remedy, request_id=error.request_id),
            error_code=error.code,
        )
        return None
    if export.submit_attempts < settings.EXPORT_SUBMIT_RETRIES:
        export.transition(
            Status.QUEUED, error_code=error.code, error_message=human_error(error.code, message)
        )
        # Never sooner than the cloud asked (a 429's Retry-After).
        asked = error.retry_after if isinstance(error, Throttled) else None
        return max(submit_retry_delay(export.submit_attempts), asked or 0.0)
    # The cloud surely never acted on any of the attempts: it was unavailable, which passes.
    export.transition(
        Status.FAILED,
        **failure_facts(
            explanation,
            f"The cloud was unavailable after {export.submit_attempts} attempts. {message}",
            retry=Retry.HELPS,
            request_id=error.request_id,
        ),
        error_code=error.code,
    )
    return None


def next_poll_due(export: Export, now: datetime | None = None) -> datetime:
    """When the poll after this one is due."""
    return (now or timezone.now()) + timedelta(seconds=poll_delay(export.poll_count + 1))


def poll_again(export: Export) -> None:
    """The cloud could not say this time (a retryable error): ask again later."""
    export.record_poll(next_poll_due(export))


def record_poll_refusal(export: Export, error: CloudError) -> bool:
    """Count a final refusal to read the export's job (404, 403...); return True once the
    portal gives up following it.

    One refusal may pass (a permission being fixed, a cloud hiccup answered as 4xx), but a
    job that stays unreadable would otherwise be polled every minute forever. Giving up makes
    the export `unknown`: the cloud may well have finished it, and a person checks.
    """
    refusals = export.poll_refusals + 1
    if refusals < settings.EXPORT_POLL_GIVE_UP_AFTER:
        export.record_poll(next_poll_due(export), poll_refusals=refusals)
        return False
    explanation = _explain(error)
    export.transition(
        Status.UNKNOWN,
        poll_refusals=refusals,
        error_code=error.code,
        **failure_facts(
            explanation,
            f"The cloud refused {refusals} times to say how job {export.job_id} "
            f"is doing ({error}). {explanation.message if error.code else ''}".strip(),
            retry=Retry.MAYBE,
            remedy=CHECK_FIRST,
            request_id=error.request_id,
        ),
    )
    return True


def apply_job(
    export: Export,
    job: Job,
    now: datetime | None = None,
    *,
    priors: dict[str, Any] | None = None,
) -> None:
    """Bring the export in line with what the cloud says of its job.

    A job that ended ends the export; one that goes on is recorded together with the next
    poll and the time-left estimate worked out from it, in one write (`Export.record_poll`).
    `priors` are the figures of the estimate's prior a round of polls looked up already
    (`progress.Priors`).
    """
    now = now or timezone.now()
    job_running = job.status == JobStatus.RUNNING
    changed = (
        job.progress != export.progress
        or job.current_step != export.current_step
        or job_running != (export.status == Status.RUNNING)
    )
    fields: dict[str, Any] = {
        "progress": job.progress,
        "current_step": job.current_step,
        "job_begin_time": job.begin_time,
        "job_end_time": job.end_time,
    }
    if changed:
        fields["last_change_at"] = now
    if job.status == JobStatus.SUCCESS:
        fields["progress"] = 1.0
        fields["cloud_request_id"] = job.request_id
        export.transition(Status.SUCCEEDED, **fields, **verification.start(now))
    elif job.status == JobStatus.FAIL:
        explanation = explain(job.error_code)
        what = explanation.message if job.error_code else job.fail_reason or explanation.message
        export.transition(
            Status.FAILED,
            error_code=job.error_code,
            **failure_facts(
                explanation,
                what
                + (f" (cloud: {job.fail_reason})" if job.fail_reason and job.error_code else ""),
                request_id=job.request_id,
            ),
            **fields,
        )
    else:
        # progress.py reads this module's stall rule, hence the import here.
        from ims_portal.exports.progress import eta_fields

        starts_running = job_running and export.status == Status.SUBMITTED
        export.record_poll(
            next_poll_due(export, now),
            to=Status.RUNNING if starts_running else None,
            poll_refusals=0,
            **fields,
            **eta_fields(export, job.progress, now, priors),
        )


def is_stalled(export: Export, now: datetime | None = None) -> bool:
    """A followed job that has shown no change for EXPORT_STALLED_AFTER seconds."""
    if export.status not in Status.FOLLOWED or export.last_change_at is None:
        return False
    now = now or timezone.now()
    return now - export.last_change_at > timedelta(seconds=settings.EXPORT_STALLED_AFTER)
