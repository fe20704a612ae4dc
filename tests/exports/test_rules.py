"""The export rules, as pure functions (no database, no cloud)."""

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims_portal.cloud.models import Image
from ims_portal.exports import rules
from ims_portal.exports.rules import GIB, ExportPolicy


def image(**overrides) -> Image:
    values = dict(
        id="img-1",
        name="web-01",
        size_bytes=20 * GIB,
        image_type="private",
        whole_image=False,
        os_type="Linux",
        platform="CentOS",
        os_version="CentOS 7.9 64bit",
        encrypted=False,
        virtual_env_type="FusionCompute",
        disk_format="zvhd2",
        status="active",
        created_at=None,
    )
    values.update(overrides)
    return Image(**values)


def codes(violations: list[rules.Violation]) -> list[str]:
    return [v.code for v in violations]


# --- bucket_url ------------------------------------------------------------------------------

object_names = st.text(min_size=0, max_size=200).filter(lambda s: "\x00" not in s)
bucket_names = st.text(
    alphabet=string.ascii_lowercase + string.digits + ".-", min_size=0, max_size=70
)


@given(bucket=bucket_names, object_name=object_names)
def test_parsing_a_composed_bucket_url_gives_back_its_parts(bucket, object_name):
    assert rules.parse_bucket_url(rules.compose_bucket_url(bucket, object_name)) == (
        bucket,
        object_name,
    )


@given(st.text().filter(lambda s: ":" not in s))
def test_a_bucket_url_without_a_colon_is_refused(text):
    with pytest.raises(ValueError):
        rules.parse_bucket_url(text)


@given(bucket=bucket_names)
def test_a_bucket_name_passes_exactly_when_every_obs_rule_holds(bucket):
    expected_ok = (
        3 <= len(bucket) <= 63
        and bucket[0].isalnum()
        and bucket[-1].isalnum()
        and ".." not in bucket
        and ".-" not in bucket
        and "-." not in bucket
        and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", bucket)
    )
    assert (rules.check_bucket(bucket) == []) == expected_ok


@pytest.mark.parametrize(
    ("bucket", "code"),
    [
        ("", "IMG.0068"),
        ("ab", "IMG.0109"),
        ("a" * 64, "IMG.0109"),
        ("My-Bucket", "IMG.0109"),
        ("-bucket", "IMG.0109"),
        ("bucket-", "IMG.0109"),
        ("my..bucket", "IMG.0109"),
        ("my.-bucket", "IMG.0109"),
        ("my-.bucket", "IMG.0109"),
        ("192.168.1.10", "IMG.0109"),
        ("bucket_name", "IMG.0109"),
    ],
)
def test_bad_bucket_names_are_refused_with_the_ims_code(bucket, code):
    assert codes(rules.check_bucket(bucket)) == [code]


@pytest.mark.parametrize("bucket", ["abc", "ims-exports", "a.b.c", "0bucket9", "a" * 63])
def test_good_bucket_names_pass(bucket):
    assert rules.check_bucket(bucket) == []


def test_the_bucket_message_names_every_broken_rule():
    (violation,) = rules.check_bucket("-A")
    assert "3 to 63" in violation.message
    assert "lowercase" in violation.message
    assert violation.field == rules.BUCKET


@given(bucket=st.one_of(bucket_names, st.text(max_size=70)))
def test_the_html_pattern_accepts_a_name_exactly_when_its_length_characters_and_ends_are_right(
    bucket,
):
    held = {rule.name for rule in rules.BUCKET_RULES if rule.holds(bucket)}
    accepted = re.fullmatch(rules.BUCKET_PATTERN, bucket) is not None
    assert accepted == ({"length", "characters", "edges"} <= held)


def test_the_start_and_end_rule_waits_for_the_characters_rule():
    """As before: a name with wrong characters is not also told about its first character."""
    (violation,) = rules.check_bucket("_abc")
    assert "lowercase" in violation.message
    assert "start and end" not in violation.message
    (violation,) = rules.check_bucket("-abc")
    assert "start and end" in violation.message


def test_policy_sizes_read_as_people_write_them():
    assert rules.size_label(128 * GIB) == "128 GB"
    assert rules.size_label(1024 * GIB) == "1 TB"
    assert rules.size_label(1536 * GIB) == "1536 GB"


# --- file name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "IMG.0073"),
        ("é" * 513, "IMG.0074"),  # 1026 bytes in UTF-8 though only 513 characters
        ("/root.qcow2", "IMG.0075"),
        ("line\nbreak", "IMG.0075"),
    ],
)
def test_bad_file_names_are_refused(name, code):
    assert codes(rules.check_file_name(name)) == [code]


@pytest.mark.parametrize("name", ["web.qcow2", "images/2026/web.qcow2", "x" * 1024, "a:b.vhd"])
def test_good_file_names_pass(name):
    assert rules.check_file_name(name) == []


# --- format and fast export -------------------------------------------------------------------


