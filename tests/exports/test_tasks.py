"""Tasks are safe to run twice: a duplicate delivery finds nothing left to do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ims_portal.exports import poller
from ims_portal.exports.models import Export, Status
from ims_portal.exports.tasks import submit_export
from ims_portal.simulator import seed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloud")]


def test_a_second_delivery_of_submit_finds_the_export_claimed_and_sends_nothing(
    alice, make_export, sim
):
    export = make_export(alice, status=Status.SUBMITTING)
    submit_export(export.pk)
    assert Export.objects.get(pk=export.pk).status == Status.SUBMITTING
    assert sim.control.requests(method="POST", path_contains="/file") == []


def test_submit_of_a_cancelled_or_missing_export_does_nothing(alice, make_export, sim):
    export = make_export(alice, status=Status.CANCELLED)
    submit_export(export.pk)
    submit_export(10**9)
    assert sim.control.requests(method="POST", path_contains="/file") == []


def test_a_submit_names_the_first_poll_on_the_row_and_sends_no_message_for_it(
    alice, make_export, sim, monkeypatch
):
    sent = []
    monkeypatch.setattr("celery.app.task.Task.apply_async", lambda *a, **k: sent.append(a))
    export = make_export(alice, image_id=seed.SMALL_CENTOS, object_name="first-poll.qcow2")
    before = timezone.now()
    submit_export(export.pk)
    stored = Export.objects.get(pk=export.pk)
    assert stored.status == Status.SUBMITTED
    assert stored.next_poll_at is not None and stored.next_poll_at > before
    assert sent == []


def test_a_poll_that_is_not_due_yet_is_not_taken(alice, make_export, sim):
    due = timezone.now() + timedelta(seconds=30)
    export = make_export(alice, status=Status.SUBMITTED, job_id="job-x", next_poll_at=due)
    assert poller.poll_due() == 0
    stored = Export.objects.get(pk=export.pk)
    assert stored.poll_count == 0 and stored.next_poll_at == due
    assert sim.control.requests(path_contains="/job") == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("poll_chains_held")
def test_a_job_the_cloud_keeps_refusing_to_describe_is_handed_to_a_person(
    alice, make_export, settings
):
    settings.EXPORT_POLL_GIVE_UP_AFTER = 2
    due = timezone.now()
    export = make_export(alice, status=Status.SUBMITTED, job_id="no-such-job", next_poll_at=due)
    assert poller.poll_due() == 1
    stored = Export.objects.get(pk=export.pk)
    assert stored.status == Status.SUBMITTED and stored.poll_refusals == 1

    Export.objects.filter(pk=export.pk).update(next_poll_at=due)  # the next poll falls due
    assert poller.poll_due() == 1
    stored = Export.objects.get(pk=export.pk)
    assert stored.status == Status.UNKNOWN
    assert "no-such-job" in stored.error_message


def test_incomplete_cloud_settings_fail_the_export_without_sending_anything(
    alice, make_export, sim, monkeypatch
):
    from ims_portal.exports import cloud_access

    monkeypatch.delenv("IMS_PROJECT_ID")
    cloud_access.get_client.cache_clear()
    try:
        export = make_export(alice)
        submit_export(export.pk)
    finally:
        monkeypatch.undo()
        cloud_access.get_client.cache_clear()
    stored = Export.objects.get(pk=export.pk)
    assert stored.status == Status.FAILED
    assert "IMS_PROJECT_ID" in stored.error_message
    assert "Nothing was sent" in stored.error_message
    assert sim.control.requests(method="POST", path_contains="/file") == []
