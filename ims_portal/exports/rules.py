"""The export rules of IMS, as pure functions and the values they use.

This is the one place the rules live. The form and its as-you-type field checks call these
functions to put a message on the right field; the new-export page hands the browser the
bucket rules below (`BUCKET_RULES`), the extensions and the policy's figures as data, so its
instant checks repeat these rules rather than a copy of them. Nothing here imports Django.

Where the clouds differ (Huawei Cloud refuses more OS origins than Open Telekom Cloud, some
regions allow a normal export above 128 GB), the difference is an `ExportPolicy` value,
set from the `IMS_EXPORT_*` settings (see README), not a branch in the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ims_portal.cloud.models import Image

GIB = 1024**3
TIB = 1024 * GIB

FILE_FORMATS = ("qcow2", "vhd", "zvhd", "vmdk")
QUICK_EXPORT_FORMAT = "zvhd2"

# Form field names; the simulator ignores them, the form puts messages on them.
IMAGE, BUCKET, FILE_NAME, FILE_FORMAT, QUICK = (
    "image",
    "bucket",
    "file_name",
    "file_format",
    "quick",
)

BUCKET_MIN, BUCKET_MAX = 3, 63
OBJECT_MAX_BYTES = 1024
# The extensions a file name may end in that say how it is written: a mismatch earns a hint.
FILE_EXTENSIONS = (*FILE_FORMATS, QUICK_EXPORT_FORMAT)


@dataclass(frozen=True, slots=True)
class NameRule:
    """One OBS bucket-naming rule, written once for the server and the browser.

    `pattern` is a regex over the whole name, plain enough to mean the same in Python
    (`re.ASCII`) and in JavaScript (flag `u`): the new-export page sends it to the browser
    as it is, so the instant check there cannot drift from this one. The rule holds when the
    name matches, or, for a `forbidden` pattern, when it does not. `after` names a rule that
    must hold first: the start/end rule only speaks once the characters are right.
    """

    name: str
    problem: str
    pattern: str
    forbidden: bool = False
    after: str = ""

    def holds(self, name: str) -> bool:
        matches = re.fullmatch(self.pattern, name, re.ASCII) is not None
        return matches != self.forbidden


_BUCKET_EDGE = r"[a-z0-9]"
# `-` escaped: browsers compile an HTML `pattern` with the `v` flag, which wants it so.
_BUCKET_CHAR = r"[a-z0-9.\-]"

BUCKET_RULES = (
    NameRule(
        "length",
        f"must be {BUCKET_MIN} to {BUCKET_MAX} characters long",
        rf"[\s\S]{{{BUCKET_MIN},{BUCKET_MAX}}}",
    ),
    NameRule(
        "characters",
        "may contain only lowercase letters, digits, hyphens and periods",
        f"{_BUCKET_CHAR}+",
    ),
    NameRule(
        "edges",
        "must start and end with a letter or digit",
        f"{_BUCKET_EDGE}(?:.*{_BUCKET_EDGE})?",
        after="characters",
    ),
    NameRule(
        "separators",
        "must not contain '..', '.-' or '-.'",
        r"[\s\S]*(?:\.\.|\.-|-\.)[\s\S]*",
        forbidden=True,
    ),
    NameRule(
        "ip-address",
        "must not be shaped like an IP address",
        r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+",
        forbidden=True,
    ),
)
BUCKET_MISSING = "Enter the name of the OBS bucket."
# Every problem of a bad name goes into one sentence.
BUCKET_PROBLEMS, BUCKET_PROBLEMS_SEPARATOR = "The bucket name {problems}.", "; "
# For the HTML `pattern` attribute: the length, characters and edges rules in one regex.
BUCKET_PATTERN = f"{_BUCKET_EDGE}{_BUCKET_CHAR}{{{BUCKET_MIN - 2},{BUCKET_MAX - 2}}}{_BUCKET_EDGE}"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: the form field it belongs to, the IMS error code, a message."""

    field: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class ExportPolicy:
    """What differs between clouds and regions; the defaults are Open Telekom Cloud's."""

    fast_only_from_bytes: int = 128 * GIB
    max_bytes: int = 1 * TIB
    refused_platforms: frozenset[str] = field(
        default_factory=lambda: frozenset({"Windows", "SUSE"})
    )
    normal_export_above_fast_limit: bool = False


