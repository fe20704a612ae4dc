"""An export's page shows its audit timeline: the lifecycle to its owner, everything (with
links to each event) to auditors, nothing to anyone else."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from ims_portal.audit.models import Action, AuditEvent
from ims_portal.exports.models import Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def export(alice, bob, make_export):
    export = make_export(alice)
    export.transition(Status.SUBMITTING)
    export.transition(Status.SUBMITTED, job_id="job-7")
    other = Client()
    other.force_login(bob)
    assert other.get(export.get_absolute_url()).status_code == 404  # an access-denied event
    return export


def timeline(html: str) -> str:
    return html.split('id="audit-timeline"', 1)[1].split("</section>", 1)[0]


def test_the_owner_sees_the_lifecycle_of_their_export(as_alice, export):
    part = timeline(as_alice.get(export.get_absolute_url()).content.decode())
    assert "Export being submitted" in part and "Export submitted" in part
    assert "Access denied" not in part  # who else tried is for auditors
    assert "/audit/" not in part


def test_an_auditor_sees_every_event_with_links_to_the_audit_trail(as_carol, export):
    part = timeline(as_carol.get(export.get_absolute_url()).content.decode())
    denied = AuditEvent.objects.get(action=Action.ACCESS_DENIED)
    assert "Access denied" in part and " bob" in part
    assert f'href="{reverse("audit:detail", args=[denied.pk])}"' in part
    assert f'href="/audit/?target=export:{export.pk}"' in part


def test_the_timeline_costs_one_query_whatever_its_length(
    as_carol, export, django_assert_max_num_queries
):
    with django_assert_max_num_queries(50) as few:
        as_carol.get(export.get_absolute_url())
    export.transition(Status.RUNNING)
    export.transition(Status.SUCCEEDED)
    with django_assert_max_num_queries(len(few.captured_queries)):
        as_carol.get(export.get_absolute_url())


def test_the_timeline_is_the_status_history_with_what_explains_each_step(as_alice, export):
    export.transition(Status.FAILED, error_code="IMG.0069", error_message="The bucket is gone.")
    page = as_alice.get(export.get_absolute_url()).content.decode()
    part = timeline(page)
    assert "job-7" in part and "The bucket is gone." in part
    assert "Status history" not in page  # one list on the page, not two
