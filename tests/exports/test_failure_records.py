"""What a failure records on the export: what happened, whether a retry can help, what to
do, and the cloud's request id of the answer that ended it."""

from __future__ import annotations

import pytest

from ims_portal.cloud import Job, RequestRejected, ServerError
from ims_portal.cloud.catalogue import CATALOGUE, Retry
from ims_portal.cloud.models import JobStatus
from ims_portal.exports import workflow
from ims_portal.exports.models import Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def submitting(alice, make_export):
    export = make_export(alice)
    export.transition(Status.SUBMITTING, submit_attempts=1)
    return export


def failed_job(code: str, reason: str, request_id: str) -> Job:
    return Job(
        id="job-1",
        job_type="imsNativeExportImageJob",
        status=JobStatus.FAIL,
        begin_time=None,
        end_time=None,
        error_code=code,
        fail_reason=reason,
        progress=None,
        current_step="",
        request_id=request_id,
    )


def test_a_refusal_records_the_catalogue_remedy_its_retry_verdict_and_the_request_id(
    submitting,
):
    error = RequestRejected("exists", status=400, code="IMG.0070", request_id="req-70")
    workflow.record_submit_failure(submitting, error)
    assert submitting.status == Status.REJECTED
    assert submitting.error_message == CATALOGUE["IMG.0070"].message
    assert submitting.error_remedy == CATALOGUE["IMG.0070"].remedy
    assert submitting.retry == Retry.USELESS
    assert submitting.cloud_request_id == "req-70"


def test_a_cloud_unavailable_after_every_attempt_says_a_retry_can_help(submitting, settings):
    settings.EXPORT_SUBMIT_RETRIES = 1
    workflow.record_submit_failure(submitting, ServerError("down", status=503, request_id="r-5"))
    assert submitting.status == Status.FAILED
    assert submitting.retry == Retry.HELPS
    assert submitting.cloud_request_id == "r-5"


def test_an_unknown_outcome_asks_for_a_check_rather_than_a_retry(submitting):
    workflow.record_submit_failure(
        submitting, ServerError("boom", status=500, outcome_unknown=True)
    )
    assert submitting.status == Status.UNKNOWN
    assert submitting.retry == Retry.MAYBE
    assert "before exporting it again" in submitting.error_remedy


def test_a_damaged_snapshot_is_recorded_as_a_failure_a_retry_will_not_mend(submitting):
    submitting.transition(Status.SUBMITTED, job_id="job-1")
    reason = "Reading the source volume failed halfway: a snapshot backing the image is damaged."
    workflow.apply_job(submitting, failed_job("IMG.0014", reason, "req-14"))
    assert submitting.status == Status.FAILED
    assert submitting.error_code == "IMG.0014"
    assert reason in submitting.error_message
    assert submitting.retry == Retry.USELESS
    assert "try again later" not in submitting.error_remedy.lower()
    assert submitting.cloud_request_id == "req-14"


def test_the_request_id_is_in_the_audit_trail_of_the_failure(submitting):
    from ims_portal.audit.models import Action, AuditEvent

    error = RequestRejected("exists", status=400, code="IMG.0070", request_id="req-audit")
    workflow.record_submit_failure(submitting, error)
    event = AuditEvent.objects.get(action=Action.EXPORT_REJECTED, target_id=str(submitting.pk))
    assert event.details["cloud_request_id"] == "req-audit"
