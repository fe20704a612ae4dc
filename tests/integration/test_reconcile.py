"""The reconciler puts exports whose next step went missing back on track, for real: the
tasks it sends are run by the worker process against the simulator, and the rows it
re-arms are polled by the worker's poll chains."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ims_portal.exports.cloud_access import get_client
from ims_portal.exports.models import Export, Status, Verification
from ims_portal.exports.tasks import reconcile_exports
from ims_portal.simulator import seed
from tests.portal_fixtures import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LONG_AGO = timedelta(hours=1)


def ended(export: Export) -> str | None:
    export.refresh_from_db()
    return export.status if export.is_terminal else None


NOTHING_DONE = {"resubmitted": 0, "repolled": 0, "unknown": 0}


def test_a_followed_export_that_names_no_next_poll_gets_one_and_is_polled_to_its_end(
    celery_worker_process, sim, alice, make_export
):
    # The job really runs in the cloud, but the row lost its next poll.
    job_id = get_client().export_image(seed.SMALL_CENTOS, "ims-exports:lost-poll.qcow2", "qcow2")
    export = make_export(alice, image_id=seed.SMALL_CENTOS, status=Status.SUBMITTED, job_id=job_id)

    assert reconcile_exports()["repolled"] == 1
    assert wait_for(lambda: ended(export), timeout=30) == Status.SUCCEEDED
    assert reconcile_exports() == NOTHING_DONE


def test_a_long_overdue_poll_needs_no_repair_the_poll_chains_take_it(
    celery_worker_process, sim, alice, make_export
):
    job_id = get_client().export_image(seed.SMALL_UBUNTU, "ims-exports:late-poll.qcow2", "qcow2")
    export = make_export(
        alice,
        image_id=seed.SMALL_UBUNTU,
        status=Status.SUBMITTED,
        job_id=job_id,
        next_poll_at=timezone.now() - LONG_AGO,
    )
    assert reconcile_exports()["repolled"] == 0
    assert wait_for(lambda: ended(export), timeout=30) == Status.SUCCEEDED


def test_a_queued_export_whose_submit_was_lost_is_submitted_once(
    celery_worker_process, sim, alice, make_export
):
    export = make_export(alice, image_id=seed.SMALL_UBUNTU, object_name="lost-submit.qcow2")
    Export.objects.filter(pk=export.pk).update(updated_at=timezone.now() - LONG_AGO)

    assert reconcile_exports()["resubmitted"] == 1
    assert wait_for(lambda: ended(export), timeout=30) == Status.SUCCEEDED
    accepted = [
        r for r in sim.control.requests(method="POST", path_contains="/file") if r["status"] == 200
    ]
    assert len(accepted) == 1


def test_an_export_stuck_in_submitting_becomes_unknown_and_is_never_posted_again(
    celery_worker_process, sim, alice, make_export
):
    export = make_export(alice, status=Status.SUBMITTING)
    Export.objects.filter(pk=export.pk).update(submitting_at=timezone.now() - LONG_AGO)

    assert reconcile_exports()["unknown"] == 1
    export.refresh_from_db()
    assert export.status == Status.UNKNOWN
    assert "may or may not" in export.error_message
    assert sim.control.requests(method="POST", path_contains="/file") == []


def test_a_fresh_export_is_left_alone(celery_worker_process, sim, alice, make_export):
    make_export(alice)  # queued a moment ago: its submit task is still on its way
    assert reconcile_exports() == NOTHING_DONE


def test_a_succeeded_export_whose_object_check_is_long_overdue_is_checked(
    celery_worker_process, sim, alice, make_export
):
    sim.control.put_object("ims-exports", "lost-check.qcow2", size=2048)
    export = make_export(
        alice,
        object_name="lost-check.qcow2",
        status=Status.SUCCEEDED,
        verification=Verification.PENDING,
        verify_due_at=timezone.now() - LONG_AGO,
    )
    assert reconcile_exports() == NOTHING_DONE
    wait_for(lambda: Export.objects.get(pk=export.pk).is_verified, timeout=30)
    assert Export.objects.get(pk=export.pk).object_size == 2048
