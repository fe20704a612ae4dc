"""The proof of a succeeded export: what each answer of OBS does to the export's
verification (`verification.record`), and the check itself against the simulator's OBS over
HTTP (`poller.check`, which the poll chains run)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.cloud import ConnectionFailed, ObjectInfo, PermissionDenied
from ims_portal.exports import verification
from ims_portal.exports.models import Export, Status, TransitionConflict, Verification

pytestmark = pytest.mark.django_db

MODIFIED = datetime(2026, 3, 2, 10, 15, 7, tzinfo=UTC)


@pytest.fixture(autouse=True)
def quick_checks(settings):
    settings.EXPORT_VERIFY_TRIES = 3
    settings.EXPORT_VERIFY_DELAY = 2.0
    settings.EXPORT_VERIFY_RETRY_AFTER = 60.0
    settings.EXPORT_VERIFY_UNREACHABLE_TRIES = 2


@pytest.fixture
def succeeded(alice, make_export):
    """An export IMS has just reported succeeded: its first check is due."""
    return make_export(
        alice, status=Status.SUCCEEDED, job_id="job-proof", finished_at=timezone.now(),
        **verification.start(),
    )  # fmt: skip


def proof_events(export: Export) -> list[AuditEvent]:
    actions = {Action.EXPORT_VERIFIED, Action.EXPORT_OBJECT_NOT_FOUND, Action.EXPORT_NOT_VERIFIED}
    return list(
        AuditEvent.objects.for_target("export", export.pk).filter(action__in=actions).order_by("id")
    )


def test_an_object_with_bytes_is_verified_with_its_size_etag_and_time_as_evidence(succeeded):
    now = timezone.now()
    found = ObjectInfo(
        size=6_549_381_120, etag="9b2cf535f27731c974343645a3985328", last_modified=MODIFIED
    )
    verification.record(succeeded, found, now)

    stored = Export.objects.get(pk=succeeded.pk)
    assert stored.status == Status.SUCCEEDED  # the status is IMS's word and stays
    assert stored.proof == Verification.VERIFIED and stored.is_verified
    assert (stored.object_size, stored.object_etag) == (6_549_381_120, found.etag)
    assert stored.object_last_modified == MODIFIED and stored.verified_at == now
    assert stored.verify_due_at is None and not stored.is_being_verified
    [event] = proof_events(stored)
    assert (event.action, event.outcome) == (Action.EXPORT_VERIFIED, Outcome.SUCCESS)
    assert event.details["object_size"] == 6_549_381_120
    assert event.details["object_etag"] == found.etag
    assert event.details["object_last_modified"].startswith("2026-03-02T10:15:07")
    assert event.details["bucket_url"] == stored.bucket_url


@pytest.mark.parametrize(
    "answer",
    [None, ObjectInfo(size=0, etag="d41d8cd98f00b204e9800998ecf8427e", last_modified=MODIFIED)],
    ids=["missing", "empty"],
)
def test_a_missing_or_empty_object_is_checked_again_with_back_off_then_marked_not_found(
    succeeded, answer
):
    now = timezone.now()
    verification.record(succeeded, answer, now)
    first = Export.objects.get(pk=succeeded.pk)
    assert first.proof == Verification.PENDING and first.verify_misses == 1
    assert first.verify_due_at == now + timedelta(seconds=2)
    assert proof_events(first) == []  # still checking: nothing to audit yet

    verification.record(first, answer, now)
    second = Export.objects.get(pk=succeeded.pk)
    assert second.verify_due_at == now + timedelta(seconds=4)  # the delay doubles

    verification.record(second, answer, now)
    last = Export.objects.get(pk=succeeded.pk)
    assert last.proof == Verification.NOT_FOUND and last.is_object_missing
    assert last.status == Status.SUCCEEDED and last.verify_due_at is None
    assert "3 checks" in last.verification_note
    [event] = proof_events(last)
    assert (event.action, event.outcome) == (Action.EXPORT_OBJECT_NOT_FOUND, Outcome.FAILURE)
    assert event.details["verify_misses"] == 3


def test_obs_not_answering_leaves_the_export_not_verified_and_checks_again_later(succeeded):
    now = timezone.now()
    down = ConnectionFailed("connection refused", method="HEAD", path="/web-01.qcow2")
    verification.record(succeeded, down, now)
    stored = Export.objects.get(pk=succeeded.pk)
    assert stored.proof == Verification.NOT_VERIFIED and stored.is_unverified
    assert stored.verify_due_at == now + timedelta(seconds=60)
    assert "could not be reached" in stored.verification_note
    [event] = proof_events(stored)
    assert (event.action, event.outcome) == (Action.EXPORT_NOT_VERIFIED, Outcome.UNKNOWN)

    # Refused this time: still not verified, not audited twice, and the last try.
    verification.record(stored, PermissionDenied("Forbidden", status=403), now)
    stored = Export.objects.get(pk=succeeded.pk)
    assert stored.proof == Verification.NOT_VERIFIED and stored.verify_due_at is None
    assert "403" in stored.verification_note
    assert len(proof_events(stored)) == 1


def test_obs_back_after_an_outage_verifies_the_object(succeeded):
    now = timezone.now()
    verification.record(succeeded, ConnectionFailed("down"), now)
    stored = Export.objects.get(pk=succeeded.pk)
    verification.record(stored, ObjectInfo(size=10, etag="e", last_modified=MODIFIED), now)
    stored = Export.objects.get(pk=succeeded.pk)
    assert stored.is_verified
    assert [e.action for e in proof_events(stored)] == [
        Action.EXPORT_NOT_VERIFIED,
        Action.EXPORT_VERIFIED,
    ]


def test_a_check_loaded_before_another_one_wrote_writes_nothing(succeeded):
    stale = Export.objects.get(pk=succeeded.pk)
    verification.record(succeeded, ObjectInfo(size=10, etag="e", last_modified=MODIFIED))
    with pytest.raises(TransitionConflict):
        verification.record(stale, None)
    assert Export.objects.get(pk=succeeded.pk).is_verified


def test_an_export_that_succeeded_before_objects_were_checked_shows_not_verified(
    alice, make_export
):
    legacy = make_export(alice, status=Status.SUCCEEDED)
    assert legacy.proof == Verification.LEGACY and not legacy.is_being_verified
    assert make_export(alice, status=Status.RUNNING).proof == Verification.NONE


# --- the check itself, against the simulator's OBS over HTTP --------------------------------


@pytest.fixture
def checked(cloud, succeeded):
    """Run the check that is due for `succeeded` in this thread; return the export."""
    from ims_portal.exports import poller

    def check() -> Export:
        poller.check(Export.objects.get(pk=succeeded.pk))
        return Export.objects.get(pk=succeeded.pk)

    return check


def test_the_check_records_the_object_as_obs_describes_it(cloud, succeeded, checked):
    cloud.control.put_object(
        "ims-exports", succeeded.object_name, size=7_000_000_000,
        etag="0f343b0931126a20f133d67c2b018a3b-14", last_modified="2026-03-02T10:15:07Z",
    )  # fmt: skip
    export = checked()
    assert export.is_verified
    assert (export.object_size, export.object_etag) == (
        7_000_000_000,
        "0f343b0931126a20f133d67c2b018a3b-14",
    )
    assert export.object_last_modified == MODIFIED.replace(second=7)
    [head] = [r for r in cloud.control.requests(method="HEAD", service="obs") if r["status"] == 200]
    assert head["path"] == f"/ims-exports/{succeeded.object_name}"


def test_a_missing_object_is_checked_again_then_found_not_to_be_there(cloud, succeeded, checked):
    states = [checked().proof for _ in range(3)]
    assert states == [Verification.PENDING, Verification.PENDING, Verification.NOT_FOUND]
    assert proof_events(Export.objects.get(pk=succeeded.pk))[0].details["verify_misses"] == 3


def test_an_object_that_appears_before_the_checks_run_out_is_verified(cloud, succeeded, checked):
    assert checked().proof == Verification.PENDING
    cloud.control.put_object("ims-exports", succeeded.object_name, size=123)
    assert checked().is_verified


def test_obs_down_leaves_the_export_not_verified_with_a_check_later(cloud, succeeded, checked):
    cloud.control.obs_down()
    export = checked()
    assert export.is_unverified and export.is_being_verified
    assert "OBS could not be reached" in export.verification_note
    cloud.control.clear_faults()
    cloud.control.put_object("ims-exports", succeeded.object_name, size=123)
    assert checked().is_verified


def test_a_check_not_due_yet_is_not_taken(cloud, succeeded):
    from ims_portal.exports import poller

    Export.objects.filter(pk=succeeded.pk).update(
        verify_due_at=timezone.now() + timedelta(seconds=30)
    )
    assert poller.poll_due() == 0
    assert Export.objects.get(pk=succeeded.pk).verify_misses == 0
    assert cloud.control.requests(method="HEAD", service="obs") == []


def test_a_check_loaded_before_another_check_wrote_writes_nothing(cloud, succeeded):
    from ims_portal.exports import poller

    stale = Export.objects.get(pk=succeeded.pk)
    poller.check(Export.objects.get(pk=succeeded.pk))
    written = Export.objects.get(pk=succeeded.pk)
    poller.check(stale)
    assert Export.objects.get(pk=succeeded.pk).verify_unreachable == written.verify_unreachable
