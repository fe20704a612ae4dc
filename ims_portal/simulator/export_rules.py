"""The cloud's export rules: what IMS checks before it accepts `POST /v1/cloudimages/{id}/file`.

Written from the IMS reference (the export API's constraints, the error-code catalogue, the
user guide's export page and FAQs, the image attributes), as the cloud would apply them, and
on purpose apart from the portal's own rules: the simulator is the portal's counterpart, so
a rule the portal reads wrongly must fail a test instead of being repeated here.

`RULES` is the table. Each rule has the IMS error code it answers with and a check that
returns the message when the rule is broken; the first broken rule, in table order, answers
400. The order is the one an API works in: the request body first, then the image, then what
only the cloud's current state knows (a running export, the bucket, the object).

Read straight from the image record, as IMS stores it:

- `status` must be `active` and `__isregistered` `"true"` (anything else is unavailable);
- `__imagetype` `gold` or `visibility` `public`: a public image; `shared`, or an `owner`
  other than the caller's project: someone else's image;
- `__whole_image` (a JSON boolean, or the string `"true"`): a full-ECS image;
- `__backup_id` set: made from a CSBS/CBR backup;
- `virtual_env_type` `IsoImage` or `disk_format` `iso`: an ISO image;
- `__platform`: the OS the image carries, inherited from the public image it was made from;
- `__image_size`: the size in bytes, as a string;
- `__system__cmkid` set: encrypted with a KMS key.

Not modelled, because no documented attribute marks such an image: images from a charged
(marketplace) image (IMG.0079) and images registered from an image file (IMG.0081).

Where clouds differ (which OS origins are refused; whether a normal export may go above the
fast-export threshold), the value is a `RuleSettings` field, set through `POST /_sim/config`;
its defaults are Open Telekom Cloud's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

GIB = 1024**3

FILE_FORMATS = ("qcow2", "vhd", "zvhd", "vmdk")
FAST_EXPORT_FORMAT = "zvhd2"  # what fast export always writes
FAST_ONLY_FROM_BYTES = 128 * GIB  # "only images less than 128 GB can be exported" normally
SIZE_LIMIT_BYTES = 1024 * GIB  # "the image size must be less than 1 TB"
DEFAULT_REFUSED_PLATFORMS = ("SUSE", "Windows")  # Huawei Cloud adds Red Hat, Ubuntu, Oracle
BUCKET_NAME_LENGTH = range(3, 64)
OBJECT_NAME_MAX_BYTES = 1024
STANDARD = "STANDARD"  # the one storage class an export may write to

_BUCKET_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
_IPV4_SHAPED = re.compile(r"\d+\.\d+\.\d+\.\d+")


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """The rule values in which clouds and regions differ."""

    refused_platforms: frozenset[str] = frozenset(DEFAULT_REFUSED_PLATFORMS)
    normal_export_above_fast_limit: bool = False


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """The body of an export call, read: `bucket_url` split at its first colon."""

    bucket: str
    object_name: str
    file_format: str | None
    fast: bool

    @classmethod
    def from_body(
        cls, bucket_url: str, file_format: str | None, is_quick_export: bool
    ) -> ExportRequest:
        """Split `bucket:file`; without a colon it is all bucket, and the file is missing."""
        bucket, _, object_name = bucket_url.partition(":")
        return cls(bucket, object_name, file_format or None, is_quick_export)

    @property
    def written_format(self) -> str:
        """The format of the file the export writes."""
        return FAST_EXPORT_FORMAT if self.fast else self.file_format or ""


@dataclass(frozen=True, slots=True)
class SourceImage:
    """What the export rules need to know about an image, read from its IMS record."""

    available: bool
    public: bool
    owner: str
    shared: bool
    full_ecs: bool
    from_backup: bool
    iso: bool
    platform: str
    size_bytes: int
    encrypted: bool

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SourceImage:
        """Read an image record as `GET /v2/cloudimages` lists it."""
        return cls(
            available=record.get("status") == "active" and _flag(record.get("__isregistered")),
            public=record.get("__imagetype") == "gold" or record.get("visibility") == "public",
            owner=str(record.get("owner") or ""),
            shared=record.get("__imagetype") == "shared",
            full_ecs=_flag(record.get("__whole_image")),
            from_backup=bool(record.get("__backup_id")),
            iso=record.get("virtual_env_type") == "IsoImage" or record.get("disk_format") == "iso",
            platform=str(record.get("__platform") or ""),
            size_bytes=_whole_number(record.get("__image_size")),
            encrypted=bool(record.get("__system__cmkid")),
        )


@dataclass(frozen=True, slots=True)
class Bucket:
    """An OBS bucket as IMS sees it when it is asked to write there."""

    exists: bool = True
    storage_class: str = STANDARD
    region: str | None = None  # None: the caller's own region
    accessible: bool = True  # False: a bucket policy (or another owner) shuts the caller out


@dataclass(frozen=True, slots=True)
class ExportAttempt:
    """One export call with everything the rules look at."""

    request: ExportRequest
    image: SourceImage
    project_id: str  # the caller's project
    region: str  # the caller's region
    bucket: Bucket = field(default_factory=Bucket)
    object_exists: bool = False  # in the bucket, or about to be written by a running export
    image_busy: bool = False  # an export of this image is still running
    settings: RuleSettings = field(default_factory=RuleSettings)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: its IMS code and a check that returns the message when it is broken."""

    code: str
    broken: Callable[[ExportAttempt], str | None]


