"""The export rules of IMS, as pure functions.

This is the one place the rules live. The portal's form and its as-you-type field checks
call these functions to put a message on the right field; the simulator calls the very
same functions to answer with the cloud's status and error code. Nothing here imports
Django, so both can use it.

Where the clouds differ (Huawei Cloud refuses more OS origins than Open Telekom Cloud, some
regions allow a normal export above 128 GB), the difference is an `ExportPolicy` value,
set from the `IMS_EXPORT_*` settings (see README), not a branch in the code.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ims_portal.cloud.models import Image

GIB = 1024**3

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
_BUCKET_CHARS = re.compile(r"[a-z0-9.-]+")


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
    max_bytes: int = 1024 * GIB
    refused_platforms: frozenset[str] = field(
        default_factory=lambda: frozenset({"Windows", "SUSE"})
    )
    normal_export_above_fast_limit: bool = False


DEFAULT_POLICY = ExportPolicy()


def parse_bucket_url(bucket_url: str) -> tuple[str, str]:
    """Split `bucket:object` at the first colon; object names may contain colons."""
    bucket, sep, object_name = bucket_url.partition(":")
    if not sep:
        raise ValueError("bucket_url must look like bucket:file")
    return bucket, object_name


def compose_bucket_url(bucket: str, object_name: str) -> str:
    return f"{bucket}:{object_name}"


def check_bucket(bucket: str) -> list[Violation]:
    """OBS bucket naming rules."""
    if not bucket:
        return [Violation(BUCKET, "IMG.0068", "Enter the name of the OBS bucket.")]
    problems = []
    if not BUCKET_MIN <= len(bucket) <= BUCKET_MAX:
        problems.append(f"must be {BUCKET_MIN} to {BUCKET_MAX} characters long")
    if not _BUCKET_CHARS.fullmatch(bucket):
        problems.append("may contain only lowercase letters, digits, hyphens and periods")
    elif not (bucket[0].isalnum() and bucket[-1].isalnum()):
        problems.append("must start and end with a letter or digit")
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        problems.append("must not contain '..', '.-' or '-.'")
    if _looks_like_ip(bucket):
        problems.append("must not be shaped like an IP address")
    if not problems:
        return []
    return [Violation(BUCKET, "IMG.0109", "The bucket name " + "; ".join(problems) + ".")]


def _looks_like_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return bool(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name))
    return True


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
                    "Fast export always writes ZVHD2; leave the format empty.",
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
    if image.whole_image:
        return Violation(IMAGE, "IMG.0128", "Full-ECS images cannot be exported.")
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
            f"Images of {_gib(policy.max_bytes)} or more cannot be exported.",
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
        return [Violation(QUICK, "IMG.0071", "Encrypted images cannot use fast export.")]
    if not quick and requires_quick_export(image, policy):
        return [
            Violation(
                QUICK,
                "IMG.0160",
                f"Images of {_gib(policy.fast_only_from_bytes)} or more need fast export.",
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


def _gib(size: int) -> str:
    if size % (1024 * GIB) == 0:
        return f"{size // (1024 * GIB)} TB"
    return f"{size // GIB} GB"
