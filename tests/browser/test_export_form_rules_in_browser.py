"""The form's script checks with the rules the server sent: change them there, it follows."""

from __future__ import annotations

import pytest

from ims_portal.exports import rules
from ims_portal.simulator import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BUCKET_VALIDITY = """() => {
  const field = document.getElementById('id_bucket');
  return {custom: field.validity.customError, message: field.validationMessage,
          patternMismatch: field.validity.patternMismatch};
}"""


def bucket_validity(page, name: str) -> dict:
    page.fill("#id_bucket", name)
    return page.evaluate(BUCKET_VALIDITY)


BAD_BUCKETS = ["ab", "-A", "Bad_Bucket", "_abc", "my..bucket", "a-.b", "192.168.1.1", "é" * 5]


def test_the_scripts_bucket_check_says_what_the_server_says(new_export_page):
    said = {name: bucket_validity(new_export_page, name) for name in BAD_BUCKETS}
    assert {name: (state["custom"], state["message"]) for name, state in said.items()} == {
        name: (True, rules.check_bucket(name)[0].message) for name in BAD_BUCKETS
    }
    assert bucket_validity(new_export_page, "ims-exports.eu") == {
        "custom": False,
        "message": "",
        "patternMismatch": False,
    }
    assert new_export_page.csp_violations == []


def test_the_html_pattern_compiles_in_the_browser_and_refuses_what_it_should(new_export_page):
    # A pattern the browser cannot compile is silently ignored: then nothing mismatches.
    assert bucket_validity(new_export_page, "ab_c")["patternMismatch"] is True
    assert bucket_validity(new_export_page, "-abc")["patternMismatch"] is True


def test_a_bucket_rule_added_on_the_server_reaches_the_script(new_export_page, monkeypatch):
    page = new_export_page
    extra = rules.NameRule(
        "no-test", "must not contain 'test'", r"[\s\S]*test[\s\S]*", forbidden=True
    )
    monkeypatch.setattr(rules, "BUCKET_RULES", (*rules.BUCKET_RULES, extra))
    page.reload()
    state = bucket_validity(page, "my-test-bucket")
    assert state["message"] == "The bucket name must not contain 'test'."
    assert state["message"] == rules.check_bucket("my-test-bucket")[0].message


def test_the_fast_export_note_and_help_show_the_threshold_in_force(new_export_page, settings):
    page = new_export_page
    settings.IMS_EXPORT_FAST_ONLY_FROM_GB = 5  # below the small CentOS image's 6 GB
    page.reload()
    page.check(f"#image-{seed.SMALL_CENTOS}")
    assert page.is_checked("#id_quick")
    assert "5 GB or more" in page.text_content("#quick-note")
    quick_help = page.locator(".field", has=page.locator("#id_quick")).locator(".help")
    assert "needed for images of 5 GB or more" in quick_help.text_content()


def test_the_extension_hints_are_the_servers(new_export_page, monkeypatch):
    page = new_export_page
    page.select_option("#id_file_format", "qcow2")
    page.fill("#id_file_name", "web.img")
    assert page.is_hidden("#file-name-warning")

    monkeypatch.setattr(rules, "FILE_EXTENSIONS", (*rules.FILE_EXTENSIONS, "img"))
    page.reload()
    page.select_option("#id_file_format", "qcow2")
    page.fill("#id_file_name", "web.img")
    assert page.is_visible("#file-name-warning")
    assert ".img" in page.text_content("#file-name-warning")


def test_with_fast_export_the_hint_expects_the_fast_export_format(new_export_page):
    page = new_export_page
    page.check(f"#image-{seed.SMALL_CENTOS}")
    page.check("#id_quick")
    page.fill("#id_file_name", "web.qcow2")
    assert f"written as {rules.QUICK_EXPORT_FORMAT}" in page.text_content("#file-name-warning")
    page.fill("#id_file_name", f"web.{rules.QUICK_EXPORT_FORMAT}")
    assert page.is_hidden("#file-name-warning")