@dataclass(frozen=True, slots=True)
class Refusal:
    """The cloud's 400 answer to an export call."""

    code: str
    message: str


def first_refusal(attempt: ExportAttempt) -> Refusal | None:
    """The first rule the attempt breaks, in table order; None if the export may start."""
    for rule in RULES:
        message = rule.broken(attempt)
        if message is not None:
            return Refusal(rule.code, message)
    return None


# --- the request body ------------------------------------------------------------------


def _bucket_empty(a: ExportAttempt) -> str | None:
    return "The specified bucket name is empty." if not a.request.bucket else None


def _bucket_name_invalid(a: ExportAttempt) -> str | None:
    name = a.request.bucket
    valid = (
        len(name) in BUCKET_NAME_LENGTH
        and _BUCKET_NAME.fullmatch(name) is not None
        and not any(pair in name for pair in ("..", ".-", "-."))
        and _IPV4_SHAPED.fullmatch(name) is None
    )
    if valid:
        return None
    return (
        "The bucket name is invalid: 3 to 63 lowercase letters, digits, hyphens and periods, "
        "starting and ending with a letter or digit, no '..', '.-' or '-.', not an IP address."
    )


def _object_empty(a: ExportAttempt) -> str | None:
    return "The name of the exported file is empty." if not a.request.object_name else None


def _object_too_long(a: ExportAttempt) -> str | None:
    if len(a.request.object_name.encode("utf-8")) <= OBJECT_NAME_MAX_BYTES:
        return None
    return f"The file name is longer than {OBJECT_NAME_MAX_BYTES} bytes."


def _object_name_invalid(a: ExportAttempt) -> str | None:
    name = a.request.object_name
    if name.startswith("/"):
        return "The file name must not begin with '/'."
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "The file name contains control characters."
    return None


def _format_missing(a: ExportAttempt) -> str | None:
    if a.request.fast or a.request.file_format:
        return None
    return "file_format is required unless is_quick_export is true."


def _format_with_fast_export(a: ExportAttempt) -> str | None:
    if a.request.fast and a.request.file_format:
        return "file_format cannot be given with is_quick_export: fast export writes ZVHD2."
    return None


def _format_unsupported(a: ExportAttempt) -> str | None:
    wanted = a.request.file_format
    if wanted is None or wanted in FILE_FORMATS:
        return None
    return f"The image format {wanted!r} is not supported; use one of {', '.join(FILE_FORMATS)}."


