"""An abandoned export stays abandoned while its cloud job runs on and ends: every part real
(the web view, PostgreSQL, Redis, a Celery worker process, the simulator)."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from ims_portal.audit.models import AuditEvent
from ims_portal.exports.models import Export, Status
from tests.portal_fixtures import export_form_data, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_worker_leaves_an_abandoned_export_alone_while_the_cloud_finishes_its_job(
    client, alice, cloud_settings, sim, celery_worker_process
):
    sim.control.configure(speed=4)  # long enough to abandon it while it runs
    client.force_login(alice)
    client.post(reverse("exports:new"), export_form_data(file_name="abandoned.qcow2"))
    export = Export.objects.get()
    wait_for(lambda: Export.objects.get(pk=export.pk).status == Status.RUNNING, timeout=60)

    response = client.post(
        reverse("exports:abandon", args=[export.pk]), {"reason": "Testing stop following."}
    )
    assert response.status_code == 302
    events = AuditEvent.objects.filter(target_id=export.pk).count()
    polls = Export.objects.get(pk=export.pk).poll_count

    # The cloud knows nothing of it: the job runs on and writes the object.
    wait_for(lambda: "abandoned.qcow2" in sim.control.objects().get("ims-exports", []), timeout=90)
    time.sleep(3 * float(cloud_settings["EXPORT_POLL_MAX"]))  # any poll still due has run
    stored = Export.objects.get(pk=export.pk)
    assert stored.status == Status.ABANDONED
    assert stored.poll_count == polls and stored.next_poll_at is None
    assert AuditEvent.objects.filter(target_id=export.pk).count() == events
