"""Retry and abandon in a browser: an export the cloud refused because the file exists is
exported again under a free name; a running export is abandoned with a reason, which its
page then shows in the audit timeline."""

from __future__ import annotations

import pytest

from ims_portal.exports.models import Export, Status
from ims_portal.simulator import seed
from tests.browser.conftest import start_export

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXISTING = "existing.qcow2"  # already in the simulator's ims-exports bucket


def wait_for_status(page, wanted: str, tries: int = 300) -> None:
    for _ in range(tries):
        if page.get_attribute("#export-status", "data-status") == wanted:
            return
        page.wait_for_timeout(200)
    assert page.get_attribute("#export-status", "data-status") == wanted


def test_a_refused_export_is_exported_again_under_a_suggested_free_name(
    new_export_page, live_server, celery_worker_process, sim
):
    page = new_export_page
    # OBS refuses to answer the pre-flight, which then lets the export through to IMS.
    sim.control.obs_forbidden()
    start_export(page, file_name=EXISTING)
    wait_for_status(page, "rejected")
    sim.control.clear_faults()
    original_url = page.url

    page.click("text=Export again…")
    page.wait_for_selector("#export-form")
    assert page.is_checked(f"#image-{seed.SMALL_CENTOS}")
    assert page.input_value("#id_bucket") == "ims-exports"
    assert page.input_value("#id_file_format") == "qcow2"
    assert not page.is_checked("#id_quick")
    assert page.input_value("#id_file_name") == "existing-2.qcow2"
    note = page.text_content(".field:has(#id_file_name) .help")
    assert "IMG.0070" in note and "existing-2.qcow2 is suggested instead" in note

    page.click("button.primary")
    page.wait_for_selector("#export-status")
    wait_for_status(page, "succeeded")
    retry = Export.objects.get(object_name="existing-2.qcow2")
    assert page.get_attribute("text=Retry of >> xpath=following-sibling::dd[1]/a", "href") == (
        retry.retry_of.get_absolute_url()
    )
    page.goto(original_url)
    page.click(f"a[href='{retry.get_absolute_url()}']")
    page.wait_for_url(f"{live_server.url}{retry.get_absolute_url()}")
    assert page.csp_violations == []


def test_a_running_export_is_abandoned_with_a_reason_that_its_timeline_shows(
    new_export_page, live_server, celery_worker_process, sim
):
    page = new_export_page
    sim.control.configure(speed=2)  # slow enough to be running when abandoned
    start_export(page, file_name="to-abandon.qcow2")
    wait_for_status(page, "running")
    detail_url = page.url

    page.click("text=Stop following…")
    page.wait_for_selector("textarea[name=reason]")
    assert "may still finish and write" in page.text_content("main")
    page.click("button.danger")  # no reason: our message, no browser bubble
    page.wait_for_selector("#errors-reason .error")
    assert "Say why" in page.text_content("#errors-reason")
    page.fill("textarea[name=reason]", "Wrong bucket; will export again.")
    page.click("button.danger")
    page.wait_for_url(detail_url)
    wait_for_status(page, "abandoned", tries=5)
    assert "the cloud job may still finish" in page.text_content("#export-status")
    timeline = page.text_content("#audit-timeline")
    assert "Export abandoned" in timeline and "Wrong bucket; will export again." in timeline
    assert page.get_attribute("#export-status", "hx-trigger") is None
    assert Export.objects.get(object_name="to-abandon.qcow2").status == Status.ABANDONED
    assert page.csp_violations == []
