"""The bucket picker, the pre-flight and the proof in a browser: a bucket picked from the
list, an Archive bucket disabled with its reason, an existing object refused with a free
name offered, the free name taken by itself where the page suggested the file name, and an
export that ends "Verified in OBS"."""

from __future__ import annotations

import pytest

from ims_portal.exports import rules
from ims_portal.simulator import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STEM = rules.file_name_stem("web-frontend-centos7-2025-01")  # seed.SMALL_CENTOS's name


def finding(page, check: str) -> str:
    return f"#preflight .finding[data-check='{check}']"


def test_a_bucket_is_picked_an_existing_object_refused_with_a_free_name_and_the_export_verified(
    new_export_page, celery_worker_process, sim
):
    page = new_export_page
    page.check(f"#image-{seed.SMALL_CENTOS}")
    page.select_option("#id_file_format", "qcow2")

    # An Archive bucket is listed, disabled, with the reason beside it.
    archive = page.locator("input[name=bucket_pick][value='archive-class-bucket']")
    assert archive.is_disabled()
    reason = page.text_content("#bucket-archive-class-bucket-export")
    assert reason.strip() == "Archive storage: IMS writes only to Standard buckets"
    other = page.text_content("#bucket-other-region-bucket-export")
    assert other.strip() == "in eu-nl: the image is in eu-de"

    # Picking a bucket fills the field, and OBS is asked about it.
    page.check("#bucket-ims-exports")
    assert page.input_value("#id_bucket") == "ims-exports"
    page.wait_for_selector(f"{finding(page, 'storage-class')}.verdict-passed")
    assert "Passed" in page.text_content(finding(page, "region"))

    # An object that exists: a failure on the file name, with a free name to use.
    page.fill("#id_file_name", "existing.qcow2")
    page.wait_for_selector(f"{finding(page, 'object-absent')}.verdict-failed")
    line = page.text_content(finding(page, "object-absent"))
    assert "existing.qcow2 already exists in the bucket ims-exports" in line
    assert "Use existing-2.qcow2, which is free" in line
    assert "existing-2.qcow2" in page.text_content("#errors-file_name")
    page.click("button.use-name")
    assert page.input_value("#id_file_name") == "existing-2.qcow2"
    page.wait_for_selector(f"{finding(page, 'object-absent')}.verdict-passed")
    assert page.text_content("#errors-file_name").strip() == ""

    page.click("button.primary")
    page.wait_for_selector("#export-status")
    page.wait_for_selector("#export-verification[data-verification='verified']", timeout=60_000)
    proof = page.text_content("#export-verification")
    assert "Verified in OBS:" in proof and "ETag" in proof and "UTC" in proof
    written = sim.control.object_details()["ims-exports"]["existing-2.qcow2"]
    assert written["etag"].strip('"') in proof
    assert page.csp_violations == []


def test_the_suggested_file_name_is_free_in_the_chosen_bucket(new_export_page, sim):
    page = new_export_page
    sim.control.put_object("ims-exports", f"{STEM}.qcow2", size=10)
    page.check(f"#image-{seed.SMALL_CENTOS}")
    page.select_option("#id_file_format", "qcow2")
    assert page.input_value("#id_file_name") == f"{STEM}.qcow2"
    page.check("#bucket-ims-exports")
    page.wait_for_function(
        "name => document.getElementById('id_file_name').value === name", arg=f"{STEM}-2.qcow2"
    )
    page.wait_for_selector(f"{finding(page, 'object-absent')}.verdict-passed")
    note = page.text_content("#file-name-note")
    assert f"{STEM}.qcow2 already exists" in note and f"{STEM}-2.qcow2 is suggested" in note
    assert page.csp_violations == []


def test_a_typed_name_is_checked_and_an_unlisted_account_falls_back_to_it(new_export_page, sim):
    page = new_export_page
    page.fill("#id_bucket", "warm-class-bucket")
    page.wait_for_selector(f"{finding(page, 'storage-class')}.verdict-failed")
    assert "Infrequent Access storage" in page.text_content("#errors-bucket")
    # Typing a listed, usable name checks its row.
    page.fill("#id_bucket", "image-backups")
    assert page.is_checked("#bucket-image-backups")

    sim.control.obs_forbidden()
    page.click("#bucket-picker .refresh")
    page.wait_for_selector("#buckets-error")
    assert "may not list buckets" in page.text_content("#buckets-error")
    page.fill("#id_bucket", "ims-exports")
    page.wait_for_selector(f"{finding(page, 'bucket-visible')}.verdict-unverified")
    assert "Could not verify" in page.text_content(finding(page, "bucket-visible"))
    assert page.csp_violations == []
