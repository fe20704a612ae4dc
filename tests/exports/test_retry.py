"""Export again…: the new-export form prefilled from an ended export, a free file name where
the old object is known to exist, and the retry linked both ways."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ims_portal.audit.models import Action, AuditEvent
from ims_portal.exports.models import Export, Status
from ims_portal.exports.retry import OBJECT_EXISTS, first_free_name, free_name, prefill_for
from ims_portal.simulator import seed
from tests.portal_fixtures import export_form_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloud")]


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def retry_url(export: Export) -> str:
    return f"{reverse('exports:new')}?retry={export.pk}"


def initial_of(response) -> dict[str, object]:
    form = response.context["form"]
    return {name: form[name].value() for name in ("image", "bucket", "file_name", "file_format")}


# --- free names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "taken", "free"),
    [
        ("web.qcow2", set(), "web.qcow2"),
        ("web.qcow2", {"web.qcow2"}, "web-2.qcow2"),
        ("web.qcow2", {"web.qcow2", "web-2.qcow2", "web-3.qcow2"}, "web-4.qcow2"),
        ("web.qcow2", {"web.qcow2", "web-3.qcow2"}, "web-2.qcow2"),  # the first free one
        ("images/db.vmdk", {"images/db.vmdk"}, "images/db-2.vmdk"),
        ("images.v1/db", {"images.v1/db"}, "images.v1/db-2"),  # a dot in the folder only
        ("web-2.qcow2", {"web.qcow2", "web-2.qcow2"}, "web-3.qcow2"),  # counts on
        ("db-2019.qcow2", {"db-2019.qcow2"}, "db-2019-2.qcow2"),  # a number of its own
    ],
)
def test_a_free_name_is_the_name_or_the_first_counted_one_not_taken(name, taken, free):
    assert free_name(name, taken) == free


# --- the prefill -----------------------------------------------------------------------------


def test_export_again_prefills_image_bucket_file_name_format_and_fast_export(
    as_alice, alice, make_export
):
    failed = make_export(
        alice,
        image_id=seed.SMALL_CENTOS,
        bucket="ims-exports",
        object_name="images/web.vmdk",
        file_format="vmdk",
        status=Status.FAILED,
    )
    response = as_alice.get(retry_url(failed))
    assert response.status_code == 200
    assert initial_of(response) == {
        "image": seed.SMALL_CENTOS,
        "bucket": "ims-exports",
        "file_name": "images/web.vmdk",  # a failed job wrote nothing: the same name is free
        "file_format": "vmdk",
    }
    assert response.context["form"]["quick"].value() is False
    html = response.content.decode()
    assert f'value="{seed.SMALL_CENTOS}"' in html and "checked" in html
    assert f"Exporting again what export #{failed.pk} (failed) asked for" in html


def test_a_fast_export_is_prefilled_as_fast_without_a_format(as_alice, alice, make_export):
    rejected = make_export(alice, quick=True, file_format="", status=Status.REJECTED)
    form = as_alice.get(retry_url(rejected)).context["form"]
    assert form["quick"].value() is True
    assert form["file_format"].value() == ""


def test_a_rejection_for_an_existing_object_suggests_the_next_free_name_and_says_why(
    as_alice, alice, make_export
):
    rejected = make_export(
        alice,
        object_name="web.qcow2",
        status=Status.REJECTED,
        error_code=OBJECT_EXISTS,
    )
    response = as_alice.get(retry_url(rejected))
    assert response.context["form"]["file_name"].value() == "web-2.qcow2"
    help_text = response.context["form"].fields["file_name"].help_text
    assert f"the cloud refused export #{rejected.pk} because it was already there" in help_text
    assert "IMG.0070" in help_text and "web-2.qcow2 is suggested instead" in help_text
    assert "web-2.qcow2 is suggested instead" in response.content.decode()


def test_names_that_earlier_exports_wrote_or_may_have_written_are_skipped(
    as_alice, alice, bob, make_export
):
    make_export(alice, object_name="web-2.qcow2", status=Status.SUCCEEDED)
    make_export(bob, object_name="web-3.qcow2", status=Status.UNKNOWN)
    make_export(alice, object_name="web-4.qcow2", status=Status.ABANDONED)
    make_export(alice, object_name="web-5.qcow2", status=Status.RUNNING)
    make_export(alice, object_name="web-6.qcow2", status=Status.FAILED)  # wrote nothing
    make_export(alice, object_name="web-7.qcow2", status=Status.REJECTED, error_code="IMG.0069")
    unknown = make_export(alice, object_name="web.qcow2", status=Status.UNKNOWN)
    prefill = prefill_for(unknown)
    assert prefill.initial["file_name"] == "web-6.qcow2"
    assert f"the outcome of export #{unknown.pk} is unknown" in prefill.note


def test_an_object_another_export_wrote_is_named_without_its_number(alice, bob, make_export):
    theirs = make_export(bob, object_name="web.qcow2", status=Status.SUCCEEDED)
    mine = make_export(alice, object_name="web.qcow2", status=Status.CANCELLED)
    prefill = prefill_for(mine)
    assert prefill.initial["file_name"] == "web-2.qcow2"
    assert "an export by another user wrote it" in prefill.note
    assert f"#{theirs.pk}" not in prefill.note


def test_the_same_name_in_another_bucket_is_not_taken(alice, make_export):
    make_export(alice, bucket="other-bucket", object_name="web.qcow2", status=Status.SUCCEEDED)
    mine = make_export(alice, object_name="web.qcow2", status=Status.FAILED)
    prefill = prefill_for(mine)
    assert prefill.initial["file_name"] == "web.qcow2" and prefill.note == ""


def test_an_abandoned_export_suggests_a_free_name_because_its_job_may_still_write(
    alice, make_export
):
    abandoned = make_export(alice, object_name="web.qcow2", status=Status.ABANDONED)
    prefill = prefill_for(abandoned)
    assert prefill.initial["file_name"] == "web-2.qcow2"
    assert "was abandoned, and its cloud job may still have written it" in prefill.note


# --- who may retry what ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.RUNNING, Status.QUEUED])
def test_an_export_that_did_not_end_without_its_file_cannot_be_retried(
    as_alice, alice, make_export, status
):
    export = make_export(alice, status=status)
    assert as_alice.get(retry_url(export)).status_code == 404


def test_someone_elses_export_cannot_be_retried_and_the_attempt_is_audited(
    as_alice, alice, bob, make_export
):
    theirs = make_export(bob, status=Status.FAILED)
    assert as_alice.get(retry_url(theirs)).status_code == 404
    assert AuditEvent.objects.filter(action=Action.ACCESS_DENIED, target_id=theirs.pk).exists()


@pytest.mark.parametrize("junk", ["twelve", "", "-1", "²", "1" * 40])
def test_junk_in_retry_is_a_bad_request(as_alice, junk):
    assert as_alice.get(reverse("exports:new"), {"retry": junk}).status_code == 400


def test_an_auditor_cannot_retry(client, carol, alice, make_export):
    failed = make_export(alice, status=Status.FAILED)
    client.force_login(carol)
    assert client.get(retry_url(failed)).status_code == 403


# --- the retry, made and linked --------------------------------------------------------------


def test_the_export_made_from_a_retry_form_records_what_it_retries_and_both_pages_link(
    as_alice, alice, make_export, django_capture_on_commit_callbacks
):
    rejected = make_export(
        alice,
        image_id=seed.SMALL_CENTOS,
        object_name="web.qcow2",
        status=Status.REJECTED,
        error_code=OBJECT_EXISTS,
    )
    form = as_alice.get(retry_url(rejected)).context["form"]
    data = export_form_data(
        file_name=form["file_name"].value(), request_token=str(form["request_token"].value())
    )
    with django_capture_on_commit_callbacks():
        response = as_alice.post(reverse("exports:new"), data)
    retry = Export.objects.exclude(pk=rejected.pk).get()
    assert response["Location"] == retry.get_absolute_url()
    assert retry.retry_of == rejected
    assert retry.object_name == "web-2.qcow2"
    requested = AuditEvent.objects.get(action=Action.EXPORT_REQUESTED, target_id=retry.pk)
    assert requested.details["retry_of"] == rejected.pk

    retry_page = as_alice.get(retry.get_absolute_url()).content.decode()
    assert "Retry of" in retry_page and f'href="{rejected.get_absolute_url()}"' in retry_page
    original_page = as_alice.get(rejected.get_absolute_url()).content.decode()
    assert "Retried as" in original_page and f'href="{retry.get_absolute_url()}"' in original_page


def test_a_plain_new_export_is_no_retry(as_alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        as_alice.post(reverse("exports:new"), export_form_data())
    export = Export.objects.get()
    assert export.retry_of is None
    requested = AuditEvent.objects.get(action=Action.EXPORT_REQUESTED)
    assert "retry_of" not in requested.details


def test_a_refused_retry_form_still_retries_once_corrected(
    as_alice, alice, make_export, django_capture_on_commit_callbacks
):
    failed = make_export(alice, image_id=seed.SMALL_CENTOS, status=Status.FAILED)
    token = str(as_alice.get(retry_url(failed)).context["form"]["request_token"].value())
    refused = as_alice.post(
        reverse("exports:new"), export_form_data(bucket="", request_token=token)
    )
    assert refused.status_code == 422
    assert f"Exporting again what export #{failed.pk}" in refused.content.decode()
    with django_capture_on_commit_callbacks():
        as_alice.post(reverse("exports:new"), export_form_data(request_token=token))
    assert Export.objects.exclude(pk=failed.pk).get().retry_of == failed


def test_export_again_is_offered_to_the_owner_of_an_ended_export_only(
    as_alice, client, carol, alice, make_export
):
    failed = make_export(alice, status=Status.FAILED)
    succeeded = make_export(alice, status=Status.SUCCEEDED)
    assert retry_url(failed) in as_alice.get(failed.get_absolute_url()).content.decode()
    assert "Export again" not in as_alice.get(succeeded.get_absolute_url()).content.decode()
    client.force_login(carol)
    assert "Export again" not in client.get(failed.get_absolute_url()).content.decode()


class Asked:
    """A container that records each name it is asked about, as a bucket probed by HEAD."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken
        self.asked: list[str] = []

    def __contains__(self, name: object) -> bool:
        self.asked.append(str(name))
        return name in self.taken


def test_a_free_name_can_be_found_by_asking_name_by_name_and_gives_up_after_its_tries():
    bucket = Asked({"web.qcow2", "web-2.qcow2"})
    assert first_free_name("web.qcow2", bucket, tries=5) == "web-3.qcow2"
    assert bucket.asked == ["web.qcow2", "web-2.qcow2", "web-3.qcow2"]
    everything = Asked({"web.qcow2", *(f"web-{n}.qcow2" for n in range(2, 50))})
    assert first_free_name("web.qcow2", everything, tries=4) is None
    assert len(everything.asked) == 4
