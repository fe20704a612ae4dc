"""Following a job: the progress call first, the status call where the cloud lacks it."""

from __future__ import annotations

import pytest

from ims_portal.cloud import Client, NotFound
from ims_portal.simulator import seed

from .conftest import ims_requests, wait_for_job

PROGRESS, STATUS = "/v1/cloudimages/job/", "/jobs/"


def start(client: Client, name: str = "job.qcow2") -> str:
    return client.export_image(seed.SMALL_DEBIAN, f"ims-exports:{name}", "qcow2")


def test_the_progress_call_reports_percentage_and_step(sim, client: Client):
    sim.control.configure(speed=2.0)  # slow enough to catch it running
    job_id = start(client)

    job = client.get_job(job_id)

    assert job.status in ("INIT", "RUNNING")
    assert job.progress is not None and 0.0 <= job.progress < 1.0
    assert job.current_step
    assert client.progress_api is True
    assert len(ims_requests(sim, "GET", PROGRESS)) == 1
    assert ims_requests(sim, "GET", STATUS) == []


def test_without_the_progress_call_the_status_call_is_used_and_remembered(sim, client: Client):
    sim.control.configure(progress_api=False)
    job_id = start(client)

    first = client.get_job(job_id)
    finished = wait_for_job(client, job_id)

    assert first.id == job_id
    assert first.progress is None  # the status call has no percentage
    assert finished.status == "SUCCESS"
    assert client.progress_api is False
    [probe] = ims_requests(sim, "GET", PROGRESS)  # asked exactly once, then never again
    assert probe["status"] == 404
    assert len(ims_requests(sim, "GET", STATUS)) >= 2


def test_an_unknown_job_is_not_found_and_the_progress_call_is_kept(sim, client: Client):
    with pytest.raises(NotFound) as caught:
        client.get_job("0123456789abcdef0123456789abcdef")

    assert caught.value.code.startswith("IMG.")
    assert client.progress_api is True  # an IMS-shaped 404 means the call exists
    assert len(ims_requests(sim, "GET", PROGRESS)) == 1
    assert len(ims_requests(sim, "GET", STATUS)) == 1  # asked once, in case only it knows

    job_id = start(client)
    client.get_job(job_id)
    assert len(ims_requests(sim, "GET", PROGRESS)) == 2


def test_an_unknown_job_without_the_progress_call_is_not_found(sim, client: Client):
    sim.control.configure(progress_api=False)
    with pytest.raises(NotFound) as caught:
        client.get_job("0123456789abcdef0123456789abcdef")
    assert caught.value.code.startswith("IMG.")
    assert client.progress_api is False
