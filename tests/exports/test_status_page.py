"""The export page in each ended state, as a browser without JavaScript receives it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from ims_portal.audit.models import Action, AuditEvent
from ims_portal.cloud.catalogue import Retry
from ims_portal.exports import views
from ims_portal.exports.models import Export, Status
from tests.portal_fixtures import export_form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def page(client, export: Export) -> str:
    response = client.get(reverse("exports:detail", args=[export.pk]))
    assert response.status_code == 200
    return response.content.decode()


def headline(html: str) -> str:
    match = re.search(r'<strong class="state">(.*?)</strong>', html)
    assert match, "no headline"
    return match.group(1)


def timeline(html: str) -> str:
    return html.split('id="audit-timeline"', 1)[1]


def test_a_rejection_between_reading_the_export_and_its_timeline_is_shown_everywhere(
    as_alice, alice, make_export, monkeypatch
):
    export = make_export(alice)
    read_timeline = views._timeline
    raced = []

    def worker_acts_meanwhile(request, loaded):
        if not raced:
            # A worker submits and is refused just after the view read the export row.
            raced.append(True)
            other = Export.objects.get(pk=loaded.pk)
            other.transition(Status.SUBMITTING)
            other.transition(Status.REJECTED, error_code="IMG.0070", error_message="exists")
        return read_timeline(request, loaded)

    monkeypatch.setattr(views, "_timeline", worker_acts_meanwhile)
    html = page(as_alice, export)
    assert raced
    assert "Export rejected" in timeline(html)
    assert headline(html) == "Rejected"
    assert 'data-status="rejected"' in html


def test_a_rejected_export_says_it_never_started_and_shows_no_bar(as_alice, alice, make_export):
    export = make_export(alice)
    export.transition(Status.SUBMITTING)
    export.transition(
        Status.REJECTED,
        error_code="IMG.0070",
        error_message="A file with that name already exists in the bucket.",
        error_remedy="Choose a different file name.",
        retry_advice=Retry.USELESS,
        cloud_request_id="req-cloud-1",
    )
    html = page(as_alice, export)
    assert headline(html) == "Rejected"
    assert "Not started: the cloud refused the request." in html
    assert "<progress" not in html
    assert "refused by the cloud" in html
    assert "IMG.0070" in html and "already exists" in html
    assert "Trying again as it is will not help." in html
    assert "Choose a different file name." in html
    assert '<code id="export-cloud-request-id">req-cloud-1</code>' in html
    assert 'data-copy="export-cloud-request-id"' in html
    assert "js/copy.js" in html


def test_a_failed_export_shows_the_bar_where_it_stopped_and_every_identifier(
    as_alice, alice, make_export
):
    export = make_export(alice)
    export.transition(Status.SUBMITTING)
    export.transition(Status.SUBMITTED, job_id="job-77")
    export.transition(Status.RUNNING, progress=0.39)
    export.transition(
        Status.FAILED,
        error_code="IMG.0014",
        error_message="The cloud's backend failed while running the job.",
        error_remedy="Open a ticket.",
        retry_advice=Retry.USELESS,
        cloud_request_id="req-cloud-2",
    )
    html = page(as_alice, export)
    assert headline(html) == "Failed"
    assert 'class="card status status-failed tone-error"' in html
    assert '<progress id="export-progress" max="100" value="39"' in html
    assert "39%</span> when it ended" in html
    assert "failed here" in html
    assert '<code id="export-job-id">job-77</code>' in html
    assert "req-cloud-2" in html
    assert "Trying again as it is will not help." in html


@pytest.mark.usefixtures("cloud")
def test_the_portal_request_id_of_the_creating_request_is_on_the_page(
    as_alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():  # the submit task is not sent: no worker here
        as_alice.post(reverse("exports:new"), export_form_data())
    export = Export.objects.get()
    requested = AuditEvent.objects.get(action=Action.EXPORT_REQUESTED, target_id=str(export.pk))
    assert requested.request_id
    html = page(as_alice, export)
    assert f'<code id="export-portal-request-id">{requested.request_id}</code>' in html


def test_no_request_id_is_claimed_where_none_was_recorded(as_alice, alice, make_export):
    export = make_export(alice)  # made without a request: no export.requested event
    export.transition(Status.SUBMITTING)
    export.transition(Status.FAILED, error_message="The cloud was unavailable.")
    html = page(as_alice, export)
    assert "request id" not in html.lower()


def test_an_unknown_export_says_what_the_portal_knows_and_what_to_check(
    as_alice, alice, make_export
):
    export = make_export(alice)
    export.transition(Status.SUBMITTING)
    export.transition(
        Status.UNKNOWN, error_message="The cloud did not confirm the export (timeout)."
    )
    html = page(as_alice, export)
    assert headline(html) == "Unknown"
    assert "tone-warning" in html
    sent = Export.objects.get(pk=export.pk).submitting_at
    assert timezone.localtime(sent).strftime("%Y-%m-%d %H:%M:%S") in html
    assert "It gave no job id, and the portal will not send it again by itself." in html
    assert "the POST may or may not have reached the cloud" in html  # no answer came
    assert "What to check, and where" in html
    assert export.destination in html and export.image_id in html
    assert "Stop following" in html


def test_a_cancelled_export_is_grey_and_says_nothing_reached_the_cloud(
    as_alice, alice, make_export
):
    export = make_export(alice)
    export.transition(Status.CANCELLED, actor=alice)
    html = page(as_alice, export)
    assert headline(html) == "Cancelled"
    assert "tone-stopped" in html
    assert "before anything was sent to the cloud" in html
    assert "<progress" not in html


def test_an_export_in_flight_without_a_figure_says_its_bar_is_only_the_phase(
    as_alice, alice, make_export
):
    export = make_export(alice)
    export.transition(Status.SUBMITTING)
    html = page(as_alice, export)
    assert '<progress id="export-progress" max="100" aria-label' in html  # no value: indeterminate
    assert "Estimated from the phase only (2 of 5)" in html
