"""IMS job statuses are read into `JobStatus`; one the reference does not list is not a guess."""

from __future__ import annotations

import pytest

from ims_portal.cloud import Job
from ims_portal.cloud.models import JobStatus


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("SUCCESS", JobStatus.SUCCESS),
        ("fail", JobStatus.FAIL),
        (" RUNNING ", JobStatus.RUNNING),
        ("INIT", JobStatus.INIT),
        ("PAUSED", JobStatus.UNRECOGNISED),
        ("", JobStatus.UNRECOGNISED),
        (None, JobStatus.UNRECOGNISED),
    ],
)
def test_job_statuses_are_parsed_by_name_and_unknown_ones_are_marked(value, status):
    assert JobStatus.parse(value) is status


def test_a_job_in_an_unrecognised_status_has_not_finished():
    job = Job.from_api({"job_id": "j-1", "status": "PAUSED", "entities": {}})
    assert job.status is JobStatus.UNRECOGNISED
    assert not job.finished
    assert Job.from_api({"job_id": "j-1", "status": "FAIL"}).finished
