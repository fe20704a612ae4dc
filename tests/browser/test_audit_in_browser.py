"""An auditor, as a new user would: from the nav to one export's events, then a month of
events taken away as CSV, and the file checks out against the trail."""

from __future__ import annotations

import pytest

from ims_portal.exports.models import Status
from tests.audit.helpers import verify
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_auditor_finds_one_exports_events_and_exports_them_as_csv(
    page, live_server, alice, bob, carol, make_export, tmp_path
):
    wanted = make_export(alice, image_name="payroll-db", bucket="finance-archive")
    wanted.transition(Status.SUBMITTING)
    wanted.transition(Status.SUBMITTED, job_id="job-payroll")
    other = make_export(bob, image_name="web-02")
    other.transition(Status.CANCELLED)

    sign_in(page, live_server, "carol", "pw-carol")
    page.click("nav >> text=Audit trail")
    page.wait_for_selector("#audit-rows")

    page.fill("#id_image", "payroll-db")
    page.press("#id_image", "Enter")
    page.wait_for_url("**/audit/?*image=payroll-db*")
    rows = page.locator("#audit-rows tbody tr")
    assert rows.count() == 2
    assert "web-02" not in page.text_content("#audit-rows")

    # From one event to every event of its export, and to the export itself.
    page.locator("#audit-rows a.tag").first.click()
    page.wait_for_url(f"**/audit/?target=export%3A{wanted.pk}")
    assert page.locator("#audit-rows tbody tr").count() == 2
    page.click(f"#audit-rows >> text=export #{wanted.pk} >> nth=0")
    page.wait_for_selector("#audit-timeline")
    assert "Export submitted" in page.text_content("#audit-timeline")

    # A month of events, as CSV.
    page.goto(f"{live_server.url}/audit/?since=2000-01-01T00:00&before=2100-01-01T00:00")
    with page.expect_download() as download:
        page.click("text=CSV")
    path = tmp_path / "audit.csv"
    download.value.save_as(path)
    passed, output = verify("--file", str(path))
    assert passed, output
    assert page.csp_violations == []
