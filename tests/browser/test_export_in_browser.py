"""A person in a browser: sign in, get instant messages, export, watch it end, find it."""

from __future__ import annotations

import uuid

import pytest

from ims_portal.simulator import seed
from tests.browser.conftest import start_export

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_bad_bucket_name_is_flagged_while_typing(new_export_page):
    page = new_export_page
    page.fill("#id_bucket", "My_Bucket")
    page.wait_for_selector("#errors-bucket .error")
    assert "lowercase" in page.text_content("#errors-bucket")
    assert "/new/" in page.url  # nothing was submitted
    assert page.evaluate("document.getElementById('id_bucket').validity.valid") is False
    assert page.csp_violations == []


def test_turning_on_fast_export_clears_and_locks_the_format(new_export_page):
    page = new_export_page
    page.check(f"#image-{seed.SMALL_CENTOS}")
    page.select_option("#id_file_format", "qcow2")
    page.check("#id_quick")
    assert page.input_value("#id_file_format") == ""
    assert page.is_disabled("#id_file_format")
    assert "ZVHD2" in page.text_content("#format-note")


def test_an_image_of_128_gb_or_more_forces_fast_export(new_export_page):
    page = new_export_page
    big = page.locator("input[name=image][data-requires-quick=true]:not([disabled])").first
    big.check()
    assert page.is_checked("#id_quick")
    assert page.is_disabled("#id_file_format")


def test_an_encrypted_image_forbids_fast_export(new_export_page):
    page = new_export_page
    page.check(f"#image-{seed.ENCRYPTED}")
    assert not page.is_checked("#id_quick")
    assert page.is_disabled("#id_quick")
    assert "Encrypted" in page.text_content("#quick-note")


def test_a_file_extension_that_disagrees_with_the_format_earns_a_warning(new_export_page):
    page = new_export_page
    page.select_option("#id_file_format", "qcow2")
    page.fill("#id_file_name", "web.vmdk")
    assert page.is_visible("#file-name-warning")
    assert ".vmdk" in page.text_content("#file-name-warning")
    page.fill("#id_file_name", "web.qcow2")
    assert page.is_hidden("#file-name-warning")


def test_an_export_is_submitted_progresses_live_to_done_and_appears_in_history(
    new_export_page, live_server, celery_worker_process, sim
):
    page = new_export_page
    sim.control.configure(speed=6)  # a few seconds for a small image: long enough to watch
    file_name = f"browser-{uuid.uuid4().hex[:8]}.qcow2"
    start_export(page, file_name=file_name)
    detail_url = page.url
    page.evaluate("window.notReloaded = true")

    seen = set()
    for _ in range(150):
        seen.add(page.get_attribute("#export-progress", "value"))
        if page.get_attribute("#export-status", "data-status") == "succeeded":
            break
        page.wait_for_timeout(200)
    assert page.get_attribute("#export-status", "data-status") == "succeeded"
    assert page.get_attribute("#export-progress", "value") == "100"
    assert len(seen) >= 2, f"the bar never moved: {seen}"
    assert page.url == detail_url
    assert page.evaluate("window.notReloaded") is True  # live, without a reload
    assert page.get_attribute("#export-status", "hx-trigger") is None  # polling stopped

    page.click("text=History")
    page.wait_for_selector(f"text={file_name}")
    assert page.csp_violations == []
