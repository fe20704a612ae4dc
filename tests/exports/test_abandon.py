"""Stop following: an export the cloud may still be running is abandoned with a reason, never
"cancelled"; a queued one is still cancelled; a worker leaves an abandoned export alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.cloud.models import Job, JobStatus
from ims_portal.exports import poller, workflow
from ims_portal.exports.forms import AbandonForm
from ims_portal.exports.models import Export, IllegalTransition, Status, TransitionConflict

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloud")]

REASON = "Stuck at 40% for an hour; exporting again under another name."


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def abandon_url(export: Export) -> str:
    return reverse("exports:abandon", args=[export.pk])


@pytest.mark.parametrize(
    "status", [Status.SUBMITTING, Status.SUBMITTED, Status.RUNNING, Status.UNKNOWN]
)
def test_an_export_the_cloud_may_be_running_is_abandoned_with_the_reason_in_its_audit_event(
    as_alice, alice, make_export, status
):
    export = make_export(alice, status=status, job_id="job-7")
    response = as_alice.post(abandon_url(export), {"reason": REASON})
    assert response.status_code == 302 and response["Location"] == export.get_absolute_url()
    stored = Export.objects.get(pk=export.pk)
    assert stored.status == Status.ABANDONED
    assert stored.finished_at is not None and stored.next_poll_at is None
    event = AuditEvent.objects.get(action=Action.EXPORT_ABANDONED)
    assert (event.actor_id, event.outcome) == (alice.pk, Outcome.UNKNOWN)
    assert event.details["reason"] == REASON
    assert (event.details["from_status"], event.details["to_status"]) == (status, "abandoned")
    assert stored.status_history()[-1].detail == REASON


def test_the_stop_following_page_says_the_cloud_job_may_still_write_the_object(
    as_alice, alice, make_export
):
    export = make_export(alice, status=Status.RUNNING, job_id="job-7")
    response = as_alice.get(abandon_url(export))
    assert response.status_code == 200
    html = response.content.decode()
    assert "IMS has no call that cancels an export job" in html
    assert f"may still finish and write <code>{export.destination}</code>" in html
    assert "job-7" in html
    assert 'name="reason"' in html and " required" not in html  # our message, no bubble


@pytest.mark.parametrize("reason", ["", "   "])
def test_no_reason_is_a_field_error_and_nothing_changes(as_alice, alice, make_export, reason):
    export = make_export(alice, status=Status.RUNNING)
    response = as_alice.post(abandon_url(export), {"reason": reason})
    assert response.status_code == 422
    assert "Say why you stop following this export" in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()
    assert Export.objects.get(pk=export.pk).status == Status.RUNNING
    assert not AuditEvent.objects.filter(action=Action.EXPORT_ABANDONED).exists()


def test_an_overlong_or_odd_reason_is_a_field_error_not_a_crash(as_alice, alice, make_export):
    export = make_export(alice, status=Status.RUNNING)
    too_long = as_alice.post(abandon_url(export), {"reason": "x" * (AbandonForm.REASON_MAX + 1)})
    assert too_long.status_code == 422
    assert f"{AbandonForm.REASON_MAX} characters or fewer" in too_long.content.decode()
    nul = as_alice.post(abandon_url(export), {"reason": "stuck\x00"})
    assert nul.status_code == 422
    assert Export.objects.get(pk=export.pk).status == Status.RUNNING


@pytest.mark.parametrize("status", [Status.QUEUED, Status.SUCCEEDED, Status.ABANDONED])
def test_an_export_that_cannot_be_abandoned_sends_the_person_back_to_its_page(
    as_alice, alice, make_export, status
):
    export = make_export(alice, status=status)
    response = as_alice.post(abandon_url(export), {"reason": REASON})
    assert response.status_code == 302 and response["Location"] == export.get_absolute_url()
    assert Export.objects.get(pk=export.pk).status == status
    assert not AuditEvent.objects.filter(action=Action.EXPORT_ABANDONED).exists()


def test_only_the_owner_may_abandon(client, alice, bob, carol, make_export):
    export = make_export(alice, status=Status.RUNNING)
    client.force_login(bob)
    assert client.post(abandon_url(export), {"reason": REASON}).status_code == 404
    assert AuditEvent.objects.filter(action=Action.ACCESS_DENIED, target_id=export.pk).exists()
    client.force_login(carol)
    assert client.post(abandon_url(export), {"reason": REASON}).status_code == 403
    assert Export.objects.get(pk=export.pk).status == Status.RUNNING


def test_an_unknown_export_is_abandoned_not_cancelled(alice, make_export):
    export = make_export(alice, status=Status.UNKNOWN)
    assert not export.can_cancel and export.can_abandon
    with pytest.raises(IllegalTransition):
        export.transition(Status.CANCELLED)


@pytest.mark.parametrize(
    ("status", "buttons", "absent"),
    [
        (Status.QUEUED, ["Cancel"], ["Stop following", "Export again"]),
        (Status.RUNNING, ["Stop following"], ["Cancel</button>", "Export again"]),
        (Status.UNKNOWN, ["Stop following", "Export again"], ["Cancel</button>", "Dismiss"]),
        (Status.ABANDONED, ["Export again"], ["Stop following", "Cancel</button>"]),
    ],
)
def test_the_owner_sees_the_actions_the_status_allows_and_an_auditor_none(
    as_alice, client, carol, alice, make_export, status, buttons, absent
):
    export = make_export(alice, status=status)
    html = as_alice.get(export.get_absolute_url()).content.decode()
    for text in buttons:
        assert text in html
    for text in absent:
        assert text not in html
    client.force_login(carol)
    seen_by_auditor = client.get(export.get_absolute_url()).content.decode()
    assert 'class="export-actions"' not in seen_by_auditor


def test_an_abandoned_export_reads_as_such_to_everyone_and_frees_its_image(
    as_alice, client, carol, alice, make_export
):
    export = make_export(alice, image_id="img-1", status=Status.RUNNING)
    as_alice.post(abandon_url(export), {"reason": REASON})
    client.force_login(carol)
    html = client.get(export.get_absolute_url()).content.decode()
    assert "the cloud job may still finish and write" in html
    assert REASON in html  # the timeline shows the reason beside the event
    assert 'hx-trigger="every 2s"' not in html  # terminal: no more refreshing
    make_export(alice, image_id="img-1")  # the one-in-flight rule no longer holds it


# --- a worker and an abandoned export --------------------------------------------------------


def test_a_poll_due_for_an_export_abandoned_since_does_nothing(alice, make_export, sim):
    due = timezone.now()
    export = make_export(alice, status=Status.RUNNING, job_id="job-x", next_poll_at=due)
    export.transition(Status.ABANDONED, actor=alice, reason=REASON)
    events = AuditEvent.objects.count()
    assert poller.poll_due() == 0
    stored = Export.objects.get(pk=export.pk)
    assert stored.status == Status.ABANDONED and stored.poll_count == 0
    assert sim.control.requests(path_contains="/job") == []
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    "job_status",
    [JobStatus.SUCCESS, JobStatus.FAIL, JobStatus.RUNNING],
)
def test_a_poll_already_under_way_when_the_export_is_abandoned_writes_nothing(
    alice, make_export, job_status
):
    due = timezone.now()
    export = make_export(alice, status=Status.RUNNING, job_id="job-x", next_poll_at=due)
    seen_by_worker = Export.objects.get(pk=export.pk)
    export.transition(Status.ABANDONED, actor=alice, reason=REASON)
    job = Job(
        id="job-x",
        job_type="exportImage",
        status=job_status,
        begin_time=None,
        end_time=None,
        error_code="",
        fail_reason="",
        progress=0.9,
        current_step="exporting",
    )
    with pytest.raises(TransitionConflict):
        workflow.apply_job(seen_by_worker, job, now=due + timedelta(seconds=1))
    stored = Export.objects.get(pk=export.pk)
    assert stored.status == Status.ABANDONED and stored.progress is None
    assert list(stored.status_history())[-1].to_status == Status.ABANDONED