# --- the image ---------------------------------------------------------------------------


def _image_unavailable(a: ExportAttempt) -> str | None:
    return None if a.image.available else "The image is unavailable."


def _image_public(a: ExportAttempt) -> str | None:
    return "The public image cannot be exported." if a.image.public else None


def _image_of_another_tenant(a: ExportAttempt) -> str | None:
    if a.image.shared or a.image.owner != a.project_id:
        return "The image owner is another tenant; only the owner's private images export."
    return None


def _image_full_ecs(a: ExportAttempt) -> str | None:
    return "The full-ECS image cannot be exported." if a.image.full_ecs else None


def _image_from_backup(a: ExportAttempt) -> str | None:
    if a.image.from_backup:
        return "The image created from a CSBS or CBR backup cannot be exported."
    return None


def _image_not_exportable(a: ExportAttempt) -> str | None:
    image = a.image
    if image.iso:
        return "The image cannot be exported: it is an ISO image."
    if image.platform in a.settings.refused_platforms:
        return f"The image cannot be exported: it was created from a {image.platform} image."
    if image.size_bytes >= SIZE_LIMIT_BYTES:
        return "The image cannot be exported: it is 1 TB or larger."
    if a.request.fast and image.encrypted:
        return "The image cannot be exported: encrypted images do not support fast export."
    return None


def _image_too_large_for_normal_export(a: ExportAttempt) -> str | None:
    if a.request.fast or a.settings.normal_export_above_fast_limit:
        return None
    if a.image.size_bytes < FAST_ONLY_FROM_BYTES:
        return None
    return "Only images less than 128 GB can be exported; use fast export for larger ones."


# --- what only the cloud's state knows ----------------------------------------------------


def _image_being_exported(a: ExportAttempt) -> str | None:
    return "The image is being exported." if a.image_busy else None


def _bucket_unusable(a: ExportAttempt) -> str | None:
    bucket = a.bucket
    if not bucket.exists:
        return "The specified bucket cannot be accessed: it does not exist."
    if not bucket.accessible:
        return "The specified bucket cannot be accessed: access to it is denied."
    if bucket.storage_class != STANDARD:
        return (
            f"The specified bucket cannot be accessed: its storage class is "
            f"{bucket.storage_class}; exports need a Standard bucket."
        )
    if bucket.region not in (None, a.region):
        return (
            f"The specified bucket cannot be accessed: it is in {bucket.region}; exports need "
            f"a bucket in the image's region, {a.region}."
        )
    return None


def _object_exists(a: ExportAttempt) -> str | None:
    if a.object_exists:
        return f"The image file {a.request.object_name!r} already exists in the bucket."
    return None


RULES: tuple[Rule, ...] = (
    Rule("IMG.0068", _bucket_empty),
    Rule("IMG.0109", _bucket_name_invalid),
    Rule("IMG.0073", _object_empty),
    Rule("IMG.0074", _object_too_long),
    Rule("IMG.0075", _object_name_invalid),
    Rule("IMG.0001", _format_missing),
    Rule("IMG.0001", _format_with_fast_export),
    Rule("IMG.0072", _format_unsupported),
    Rule("IMG.0046", _image_unavailable),
    Rule("IMG.0077", _image_public),
    Rule("IMG.0106", _image_of_another_tenant),
    Rule("IMG.0128", _image_full_ecs),
    Rule("IMG.0080", _image_from_backup),
    Rule("IMG.0071", _image_not_exportable),
    Rule("IMG.0160", _image_too_large_for_normal_export),
    Rule("IMG.0148", _image_being_exported),
    Rule("IMG.0069", _bucket_unusable),
    Rule("IMG.0070", _object_exists),
)


def _flag(value: Any) -> bool:
    # IMS writes some flags as JSON booleans and others as "true"/"false" strings.
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def _whole_number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
