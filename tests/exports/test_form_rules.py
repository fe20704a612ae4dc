"""The new-export page hands the browser the server's rules; nothing repeats them by hand."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from ims_portal.exports import rules
from ims_portal.exports.models import Status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloud")]

ROOT = Path(__file__).resolve().parents[2]
EXPORT_FORM_JS = ROOT / "static" / "js" / "export_form.js"
TEMPLATES = ROOT / "templates"


@pytest.fixture
def new_export_page(client, alice):
    client.force_login(alice)

    def get() -> str:
        response = client.get(reverse("exports:new"))
        assert response.status_code == 200
        return response.content.decode()

    return get


def rules_block(page: str) -> dict:
    (data,) = re.findall(r'<script id="export-rules" type="application/json">(.*?)</script>', page)
    return json.loads(data)


def help_texts(page: str) -> list[str]:
    return [html.unescape(text) for text in re.findall(r'<small class="help">(.*?)</small>', page)]


def test_the_rules_block_carries_the_bucket_rules_and_the_extension_hints(new_export_page):
    data = rules_block(new_export_page())
    assert data["bucket"]["rules"] == [dataclasses.asdict(rule) for rule in rules.BUCKET_RULES]
    assert data["bucket"]["missing"] == rules.BUCKET_MISSING
    assert sorted(data["extensions"]) == sorted([*rules.FILE_FORMATS, rules.QUICK_EXPORT_FORMAT])
    assert data["fast_export_format"] == rules.QUICK_EXPORT_FORMAT
    assert data["notes"]["encrypted"] == rules.ENCRYPTED_NOT_FAST


@pytest.mark.parametrize(
    "name", ["", "ab", "-A", "Bad_Bucket", "my..bucket", "a-.b", "192.168.1.1", "x" * 64, "ok-1"]
)
def test_the_sent_bucket_rules_give_the_servers_message(new_export_page, name):
    """Applies the block the way export_form.js does (the browser test runs the script itself)."""
    sent = rules_block(new_export_page())["bucket"]
    broken: list[dict] = []
    for rule in sent["rules"]:
        if rule["after"] in {b["name"] for b in broken}:
            continue
        if (re.fullmatch(rule["pattern"], name, re.ASCII) is not None) == rule["forbidden"]:
            broken.append(rule)
    if not name:
        message = sent["missing"]
    elif broken:
        problems = sent["separator"].join(rule["problem"] for rule in broken)
        message = sent["problems"].replace("{problems}", problems)
    else:
        message = ""
    assert message == "".join(v.message for v in rules.check_bucket(name))


def test_the_fast_export_threshold_follows_the_setting(new_export_page, settings):
    default = new_export_page()
    assert "This image is 128 GB or more" in rules_block(default)["notes"]["needs_fast_export"]
    assert "Writes ZVHD2 without conversion; needed for images of 128 GB or more." in help_texts(
        default
    )

    settings.IMS_EXPORT_FAST_ONLY_FROM_GB = 64
    page = new_export_page()
    note = rules_block(page)["notes"]["needs_fast_export"]
    assert "64 GB" in note and "128" not in note
    helps = help_texts(page)
    assert "Writes ZVHD2 without conversion; needed for images of 64 GB or more." in helps
    assert not any("128 GB" in text for text in helps)


def test_where_a_normal_export_is_allowed_above_the_threshold_the_help_does_not_claim_otherwise(
    new_export_page, settings
):
    settings.IMS_EXPORT_NORMAL_ABOVE_FAST_LIMIT = True
    assert "Writes ZVHD2 without conversion." in help_texts(new_export_page())


def test_the_bucket_field_renders_its_limits_and_pattern_from_the_rules(new_export_page, settings):
    settings.IMS_REGION = "eu-nl"
    page = new_export_page()
    (field,) = re.findall(r'<input type="text" name="bucket"[^>]*>', page)
    assert f'minlength="{rules.BUCKET_MIN}"' in field
    assert f'maxlength="{rules.BUCKET_MAX}"' in field
    (pattern,) = re.findall(r'pattern="([^"]*)"', field)
    assert html.unescape(pattern) == rules.BUCKET_PATTERN
    expected_help = (
        f"A Standard bucket in region eu-nl: choose one above or type its name "
        f"({rules.BUCKET_MIN} to {rules.BUCKET_MAX} lowercase letters, digits, '-' or '.')."
    )
    assert expected_help in help_texts(page)


# --- nothing repeated by hand -------------------------------------------------------------------


def rule_literals() -> list[str]:
    """Every rule value a script could be tempted to copy, taken from rules.py itself."""
    policy = rules.DEFAULT_POLICY
    numbers = {rules.BUCKET_MIN, rules.BUCKET_MAX, rules.OBJECT_MAX_BYTES}
    numbers |= {policy.fast_only_from_bytes // rules.GIB, policy.max_bytes // rules.GIB}
    texts = {
        rules.size_label(policy.fast_only_from_bytes),
        rules.size_label(policy.max_bytes),
        *rules.FILE_EXTENSIONS,
        rules.BUCKET_MISSING,
        rules.ENCRYPTED_NOT_FAST,
        *(rule.problem for rule in rules.BUCKET_RULES),
        *(rule.pattern for rule in rules.BUCKET_RULES),
        "[a-z",  # the start of any copy of a bucket character class
    }
    return [rf"\b{n}\b" for n in sorted(numbers)] + [re.escape(t) for t in sorted(texts)]


def test_the_rule_literals_are_found_where_they_are_written():
    """The scan below can fail: the literals it looks for are in rules.py."""
    source = (ROOT / "ims_portal" / "exports" / "rules.py").read_text()
    for literal in (r"\b3\b", r"\b63\b", r"\b128\b", re.escape('"qcow2"'), re.escape("[a-z")):
        assert re.search(literal, source), literal


def test_the_form_script_repeats_no_rule_value():
    script = EXPORT_FORM_JS.read_text()
    found = [literal for literal in rule_literals() if re.search(literal, script, re.IGNORECASE)]
    assert found == [], f"export_form.js repeats rule values {found}; send them in #export-rules"


# --- one destination notation -------------------------------------------------------------------


def test_no_template_writes_a_destination_of_its_own():
    """Pages show `export.destination`; composing one from the bucket and object is rules.py's."""
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        if re.search(r"obs://|\.bucket_url\b|\.object_name\b|export\.bucket\b", text):
            offenders.append(str(template.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.UNKNOWN, Status.RUNNING])
def test_every_page_shows_the_destination_in_one_notation(client, alice, make_export, status):
    export = make_export(alice, bucket="ims-exports", object_name="a:b/web.qcow2", status=status)
    client.force_login(alice)
    destination = rules.compose_bucket_url("ims-exports", "a:b/web.qcow2")
    assert export.destination == destination
    for url in (export.get_absolute_url(), reverse("exports:history")):
        page = client.get(url).content.decode()
        assert destination in page
        assert "obs://" not in page