def test_a_normal_export_needs_a_known_format():
    assert codes(rules.check_format(None, quick=False)) == ["IMG.0001"]
    assert codes(rules.check_format("raw", quick=False)) == ["IMG.0072"]
    for file_format in rules.FILE_FORMATS:
        assert rules.check_format(file_format, quick=False) == []


def test_a_fast_export_must_not_name_a_format():
    assert rules.check_format(None, quick=True) == []
    (violation,) = rules.check_format("qcow2", quick=True)
    assert violation.field == rules.FILE_FORMAT


# --- the image ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"image_type": "gold"}, "IMG.0077"),
        ({"whole_image": True}, "IMG.0128"),
        ({"virtual_env_type": "IsoImage"}, "IMG.0071"),
        ({"platform": "Windows"}, "IMG.0071"),
        ({"platform": "SUSE"}, "IMG.0071"),
        ({"size_bytes": 1024 * GIB}, "IMG.0071"),
    ],
)
def test_images_that_can_never_be_exported_are_refused(overrides, code):
    refusal = rules.image_refusal(image(**overrides))
    assert refusal is not None and refusal.code == code
    assert codes(rules.check_image_options(image(**overrides), quick=True)) == [code]


def test_an_image_of_128_gb_or_more_needs_fast_export():
    big = image(size_bytes=128 * GIB)
    assert codes(rules.check_image_options(big, quick=False)) == ["IMG.0160"]
    assert rules.check_image_options(big, quick=True) == []
    assert rules.check_image_options(image(size_bytes=128 * GIB - 1), quick=False) == []


def test_an_encrypted_image_cannot_use_fast_export():
    encrypted = image(encrypted=True)
    assert codes(rules.check_image_options(encrypted, quick=True)) == ["IMG.0071"]
    assert rules.check_image_options(encrypted, quick=False) == []


def test_the_policy_carries_what_differs_between_clouds():
    huawei = ExportPolicy(
        refused_platforms=frozenset({"Windows", "SUSE", "Red Hat", "Ubuntu", "Oracle Linux"}),
        normal_export_above_fast_limit=True,
    )
    assert rules.image_refusal(image(platform="Ubuntu")) is None
    assert rules.image_refusal(image(platform="Ubuntu"), huawei) is not None
    assert rules.check_image_options(image(size_bytes=200 * GIB), False, huawei) == []


def test_check_export_gathers_every_violation_on_its_field():
    violations = rules.check_export(image(image_type="gold"), "B", "", "qcow2", True)
    assert {v.field for v in violations} == {
        rules.BUCKET,
        rules.FILE_NAME,
        rules.FILE_FORMAT,
        rules.IMAGE,
    }


# --- what IMS needs of the bucket (the picker's reasons, the pre-flight's verdicts) ---------


@pytest.mark.parametrize(
    ("storage_class", "name", "problem"),
    [
        ("STANDARD", "Standard", ""),
        ("standard", "Standard", ""),
        (
            "WARM",
            "Infrequent Access",
            "Infrequent Access storage: IMS writes only to Standard buckets",
        ),
        ("COLD", "Archive", "Archive storage: IMS writes only to Standard buckets"),
        (
            "SOMETHING_NEW",
            "SOMETHING_NEW",
            "SOMETHING_NEW storage: IMS writes only to Standard buckets",
        ),
    ],
)
def test_only_standard_buckets_take_an_export_and_the_console_names_the_classes(
    storage_class, name, problem
):
    assert rules.storage_class_name(storage_class) == name
    assert rules.storage_class_problem(storage_class) == problem


def test_a_bucket_in_another_region_is_refused_before_its_class_is_looked_at():
    assert rules.bucket_problem("COLD", "eu-nl", "eu-de") == "in eu-nl: the image is in eu-de"
    assert rules.bucket_problem("COLD", "eu-de", "eu-de").startswith("Archive storage")
    assert rules.bucket_problem("STANDARD", "EU-DE", "eu-de") == ""
    # A class OBS would not tell is no reason to refuse: IMS decides.
    assert rules.bucket_problem(None, "eu-de", "eu-de") == ""


def test_every_pre_flight_check_names_a_form_field_and_the_ims_code_it_stands_for():
    assert [check.name for check in rules.PREFLIGHT_CHECKS] == list(rules.Check)
    for check in rules.PREFLIGHT_CHECKS:
        assert check.field in (rules.BUCKET, rules.FILE_NAME)
        assert check.code in (rules.BUCKET_REFUSED, rules.OBJECT_EXISTS)
        # Every placeholder a message uses is one the pre-flight fills in.
        for text in (check.passed, check.failed, check.remedy):
            text.format(
                bucket="b", object="o", storage_class="Archive", region="eu-nl",
                image_region="eu-de", usable="Standard",
            )  # fmt: skip
    assert {verdict.label for verdict in rules.Verdict} == {
        "Passed", "Failed", "Could not verify", "Not checked",
    }  # fmt: skip