DEFAULT_POLICY = ExportPolicy()

ENCRYPTED_NOT_FAST = "Encrypted images cannot use fast export."


def parse_bucket_url(bucket_url: str) -> tuple[str, str]:
    """Split `bucket:object` at the first colon; object names may contain colons."""
    bucket, sep, object_name = bucket_url.partition(":")
    if not sep:
        raise ValueError("bucket_url must look like bucket:file")
    return bucket, object_name


def compose_bucket_url(bucket: str, object_name: str) -> str:
    """The destination as IMS takes and reports it, `bucket:object`; pages show it so too."""
    return f"{bucket}:{object_name}"


def check_bucket(bucket: str) -> list[Violation]:
    """OBS bucket naming rules: one violation naming every rule the name breaks."""
    if not bucket:
        return [Violation(BUCKET, "IMG.0068", BUCKET_MISSING)]
    broken: list[NameRule] = []
    for rule in BUCKET_RULES:
        if rule.after in {b.name for b in broken}:
            continue
        if not rule.holds(bucket):
            broken.append(rule)
    if not broken:
        return []
    problems = BUCKET_PROBLEMS_SEPARATOR.join(rule.problem for rule in broken)
    return [Violation(BUCKET, "IMG.0109", BUCKET_PROBLEMS.format(problems=problems))]


def check_file_name(object_name: str) -> list[Violation]:
    """The object the image file is written to."""
    if not object_name:
        return [Violation(FILE_NAME, "IMG.0073", "Enter the name of the file to write.")]
    if len(object_name.encode("utf-8")) > OBJECT_MAX_BYTES:
        return [
            Violation(
                FILE_NAME,
                "IMG.0074",
                f"The file name must be at most {OBJECT_MAX_BYTES} bytes in UTF-8.",
            )
        ]
    if object_name.startswith("/"):
        return [Violation(FILE_NAME, "IMG.0075", "The file name must not start with '/'.")]
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in object_name):
        return [
            Violation(FILE_NAME, "IMG.0075", "The file name must not contain control characters.")
        ]
    return []


def check_format(file_format: str | None, quick: bool) -> list[Violation]:
    """A format is required for a normal export and forbidden for a fast one (ZVHD2)."""
    if quick:
        if file_format:
            return [
                Violation(
                    FILE_FORMAT,
                    "IMG.0001",
                    f"Fast export always writes {QUICK_EXPORT_FORMAT.upper()}; "
                    "leave the format empty.",
                )
            ]
        return []
    if not file_format:
        return [Violation(FILE_FORMAT, "IMG.0001", "Choose a format, or turn on fast export.")]
    if file_format not in FILE_FORMATS:
        return [
            Violation(
                FILE_FORMAT,
                "IMG.0072",
                f"Format must be one of {', '.join(FILE_FORMATS)}.",
            )
        ]
    return []


def image_refusal(image: Image, policy: ExportPolicy = DEFAULT_POLICY) -> Violation | None:
    """Why this image can never be exported, whatever the options; None if it can be."""
    if image.is_public:
        return Violation(IMAGE, "IMG.0077", "Public images cannot be exported.")
    if image.is_shared:
        return Violation(
            IMAGE,
            "IMG.0106",
            "Images shared by another tenant cannot be exported; only their owner can.",
        )
    if image.whole_image:
        return Violation(IMAGE, "IMG.0128", "Full-ECS images cannot be exported.")
    if image.backup_id:
        return Violation(
            IMAGE, "IMG.0080", "Images created from a cloud server backup cannot be exported."
        )
    if image.is_iso:
        return Violation(IMAGE, "IMG.0071", "ISO images cannot be exported.")
    if image.platform in policy.refused_platforms:
        return Violation(
            IMAGE,
            "IMG.0071",
            f"Images created from a {image.platform} public image cannot be exported.",
        )
    if image.size_bytes >= policy.max_bytes:
        return Violation(
            IMAGE,
            "IMG.0071",
            f"Images of {size_label(policy.max_bytes)} or more cannot be exported.",
        )
    return None


def requires_quick_export(image: Image, policy: ExportPolicy = DEFAULT_POLICY) -> bool:
    return (
        not policy.normal_export_above_fast_limit
        and image.size_bytes >= policy.fast_only_from_bytes
    )


