"""An export from the form to its end, with every real part: the web view in this process,
PostgreSQL, Redis, a Celery worker process, and the simulator as the cloud."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from ims_portal.exports.models import Export, Status
from ims_portal.simulator import seed
from tests.portal_fixtures import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def exporter(client, alice, cloud_settings, sim):
    client.force_login(alice)
    return client


def post_export(client, image_id: str, **fields) -> object:
    data = {
        "image": image_id,
        "bucket": "ims-exports",
        "file_name": f"it-{uuid.uuid4().hex[:8]}.qcow2",
        "file_format": "qcow2",
        "request_token": str(uuid.uuid4()),
        **fields,
    }
    return client.post(reverse("exports:new"), data)


def export_posts(sim) -> list[dict]:
    """Export POSTs the cloud took up: a 401 one (stale token after a simulator reset) is
    answered before IMS looks at it, and the client then repeats it once, by design."""
    return [
        request
        for request in sim.control.requests(method="POST", path_contains="/file")
        if request["status"] != 401
    ]


def final_status(export_id: int) -> str | None:
    export = Export.objects.get(pk=export_id)
    return export.status if export.is_terminal else None


def test_an_export_goes_from_the_form_to_succeeded(exporter, celery_worker_process, sim):
    response = post_export(exporter, seed.SMALL_CENTOS)
    assert response.status_code == 302
    export = Export.objects.get()
    assert response["Location"] == export.get_absolute_url()

    assert wait_for(lambda: final_status(export.pk), timeout=60) == Status.SUCCEEDED
    export.refresh_from_db()
    assert export.job_id
    assert export.progress == 1.0
    assert export.finished_at and export.submitted_at
    statuses = [step.to_status for step in export.status_history()]
    assert statuses[:2] == ["submitting", "submitted"]
    assert statuses[-1] == "succeeded"
    assert len(export_posts(sim)) == 1
    assert len(sim.control.jobs()) == 1


def test_an_image_whose_job_fails_ends_failed_with_the_cloud_reason(
    exporter, celery_worker_process
):
    post_export(exporter, seed.FAILS_DURING_EXPORT)
    export = Export.objects.get()
    assert wait_for(lambda: final_status(export.pk), timeout=60) == Status.FAILED
    export.refresh_from_db()
    assert export.error_code == "IMG.0014"  # the code the simulator's failing job reports
    assert "cloud:" in export.error_message  # the cloud's own fail reason is kept


def test_an_export_the_cloud_refuses_at_submit_ends_rejected_with_its_code(
    exporter, celery_worker_process, sim
):
    # The object already exists in the bucket; OBS refuses to tell the pre-flight, so the form
    # lets it through and only IMS finds out.
    sim.control.obs_forbidden()
    post_export(exporter, seed.SMALL_UBUNTU, file_name="existing.qcow2")
    export = Export.objects.get()
    assert wait_for(lambda: final_status(export.pk), timeout=30) == Status.REJECTED
    export.refresh_from_db()
    assert export.error_code == "IMG.0070"
    assert "exists" in export.error_message.lower()


def test_a_cloud_that_answers_500_to_the_export_post_leaves_it_unknown_and_posts_once(
    exporter, celery_worker_process, sim
):
    sim.control.fault(status=500, count=1, methods="POST", paths="/file$")
    post_export(exporter, seed.SMALL_DEBIAN)
    export = Export.objects.get()
    assert wait_for(lambda: final_status(export.pk), timeout=30) == Status.UNKNOWN
    assert len(export_posts(sim)) == 1


def test_a_cloud_that_answers_503_is_asked_again_later_and_the_export_succeeds(
    exporter, celery_worker_process, sim
):
    sim.control.fault(status=503, count=1, methods="POST", paths="/file$")
    post_export(exporter, seed.SMALL_FEDORA)
    export = Export.objects.get()
    assert wait_for(lambda: final_status(export.pk), timeout=60) == Status.SUCCEEDED
    steps = [(step.from_status, step.to_status) for step in export.status_history()]
    assert ("submitting", "queued") in steps
