"""An export with OBS in the picture, every part real (web view, PostgreSQL, Redis, a Celery
worker process, the simulator's IMS and OBS): it ends with its object verified; with OBS
down it still goes through and ends not verified; an object IMS reports written but OBS
never shows ends "succeeded — object not found"."""

from __future__ import annotations

import pytest

from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.exports.models import Export, Status, Verification
from ims_portal.simulator import seed
from tests.integration.test_export_flow import post_export
from tests.portal_fixtures import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def exporter(client, alice, cloud_settings, sim):
    client.force_login(alice)
    return client


def settled(export_id: int) -> Export | None:
    """The export once it has succeeded and its proof says something final for now."""
    export = Export.objects.get(pk=export_id)
    if export.status != Status.SUCCEEDED or export.proof == Verification.PENDING:
        return None
    return export


def test_a_succeeded_export_ends_with_its_object_verified_in_obs(
    exporter, celery_worker_process, sim
):
    response = post_export(exporter, seed.SMALL_CENTOS)
    assert response.status_code == 302
    export = wait_for(lambda: settled(Export.objects.get().pk), timeout=60)
    assert export.is_verified
    written = sim.control.object_details()["ims-exports"][export.object_name]
    assert export.object_size == written["size"] > 0
    assert export.object_etag == written["etag"].strip('"')
    assert export.verified_at >= export.finished_at
    event = AuditEvent.objects.get(action=Action.EXPORT_VERIFIED, target_id=str(export.pk))
    assert event.details["object_size"] == export.object_size
    assert event.details["object_etag"] == export.object_etag


@pytest.mark.slow_fault
def test_with_obs_down_the_export_still_goes_through_and_ends_not_verified(
    exporter, celery_worker_process, sim
):
    sim.control.obs_down()
    response = post_export(exporter, seed.SMALL_CENTOS)
    assert response.status_code == 302  # the pre-flight could not verify: IMS decides
    export = wait_for(lambda: settled(Export.objects.get().pk), timeout=90)
    assert export.is_unverified and export.is_being_verified  # checked again later
    assert "OBS could not be reached" in export.verification_note
    assert AuditEvent.objects.filter(
        action=Action.EXPORT_NOT_VERIFIED, target_id=str(export.pk)
    ).exists()
    # IMS did write the object: once OBS is back, the next check proves it.
    sim.control.clear_faults()
    export = wait_for(
        lambda: Export.objects.filter(pk=export.pk, verification=Verification.VERIFIED).first(),
        timeout=60,
    )
    assert export.object_size and export.object_etag


def test_an_object_ims_reports_written_but_obs_never_shows_ends_not_found(
    exporter, celery_worker_process, sim
):
    sim.control.configure(export_object="missing")
    post_export(exporter, seed.SMALL_CENTOS)
    export = wait_for(lambda: settled(Export.objects.get().pk), timeout=60)
    assert export.status == Status.SUCCEEDED and export.is_object_missing
    assert export.verify_misses >= 2  # checked again before saying so
    event = AuditEvent.objects.get(action=Action.EXPORT_OBJECT_NOT_FOUND, target_id=str(export.pk))
    assert event.outcome == Outcome.FAILURE