def check_image_options(
    image: Image, quick: bool, policy: ExportPolicy = DEFAULT_POLICY
) -> list[Violation]:
    """Rules that tie the image to the chosen options."""
    refusal = image_refusal(image, policy)
    if refusal:
        return [refusal]
    if quick and image.encrypted:
        return [Violation(QUICK, "IMG.0071", ENCRYPTED_NOT_FAST)]
    if not quick and requires_quick_export(image, policy):
        return [
            Violation(
                QUICK,
                "IMG.0160",
                f"Images of {size_label(policy.fast_only_from_bytes)} or more need fast export.",
            )
        ]
    return []


def check_export(
    image: Image,
    bucket: str,
    object_name: str,
    file_format: str | None,
    quick: bool,
    policy: ExportPolicy = DEFAULT_POLICY,
) -> list[Violation]:
    """Every rule that can be checked without asking OBS; empty when the export may go."""
    return [
        *check_bucket(bucket),
        *check_file_name(object_name),
        *check_format(file_format, quick),
        *check_image_options(image, quick, policy),
    ]


def written_extension(file_format: str | None, quick: bool) -> str:
    """The extension that says how the file is written: the format, or ZVHD2's for fast
    export; "" while no format is chosen."""
    return QUICK_EXPORT_FORMAT if quick else (file_format or "")


def file_name_stem(image_name: str) -> str:
    """The part of a suggested file name taken from the image's name: spaces and slashes
    become '-' (no folders, no leading '/'), control characters go."""
    kept = "".join(ch for ch in image_name.strip() if ord(ch) >= 32 and ord(ch) != 127)
    return re.sub(r"[\s/]+", "-", kept).strip("-")


def suggested_file_name(image_name: str, file_format: str | None, quick: bool) -> str:
    """`<image-name>.<ext>`, the file name the new-export form proposes; the page's script
    joins the same two parts (the stem from the picker, the extension rule above)."""
    stem = file_name_stem(image_name)
    extension = written_extension(file_format, quick)
    return f"{stem}.{extension}" if extension else stem


def size_label(size: int) -> str:
    """A policy size as people read it in messages: `128 GB`, `1 TB`."""
    if size and size % TIB == 0:
        return f"{size // TIB} TB"
    return f"{size // GIB} GB"


# --- What IMS needs of the bucket and the object (checked against OBS before submitting) ---
#
# OBS writes a bucket's default storage class as `STANDARD`, `WARM` or `COLD`; the consoles
# call them Standard, Infrequent Access and Archive, and so do the portal's pages. IMS writes
# only to a Standard bucket in the image's own region, and only to an object that does not
# exist yet: otherwise it refuses the export with IMG.0069 (the bucket) or IMG.0070 (the
# object). These values are the portal's one copy of those rules; the picker, the pre-flight
# and the explanation of an IMS refusal all read them from here.

STORAGE_CLASS_NAMES = {
    "STANDARD": "Standard",
    "WARM": "Infrequent Access",
    "COLD": "Archive",
    "DEEP_ARCHIVE": "Deep Archive",
}
EXPORTABLE_STORAGE_CLASSES = frozenset({"STANDARD"})
BUCKET_REFUSED = "IMG.0069"  # IMS: it cannot write to that bucket
OBJECT_EXISTS = "IMG.0070"  # IMS: the object is already there


def storage_class_name(storage_class: str) -> str:
    """The console's name of an OBS storage class; an unknown one as OBS wrote it."""
    return STORAGE_CLASS_NAMES.get(storage_class.upper(), storage_class or "an unknown class")


def exportable_storage_classes() -> str:
    """The storage classes IMS writes to, as the consoles name them ("Standard")."""
    return " or ".join(storage_class_name(c) for c in sorted(EXPORTABLE_STORAGE_CLASSES))


def storage_class_problem(storage_class: str) -> str:
    """Why a bucket of this storage class cannot take an export, as the picker says it
    ("Archive storage: IMS writes only to Standard buckets"); "" when it can."""
    if storage_class.upper() in EXPORTABLE_STORAGE_CLASSES:
        return ""
    usable = exportable_storage_classes()
    return f"{storage_class_name(storage_class)} storage: IMS writes only to {usable} buckets"


