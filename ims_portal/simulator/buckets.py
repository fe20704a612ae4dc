"""OBS buckets and objects as the simulator stores them, and what an export writes.

One store serves both sides of the cloud: OBS answers from it (bucket list, bucket and
object metadata), and IMS consults it for its own checks (a bucket that is missing, not
Standard, in another region, or closed to the caller: IMG.0069; an object already there:
IMG.0070) and writes into it when an export succeeds.

An exported file's size follows from the image and the format, as the IMS FAQ explains it
("the format conversion may lead to size changes"): the image's own format (ZVHD2, which
fast export copies as it is) keeps its size, the others grow by a factor per format. Its ETag
has the multipart form (`<hex>-<parts>`) that an upload of several gigabytes gets.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

STANDARD, WARM, COLD = "STANDARD", "WARM", "COLD"
STORAGE_CLASSES = (STANDARD, WARM, COLD)

CONTENT_TYPE = "application/octet-stream"
# How much bigger the exported file is than the image, per format written.
FORMAT_GROWTH = {"zvhd2": 1.0, "zvhd": 1.04, "qcow2": 1.12, "vmdk": 1.35, "vhd": 2.8}
UPLOAD_PART_BYTES = 100 * 1024 * 1024  # parts of the multipart upload that writes the file


@dataclass(frozen=True, slots=True)
class BucketRecord:
    """One bucket: where it is, its default storage class, and how the account relates to it."""

    name: str
    region: str
    storage_class: str = STANDARD
    created: float = 0.0  # epoch seconds
    listed: bool = True  # the account owns it, so GET / lists it
    accessible: bool = True  # False: HEAD and IMS both find it closed (403)

    def as_json(self) -> dict[str, Any]:
        """The bucket as `GET /_sim/buckets` shows it."""
        return {
            "name": self.name,
            "region": self.region,
            "storage_class": self.storage_class,
            "created": iso_time(self.created),
            "listed": self.listed,
            "accessible": self.accessible,
        }


@dataclass(frozen=True, slots=True)
class StoredObject:
    """One object's metadata (the simulator stores no content)."""

    size: int
    etag: str  # without quotes
    last_modified: float  # epoch seconds
    content_type: str = CONTENT_TYPE

    def as_json(self) -> dict[str, Any]:
        """The object as `GET /_sim/objects` details it."""
        return {
            "size": self.size,
            "etag": self.etag,
            "last_modified": iso_time(self.last_modified),
            "content_type": self.content_type,
        }


def exported_size(image_bytes: int, file_format: str) -> int:
    """The size of the file an export of `image_bytes` writes in `file_format`."""
    return int(image_bytes * FORMAT_GROWTH.get(file_format, 1.0))


def multipart_etag(seed: str, size: int) -> str:
    """A multipart upload's ETag: an MD5 in hex, a dash and the number of parts."""
    parts = max(1, -(-size // UPLOAD_PART_BYTES))
    return f"{hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()}-{parts}"


def single_etag(seed: str) -> str:
    """A single upload's ETag: an MD5 in hex."""
    return hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()


def iso_time(epoch: float) -> str:
    """`2024-05-01T10:00:00.000Z`, as OBS writes a CreationDate."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def http_time(epoch: float) -> str:
    """An HTTP date in GMT, as Last-Modified carries it."""
    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


def parse_iso(value: str) -> float:
    """Epoch seconds of an ISO 8601 time (`Z` allowed); `ValueError` if malformed."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
