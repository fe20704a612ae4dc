"""What each cloud answer does to an export (the decisions behind the tasks)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ims_portal.cloud import ConnectionFailed, Job, RequestRejected, ServerError, Throttled
from ims_portal.cloud.models import JobStatus
from ims_portal.exports import workflow
from ims_portal.exports.models import Export, Status, TransitionConflict

pytestmark = pytest.mark.django_db


def job(status: str, progress: float | None = None, step: str = "", **kw) -> Job:
    return Job(
        id="job-1",
        job_type="imsNativeExportImageJob",
        status=JobStatus(status),
        begin_time=None,
        end_time=None,
        error_code=kw.get("error_code", ""),
        fail_reason=kw.get("fail_reason", ""),
        progress=progress,
        current_step=step,
    )


@pytest.fixture
def submitting(alice, make_export):
    export = make_export(alice)
    export.transition(Status.SUBMITTING, submit_attempts=1)
    return export


@pytest.fixture
def submitted(submitting):
    submitting.transition(Status.SUBMITTED, job_id="job-1")
    return submitting


def test_a_final_refusal_rejects_the_export_with_the_catalogue_message(submitting):
    error = RequestRejected("The image file already exists.", status=400, code="IMG.0070")
    assert workflow.record_submit_failure(submitting, error) is None
    assert submitting.status == Status.REJECTED
    assert submitting.error_code == "IMG.0070"
    assert submitting.error_message


@pytest.mark.parametrize(
    "error",
    [
        ServerError("boom", status=500, outcome_unknown=True),
        ServerError("bad gateway", status=502, outcome_unknown=True),
        ConnectionFailed("connection lost after sending", outcome_unknown=True),
    ],
)
def test_an_unknown_outcome_is_left_to_a_person_never_retried(submitting, error):
    assert workflow.record_submit_failure(submitting, error) is None
    assert submitting.status == Status.UNKNOWN


@pytest.mark.parametrize(
    "error",
    [
        ServerError("unavailable", status=503),
        Throttled("slow down", status=429, retry_after=1),
        ConnectionFailed("connection refused"),
    ],
)
def test_when_the_cloud_surely_did_not_act_the_export_is_queued_again(submitting, error, settings):
    settings.EXPORT_SUBMIT_RETRIES = 3
    delay = workflow.record_submit_failure(submitting, error)
    assert delay is not None and delay > 0
    assert submitting.status == Status.QUEUED


def test_after_the_last_attempt_a_cloud_that_never_answered_fails_the_export(submitting, settings):
    settings.EXPORT_SUBMIT_RETRIES = 1
    assert workflow.record_submit_failure(submitting, ServerError("x", status=503)) is None
    assert submitting.status == Status.FAILED
    assert "1 attempts" in submitting.error_message


def test_job_states_map_to_export_states(submitted):
    workflow.apply_job(submitted, job("INIT"))
    assert submitted.status == Status.SUBMITTED
    workflow.apply_job(submitted, job("RUNNING", 0.4, "Converting"))
    assert submitted.status == Status.RUNNING
    assert submitted.progress == 0.4 and submitted.current_step == "Converting"
    workflow.apply_job(submitted, job("SUCCESS", 1.0))
    assert submitted.status == Status.SUCCEEDED
    assert submitted.finished_at is not None


def test_a_failed_job_records_its_code_and_reason(submitted):
    workflow.apply_job(
        submitted, job("FAIL", 0.3, error_code="IMG.0069", fail_reason="bucket gone")
    )
    assert submitted.status == Status.FAILED
    assert submitted.error_code == "IMG.0069"
    assert "bucket gone" in submitted.error_message


def test_a_job_without_change_for_long_is_stalled_but_one_that_moves_is_not(submitted, settings):
    settings.EXPORT_STALLED_AFTER = 60
    workflow.apply_job(submitted, job("RUNNING", 0.2))
    later = timezone.now() + timedelta(seconds=120)
    workflow.apply_job(submitted, job("RUNNING", 0.2), now=later)
    assert workflow.is_stalled(submitted, now=later + timedelta(seconds=1))
    workflow.apply_job(submitted, job("RUNNING", 0.3), now=later)
    assert not workflow.is_stalled(submitted, now=later + timedelta(seconds=1))


def test_poll_delays_grow_to_a_cap(settings):
    settings.EXPORT_POLL_FIRST, settings.EXPORT_POLL_FACTOR, settings.EXPORT_POLL_MAX = 2, 2, 30
    delays = [workflow.poll_delay(n) for n in range(8)]
    assert 1.8 <= delays[0] <= 2.2
    assert delays[3] > delays[0]
    assert max(delays) <= 33


def export_row_writes(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith('UPDATE "exports_export"')]


@pytest.mark.parametrize(
    ("status", "becomes"),
    [(JobStatus.INIT, Status.SUBMITTED), (JobStatus.RUNNING, Status.RUNNING)],
)
def test_a_poll_of_a_job_that_goes_on_writes_the_row_once(submitted, status, becomes):
    with CaptureQueriesContext(connection) as queries:
        workflow.apply_job(submitted, job(status, 0.1))
    assert len(export_row_writes(queries.captured_queries)) == 1
    stored = Export.objects.get(pk=submitted.pk)
    assert stored.status == becomes
    assert stored.poll_count == 1 and stored.next_poll_at is not None
    assert stored.progress == 0.1


def test_a_late_poll_writes_nothing_once_the_next_poll_is_someone_elses(submitted):
    Export.objects.filter(pk=submitted.pk).update(next_poll_at=timezone.now())  # re-armed
    with pytest.raises(TransitionConflict):
        workflow.apply_job(submitted, job(JobStatus.RUNNING, 0.5))
    stored = Export.objects.get(pk=submitted.pk)
    assert stored.status == Status.SUBMITTED and stored.progress is None


def test_a_job_status_the_portal_does_not_know_keeps_the_export_followed(submitted):
    workflow.apply_job(submitted, job(JobStatus.parse("PAUSED")))
    stored = Export.objects.get(pk=submitted.pk)
    assert stored.status == Status.SUBMITTED and stored.poll_count == 1
