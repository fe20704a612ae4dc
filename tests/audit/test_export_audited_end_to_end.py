"""One export through the real parts (web view, Celery worker process, simulator, PostgreSQL):
its every step is in the trail, and an auditor finds them all and takes them away."""

from __future__ import annotations

import io
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from ims_portal.audit import exporting
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.exports.models import Export
from ims_portal.simulator import seed
from tests.audit.helpers import verify
from tests.portal_fixtures import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_an_exports_every_step_is_audited_and_an_auditor_finds_and_exports_them(
    as_alice, alice, carol, cloud_settings, sim, celery_worker_process
):
    response = as_alice.post(
        reverse("exports:new"),
        {
            "image": seed.SMALL_CENTOS,
            "bucket": "ims-exports",
            "file_name": f"audit-{uuid.uuid4().hex[:8]}.qcow2",
            "file_format": "qcow2",
            "request_token": str(uuid.uuid4()),
        },
    )
    assert response.status_code == 302
    export = Export.objects.get()
    # Succeeded, and its object proven in OBS: the proof is the export's last event.
    wait_for(lambda: Export.objects.get(pk=export.pk).is_verified, timeout=60)

    events = list(AuditEvent.objects.for_target("export", export.pk).order_by("id"))
    assert events[0].action == Action.EXPORT_REQUESTED
    assert events[0].actor_id == alice.pk
    assert events[0].request_id == response["X-Request-Id"]
    assert [e.action for e in events[1:3]] == [Action.EXPORT_SUBMITTING, Action.EXPORT_SUBMITTED]
    assert [e.action for e in events[-2:]] == [Action.EXPORT_SUCCEEDED, Action.EXPORT_VERIFIED]
    for event in events[1:]:  # written by the worker process
        assert event.actor_username == "system" and event.actor_id is None
        assert event.user_agent.startswith("celery ims_portal.exports.tasks.")
        assert len(event.request_id) == 36  # the Celery task id
    assert events[2].details["job_id"] == Export.objects.get(pk=export.pk).job_id

    # The auditor, from the export's page, to all its events, to a file.
    auditor = Client()
    auditor.force_login(carol)
    page = auditor.get(export.get_absolute_url()).content.decode()
    link = f"/audit/?target=export:{export.pk}"
    assert f'href="{link}"' in page
    found = auditor.get(link).context["page"].object_list
    assert {e.pk for e in found} == {e.pk for e in events}
    download = auditor.get(f"/audit/export.csv?target=export:{export.pk}")
    header, rows = exporting.read(
        io.StringIO(b"".join(download.streaming_content).decode(), newline="")
    )
    assert [row["id"] for row in rows] == [e.pk for e in events]
    assert header["filter"] == {"target": f"export:{export.pk}"}

    passed, output = verify()
    assert passed, output