def region_problem(bucket_region: str, image_region: str) -> str:
    """Why a bucket in another region cannot take the export ("in eu-nl: the image is in
    eu-de"); "" when the regions are the same (OBS writes them in lowercase)."""
    if bucket_region.strip().lower() == image_region.strip().lower():
        return ""
    return f"in {bucket_region or 'an unknown region'}: the image is in {image_region}"


def bucket_problem(storage_class: str | None, bucket_region: str, image_region: str) -> str:
    """The first reason a bucket cannot take an export of an image of `image_region`, as the
    picker shows it; "" when it can. The region comes first: a bucket elsewhere is no use
    whatever its class. A storage class not known (None) is no reason: IMS will decide."""
    return region_problem(bucket_region, image_region) or (
        storage_class_problem(storage_class) if storage_class is not None else ""
    )


class Check(StrEnum):
    """The names of the pre-flight checks, in the order they are made and shown."""

    BUCKET_VISIBLE = "bucket-visible"
    STORAGE_CLASS = "storage-class"
    REGION = "region"
    OBJECT_ABSENT = "object-absent"


class Verdict(StrEnum):
    """What a pre-flight check found: passed and failed are OBS's answer held against the
    rule; a check OBS did not answer (unreachable, 403) is `unverified` and does not stop the
    submit (IMS decides); a check that waits for an earlier one is `skipped`."""

    PASSED = "passed"
    FAILED = "failed"
    UNVERIFIED = "unverified"
    SKIPPED = "skipped"

    @property
    def label(self) -> str:
        """The verdict in the page's words (a glyph beside it is only decoration)."""
        return VERDICT_LABELS[self]


@dataclass(frozen=True, slots=True)
class PreflightCheck:
    """One thing IMS needs of the destination, checked against OBS before submitting.

    `field` is the form field a failure belongs to, `code` the IMS error it would otherwise
    end in; `passed`, `failed` and `remedy` are the line the page shows, formatted with the
    facts of the moment (`{bucket}`, `{object}`, `{storage_class}`, `{region}`,
    `{image_region}`, `{usable}`).
    """

    name: Check
    field: str
    code: str
    label: str
    passed: str
    failed: str
    remedy: str


PREFLIGHT_CHECKS = (
    PreflightCheck(
        Check.BUCKET_VISIBLE,
        BUCKET,
        BUCKET_REFUSED,
        "Bucket exists",
        "The bucket {bucket} exists and the portal's account can see it.",
        "No bucket named {bucket} exists.",
        "Check the spelling, or create it in region {image_region} with Standard storage.",
    ),
    PreflightCheck(
        Check.STORAGE_CLASS,
        BUCKET,
        BUCKET_REFUSED,
        "Standard storage",
        "The bucket is {storage_class} storage.",
        "The bucket {bucket} is {storage_class} storage: IMS writes only to {usable} buckets.",
        "Choose a {usable} bucket, or make {usable} the bucket's default storage class in the "
        "OBS console.",
    ),
    PreflightCheck(
        Check.REGION,
        BUCKET,
        BUCKET_REFUSED,
        "Same region",
        "The bucket is in {region}, like the image.",
        "The bucket {bucket} is in {region}: the image is in {image_region}.",
        "Choose a bucket in {image_region}, or create one there.",
    ),
    PreflightCheck(
        Check.OBJECT_ABSENT,
        FILE_NAME,
        OBJECT_EXISTS,
        "File name free",
        "No object named {object} exists in the bucket yet.",
        "{object} already exists in the bucket {bucket}.",
        "Choose another file name, or delete the object in OBS first.",
    ),
)
PREFLIGHT = {check.name: check for check in PREFLIGHT_CHECKS}
VERDICT_LABELS = {
    Verdict.PASSED: "Passed",
    Verdict.FAILED: "Failed",
    Verdict.UNVERIFIED: "Could not verify",
    Verdict.SKIPPED: "Not checked",
}
# The remedy of an object that exists, where a free name was found beside it.
OBJECT_FREE_NAME_REMEDY = "Use {free}, which is free, or delete the object in OBS first."
FREE_NAME_SUGGESTED = "{found} The file name {free} is suggested instead."
# What a check says when OBS did not answer it.
PREFLIGHT_UNVERIFIED = "Could not verify: {reason}. You can still submit; IMS will decide."
PREFLIGHT_SKIPPED = "Not checked: {reason}."
