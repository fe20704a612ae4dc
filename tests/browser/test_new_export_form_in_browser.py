"""The new-export form speaks with its own voice: an error summary after a refused submit,
no browser bubbles, fast export's format named, a forced fast export shown as such, and a
file name suggested from the image."""

from __future__ import annotations

import uuid

import pytest

from ims_portal.exports import rules
from ims_portal.exports.forms import FAST_FORMAT_LABEL
from ims_portal.exports.models import Export
from ims_portal.simulator import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHARED_IMAGE = "5b0f3c2e-8d4a-4c1b-9e7f-2a6d8c0b1e35"


def shared_image(sim) -> dict:
    spec = seed.ImageSpec(
        SHARED_IMAGE, "partner-shared-centos", "2025-02-01T09:00:00Z",
        4.0, "CentOS", "CentOS 7.9 64bit",
    )  # fmt: skip
    return {
        **seed.image_json(spec, sim.project_id),
        "__imagetype": "shared",
        "owner": "1b9d7a0c5e2f4a3b8c6d9e0f1a2b3c4d",
    }


def test_a_refused_submit_opens_on_a_focused_summary_whose_links_lead_to_the_fields(
    new_export_page,
):
    page = new_export_page
    page.fill("#id_bucket", "Bad_Bucket")
    page.click("#export-form button[type=submit]")  # novalidate: the browser lets it go
    page.wait_for_selector("#error-summary")

    assert page.evaluate("document.activeElement.id") == "error-summary"
    links = page.locator("#error-summary a")
    targets = [links.nth(n).get_attribute("href") for n in range(links.count())]
    assert targets == ["#image-picker", "#id_bucket", "#id_file_name", "#id_file_format"]
    assert page.input_value("#id_bucket") == "Bad_Bucket"
    assert rules.check_bucket("Bad_Bucket")[0].message in page.text_content("#error-summary")

    page.click("#error-summary a[href='#id_bucket']")
    assert page.evaluate("document.activeElement.id") == "id_bucket"
    page.click("#error-summary a[href='#image-picker']")
    assert page.evaluate("document.activeElement.name") == "image"
    assert page.csp_violations == []


def test_the_form_shows_no_browser_validation_bubble(new_export_page):
    page = new_export_page
    assert page.get_attribute("#export-form", "novalidate") is not None
    page.click("#export-form button[type=submit]")
    page.wait_for_selector("#error-summary")  # the server answered: nothing stopped it


def test_fast_export_names_its_format_in_the_locked_select(new_export_page):
    page = new_export_page
    page.check(f"#image-{seed.SMALL_CENTOS}")
    page.check("#id_quick")
    assert page.is_disabled("#id_file_format")
    assert page.evaluate(
        "document.getElementById('id_file_format').selectedOptions[0].textContent"
    ) == (FAST_FORMAT_LABEL)
    page.uncheck("#id_quick")
    assert page.is_enabled("#id_file_format")
    assert page.evaluate(
        "document.getElementById('id_file_format').selectedOptions[0].textContent"
    ) == ("—")


def test_an_image_that_needs_fast_export_locks_the_box_checked_and_the_export_goes(
    new_export_page, live_server
):
    page = new_export_page
    page.check(f"#image-{seed.EXACTLY_128G}")
    assert page.is_checked("#id_quick")
    assert page.is_disabled("#id_quick")
    assert "128 GB or more" in page.text_content("#quick-note")
    assert page.is_visible("#quick-note")

    page.fill("#id_bucket", "ims-exports")
    page.fill("#id_file_name", f"big-{uuid.uuid4().hex[:8]}.zvhd2")
    page.click("#export-form button[type=submit]")
    page.wait_for_selector("#export-status")
    export = Export.objects.get()
    assert (export.image_id, export.quick, export.file_format) == (seed.EXACTLY_128G, True, "")

    # Another image lets go of the box.
    page.goto(f"{live_server.url}/exports/new/")
    page.check(f"#image-{seed.SMALL_UBUNTU}")
    assert page.is_enabled("#id_quick")
    assert not page.is_checked("#id_quick")


def test_the_suggested_file_name_is_the_servers_and_follows_the_format(new_export_page, sim):
    page = new_export_page
    name = page.text_content(f"label[for='image-{seed.SMALL_CENTOS}']").strip()
    page.check(f"#image-{seed.SMALL_CENTOS}")
    assert page.input_value("#id_file_name") == rules.suggested_file_name(name, "", False)
    page.select_option("#id_file_format", "vmdk")
    assert page.input_value("#id_file_name") == rules.suggested_file_name(name, "vmdk", False)
    page.check("#id_quick")
    assert page.input_value("#id_file_name") == rules.suggested_file_name(name, "", True)

    other = page.text_content(f"label[for='image-{seed.SMALL_DEBIAN}']").strip()
    page.check(f"#image-{seed.SMALL_DEBIAN}")
    assert page.input_value("#id_file_name") == rules.suggested_file_name(other, "", True)


def test_a_file_name_the_user_typed_is_never_replaced(new_export_page):
    page = new_export_page
    page.check(f"#image-{seed.SMALL_CENTOS}")
    page.fill("#id_file_name", "mine/backup.qcow2")
    page.select_option("#id_file_format", "qcow2")
    page.check(f"#image-{seed.SMALL_DEBIAN}")
    assert page.input_value("#id_file_name") == "mine/backup.qcow2"


def test_an_image_shared_by_another_tenant_is_disabled_with_its_reason(
    page, live_server, alice, cloud
):
    from tests.browser.conftest import sign_in

    cloud.control.add_image(shared_image(cloud))
    sign_in(page, live_server, "alice", "pw-alice")
    page.goto(f"{live_server.url}/exports/new/")
    radio = f"#image-{SHARED_IMAGE}"
    assert page.is_disabled(radio)
    reason = page.text_content(f"#image-{SHARED_IMAGE}-export").strip()
    assert reason.startswith("Images shared by another tenant cannot be exported")
    described_by = page.get_attribute(radio, "aria-describedby")
    assert described_by == f"image-{SHARED_IMAGE}-export"
