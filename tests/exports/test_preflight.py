"""The pre-flight and the bucket picker against the simulator's OBS over HTTP: every
outcome of every check, as the form (the submit) and the as-you-type check see it, and what
the page shows when OBS cannot be reached, refuses, or the cache is broken."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from django.urls import reverse

from ims_portal.audit.models import Action, AuditEvent
from ims_portal.exports import preflight, rules
from ims_portal.exports.cloud_access import bucket_choices
from ims_portal.exports.forms import ExportForm
from ims_portal.exports.models import Export, Status
from ims_portal.simulator import seed
from tests.portal_fixtures import export_form_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloud")]

Check, Verdict = rules.Check, rules.Verdict


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def verdicts(found: preflight.Preflight) -> dict[str, str]:
    return {finding.check.name: finding.verdict for finding in found}


def form_for(**fields: str) -> ExportForm:
    form = ExportForm(export_form_data(**fields))
    form.is_valid()
    return form


def test_a_standard_bucket_in_the_region_and_a_new_object_pass_every_check():
    form = form_for(bucket="ims-exports", file_name="fresh.qcow2")
    assert form.is_valid(), form.errors
    assert form.preflight is not None
    assert set(verdicts(form.preflight).values()) == {Verdict.PASSED}
    assert "Standard storage" in form.preflight.finding(Check.STORAGE_CLASS).message


def test_a_bucket_that_does_not_exist_is_a_bucket_error_and_the_rest_is_not_checked():
    form = form_for(bucket=seed.NO_SUCH_BUCKET, file_name="fresh.qcow2")
    assert verdicts(form.preflight) == {
        Check.BUCKET_VISIBLE: Verdict.FAILED,
        Check.STORAGE_CLASS: Verdict.SKIPPED,
        Check.REGION: Verdict.SKIPPED,
        Check.OBJECT_ABSENT: Verdict.SKIPPED,
    }
    assert form.errors["bucket"] == [
        f"No bucket named {seed.NO_SUCH_BUCKET} exists. Check the spelling, or create it in "
        "region eu-de with Standard storage."
    ]
    assert "file_name" not in form.errors


@pytest.mark.parametrize(
    ("bucket", "console_name"),
    [("archive-class-bucket", "Archive"), ("warm-class-bucket", "Infrequent Access")],
)
def test_a_bucket_that_is_not_standard_is_refused_with_the_console_name_of_its_class(
    bucket, console_name
):
    form = form_for(bucket=bucket, file_name="fresh.qcow2")
    assert verdicts(form.preflight)[Check.STORAGE_CLASS] == Verdict.FAILED
    [error] = form.errors["bucket"]
    assert error.startswith(
        f"The bucket {bucket} is {console_name} storage: IMS writes only to Standard buckets."
    )
    assert "make Standard the bucket's default storage class" in error
    # The object is still looked for: the bucket is in the right region.
    assert verdicts(form.preflight)[Check.OBJECT_ABSENT] == Verdict.PASSED


def test_a_bucket_in_another_region_is_refused_with_both_regions():
    form = form_for(bucket="other-region-bucket", file_name="fresh.qcow2")
    assert verdicts(form.preflight)[Check.REGION] == Verdict.FAILED
    assert verdicts(form.preflight)[Check.OBJECT_ABSENT] == Verdict.SKIPPED
    assert form.errors["bucket"] == [
        "The bucket other-region-bucket is in eu-nl: the image is in eu-de. "
        "Choose a bucket in eu-de, or create one there."
    ]


def test_an_object_that_exists_is_a_file_name_error_with_the_first_free_name(cloud):
    form = form_for(bucket="ims-exports", file_name="existing.qcow2")
    finding = form.preflight.finding(Check.OBJECT_ABSENT)
    assert finding.failed and finding.free_name == "existing-2.qcow2"
    assert form.errors["file_name"] == [
        "existing.qcow2 already exists in the bucket ims-exports. "
        "Use existing-2.qcow2, which is free, or delete the object in OBS first."
    ]
    cloud.control.put_object("ims-exports", "existing-2.qcow2", size=10)
    again = form_for(bucket="ims-exports", file_name="existing.qcow2")
    assert again.preflight.finding(Check.OBJECT_ABSENT).free_name == "existing-3.qcow2"


def test_an_object_an_export_is_under_way_to_is_taken_too(alice, make_export):
    busy = make_export(alice, bucket="ims-exports", object_name="soon.qcow2", status=Status.RUNNING)
    form = ExportForm(export_form_data(file_name="soon.qcow2"), owner_id=alice.pk)
    assert not form.is_valid()
    finding = form.preflight.finding(Check.OBJECT_ABSENT)
    assert finding.message == f"soon.qcow2 will exist: export #{busy.pk} is under way to it."
    assert finding.free_name == "soon-2.qcow2"


def test_a_bucket_obs_refuses_to_describe_could_not_be_verified_and_does_not_block():
    form = form_for(bucket="finance-restricted", file_name="fresh.qcow2")
    assert form.is_valid(), form.errors
    assert {verdicts(form.preflight)[c] for c in (Check.BUCKET_VISIBLE, Check.REGION)} == {
        Verdict.UNVERIFIED
    }
    line = form.preflight.finding(Check.BUCKET_VISIBLE).message
    assert line.startswith("Could not verify: OBS refused to answer")
    assert "403" in line and line.endswith("You can still submit; IMS will decide.")


@pytest.mark.parametrize("fault", ["obs_down", "obs_forbidden"])
def test_with_obs_down_or_refusing_every_check_could_not_be_verified_and_the_form_is_valid(
    cloud, fault
):
    getattr(cloud.control, fault)()
    form = form_for(bucket="archive-class-bucket", file_name="existing.qcow2")
    assert form.is_valid(), form.errors
    assert set(verdicts(form.preflight).values()) == {Verdict.UNVERIFIED}


def test_a_submit_stopped_by_the_pre_flight_never_reaches_ims(as_alice, cloud):
    response = as_alice.post(
        reverse("exports:new"), export_form_data(bucket="archive-class-bucket")
    )
    assert response.status_code == 422
    assert not Export.objects.exists()
    html = response.content.decode()
    assert "OBS bucket: The bucket archive-class-bucket is Archive storage" in html  # the summary
    assert 'class="finding verdict-failed" data-check="storage-class"' in html
    assert cloud.control.requests(method="POST", path_contains="/file") == []
    refusal = AuditEvent.objects.get(action=Action.EXPORT_INVALID)
    assert refusal.details["preflight"][Check.STORAGE_CLASS] == Verdict.FAILED


def test_a_submit_with_obs_down_goes_through_and_records_what_could_not_be_verified(
    as_alice, cloud, django_capture_on_commit_callbacks
):
    cloud.control.obs_down()
    with django_capture_on_commit_callbacks():
        response = as_alice.post(reverse("exports:new"), export_form_data())
    assert response.status_code == 302
    export = Export.objects.get()
    requested = AuditEvent.objects.get(action=Action.EXPORT_REQUESTED, target_id=str(export.pk))
    assert set(requested.details["preflight"].values()) == {Verdict.UNVERIFIED}


def test_the_as_you_type_check_answers_the_field_the_pre_flight_and_the_other_field(as_alice):
    data = export_form_data(bucket="ims-exports", file_name="existing.qcow2")
    response = as_alice.post(reverse("exports:check_field", args=["bucket"]), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="field-errors" id="errors-bucket"')
    assert '<section id="preflight" class="preflight"' in html and 'hx-swap-oob="true"' in html
    # The file name's message comes along out of band: a new bucket changes what it says.
    assert re.search(r'id="errors-file_name"[^>]*hx-swap-oob="true"', html)
    assert "existing.qcow2 already exists in the bucket ims-exports" in html
    assert 'data-file-name="existing-2.qcow2"' in html


def test_the_as_you_type_check_of_the_format_does_not_ask_obs(as_alice, cloud):
    cloud.control.clear_requests()
    response = as_alice.post(
        reverse("exports:check_field", args=["file_format"]), export_form_data()
    )
    assert response.status_code == 200 and 'id="preflight"' not in response.content.decode()
    assert cloud.control.requests(service="obs") == []


def test_the_as_you_type_check_never_fails_when_obs_is_down(as_alice, cloud):
    cloud.control.obs_down()
    response = as_alice.post(reverse("exports:check_field", args=["file_name"]), export_form_data())
    assert response.status_code == 200
    assert "Could not verify: OBS could not be reached" in response.content.decode()


# --- the picker ------------------------------------------------------------------------------


def test_the_picker_lists_usable_buckets_first_and_the_others_disabled_with_the_reason():
    choices = bucket_choices("eu-de").choices
    names = [choice.bucket.name for choice in choices]
    usable = [c.bucket.name for c in choices if c.usable and c.storage_class]
    assert usable == ["image-backups", "ims-exports", "vm-migration-staging"]
    assert names[: len(usable)] == usable
    assert "partner-shared-images" not in names  # another account's: never listed
    reasons = {c.bucket.name: c.reason for c in choices}
    assert reasons["archive-class-bucket"] == "Archive storage: IMS writes only to Standard buckets"
    assert reasons["compliance-archive"] == reasons["archive-class-bucket"]
    assert reasons["warm-class-bucket"].startswith("Infrequent Access storage")
    assert reasons["other-region-bucket"] == "in eu-nl: the image is in eu-de"
    # Listed, but its class could not be read: choosable, after the ones known to be usable.
    assert reasons["finance-restricted"] == ""
    assert names.index("finance-restricted") == len(usable)
    assert [c.usable for c in choices] == sorted((c.usable for c in choices), reverse=True)


def test_the_new_export_page_renders_the_picker_with_disabled_rows_and_their_reasons(as_alice):
    html = as_alice.get(reverse("exports:new")).content.decode()
    assert '<fieldset id="bucket-picker"' in html
    assert re.search(r'value="ims-exports" id="bucket-ims-exports"\s+aria-describedby', html)
    archive = re.search(
        r'<input type="radio" name="bucket_pick" value="archive-class-bucket"[^>]*>', html
    )
    assert archive and "disabled" in archive.group(0)
    assert "Archive storage: IMS writes only to Standard buckets" in html
    assert "in eu-nl: the image is in eu-de" in html


def test_the_bucket_list_is_cached_and_the_refresh_link_reads_it_again(as_alice, cloud):
    def list_calls() -> int:
        """Lists OBS answered (a first refusal of keys from before the reset aside)."""
        calls = cloud.control.requests(method="GET", service="obs")
        return len([r for r in calls if r["path"] == "/" and r["status"] == 200])

    as_alice.get(reverse("exports:new"))
    as_alice.get(reverse("exports:bucket_picker"), {"image": seed.SMALL_CENTOS})
    assert list_calls() == 1
    response = as_alice.get(reverse("exports:bucket_picker"), {"refresh": "1"})
    assert response.status_code == 200 and list_calls() == 2
    assert response.content.decode().lstrip().startswith("<fieldset")


# A cache backend that raises (not the portal's django-redis, whose errors are misses):
# the bucket list's own guard is what is tested, so the session is kept out of the cache.
@override_settings(
    CACHES={"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": "redis://127.0.0.1:1/0"}},
    SESSION_ENGINE="django.contrib.sessions.backends.db",
)  # fmt: skip
def test_a_cache_that_does_not_answer_is_passed_by_and_the_list_read_from_obs(as_alice):
    response = as_alice.get(reverse("exports:new"))
    assert response.status_code == 200
    assert 'value="ims-exports"' in response.content.decode()


def test_an_account_that_may_not_list_buckets_is_told_so_and_types_the_name(as_alice, cloud):
    cloud.control.obs_forbidden()
    response = as_alice.get(reverse("exports:new"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "The portal's account may not list buckets" in html
    assert 'name="bucket"' in html and 'name="bucket_pick"' not in html


def test_obs_down_leaves_a_typed_name_and_a_note_not_an_error_page(as_alice, cloud):
    cloud.control.obs_down()
    response = as_alice.get(reverse("exports:new"))
    assert response.status_code == 200
    assert (
        "The bucket list could not be loaded (OBS could not be reached" in response.content.decode()
    )


# --- IMS's own refusal, explained by the pre-flight run again ------------------------------


def refused(alice, make_export, **fields) -> Export:
    """An export that reached IMS without the form's pre-flight (as one could while OBS
    did not answer), submitted in this process."""
    from ims_portal.exports.tasks import submit_export

    export = make_export(alice, image_id=seed.SMALL_CENTOS, **fields)
    submit_export(export.pk)
    return Export.objects.get(pk=export.pk)


def test_an_ims_refusal_of_the_bucket_names_the_one_cause_obs_shows(alice, make_export):
    export = refused(alice, make_export, bucket="archive-class-bucket", object_name="a.qcow2")
    assert export.status == Status.REJECTED and export.error_code == rules.BUCKET_REFUSED
    assert export.error_message == (
        "The cloud cannot write to that bucket. The bucket archive-class-bucket is Archive "
        "storage: IMS writes only to Standard buckets."
    )
    assert export.error_remedy.startswith("Choose a Standard bucket")


def test_an_ims_refusal_of_the_object_names_it_and_a_free_name(alice, make_export):
    export = refused(alice, make_export, bucket="ims-exports", object_name="existing.qcow2")
    assert export.error_code == rules.OBJECT_EXISTS
    assert "existing.qcow2 already exists in the bucket ims-exports." in export.error_message
    assert export.error_remedy == (
        "Use existing-2.qcow2, which is free, or delete the object in OBS first."
    )


def test_with_obs_down_an_ims_refusal_keeps_the_catalogue_s_general_words(
    alice, make_export, cloud
):
    cloud.control.obs_down()
    export = refused(alice, make_export, bucket="other-region-bucket", object_name="a.qcow2")
    assert export.error_code == rules.BUCKET_REFUSED
    assert export.error_message == "The cloud cannot write to that bucket."
    assert "is a Standard bucket" in export.error_remedy  # the catalogue's remedy
