"""Typed, immutable records of what IMS returns, parsed from its JSON."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


def _parse_time(value: str | None) -> datetime | None:
    """IMS writes times as ISO 8601 UTC (`2024-05-01T10:00:00Z`); tolerate a missing zone."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _as_bool(value: Any) -> bool:
    # IMS sends some flags as JSON booleans and others as the strings "true"/"false".
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


@dataclass(frozen=True, slots=True)
class Image:
    """One image as `GET /v2/cloudimages` describes it."""

    id: str
    name: str
    size_bytes: int
    image_type: str  # "gold" (public), "private" or "shared"
    whole_image: bool  # a full-ECS image
    os_type: str
    platform: str
    os_version: str
    encrypted: bool
    virtual_env_type: str  # "IsoImage" marks an ISO image
    disk_format: str
    status: str
    created_at: datetime | None
    source_image_id: str = ""  # __originalimagename: the image this one was made from
    backup_id: str = ""  # __backup_id: the CSBS/CBR backup this image was made from

    @property
    def is_public(self) -> bool:
        """A public ("gold") image of the cloud's, never exportable."""
        return self.image_type == "gold"

    @property
    def is_shared(self) -> bool:
        """An image another tenant shares with this project: only its owner can export it."""
        return self.image_type == "shared"

    @property
    def is_iso(self) -> bool:
        """An ISO image (IMS marks them by environment type or disk format)."""
        return self.virtual_env_type == "IsoImage" or self.disk_format == "iso"

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Image:
        """Read one entry of `GET /v2/cloudimages`' `images` list."""
        size = data.get("__image_size") or 0
        try:
            size_bytes = int(size)
        except (TypeError, ValueError):
            size_bytes = 0
        return cls(
            id=data["id"],
            name=data.get("name") or "",
            size_bytes=size_bytes,
            image_type=data.get("__imagetype") or "",
            whole_image=_as_bool(data.get("__whole_image", False)),
            os_type=data.get("__os_type") or "",
            platform=data.get("__platform") or "",
            os_version=data.get("__os_version") or "",
            encrypted=bool(data.get("__system__cmkid")),
            virtual_env_type=data.get("virtual_env_type") or "",
            disk_format=data.get("disk_format") or "",
            status=data.get("status") or "",
            created_at=_parse_time(data.get("created_at")),
            source_image_id=data.get("__originalimagename") or "",
            backup_id=data.get("__backup_id") or "",
        )


class JobStatus(StrEnum):
    """The status of an asynchronous IMS job, as both job calls report it."""

    INIT = "INIT"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    # Not the cloud's: an answer without a status, or with one the API reference does not
    # list. Read as "not finished", so the job is still followed and shows as stalled if it
    # never changes, rather than ending an export on a guess.
    UNRECOGNISED = "UNRECOGNISED"

    @classmethod
    def parse(cls, value: Any) -> JobStatus:
        """The status named by `value`, ignoring case and spaces, or `UNRECOGNISED`."""
        try:
            return cls(str(value or "").strip().upper())
        except ValueError:
            return cls.UNRECOGNISED


@dataclass(frozen=True, slots=True)
class Job:
    """An asynchronous IMS job, from either the progress call or the status call."""

    id: str
    job_type: str
    status: JobStatus
    begin_time: datetime | None
    end_time: datetime | None
    error_code: str
    fail_reason: str
    progress: float | None  # 0.0..1.0 where the cloud reports it, else None
    current_step: str
    entities: dict[str, Any] = field(default_factory=dict)
    # The cloud's X-Request-Id of the answer this was read from: what its support asks for.
    request_id: str = ""

    @property
    def finished(self) -> bool:
        """The job has ended, well or badly."""
        return self.status in (JobStatus.SUCCESS, JobStatus.FAIL)

    @classmethod
    def from_api(cls, data: dict[str, Any], *, request_id: str = "") -> Job:
        """Read the answer of either job call (progress or status)."""
        entities = data.get("entities") or {}
        status = JobStatus.parse(data.get("status"))
        if status is JobStatus.UNRECOGNISED:
            log.warning(
                "IMS job %s reports an unrecognised status %r",
                data.get("job_id"),
                data.get("status"),
            )
        return cls(
            id=data.get("job_id") or "",
            job_type=data.get("job_type") or "",
            status=status,
            begin_time=_parse_time(data.get("begin_time")),
            end_time=_parse_time(data.get("end_time")),
            error_code=data.get("error_code") or "",
            fail_reason=data.get("fail_reason") or "",
            progress=_progress_fraction(entities.get("process_percent")),
            current_step=entities.get("current_task") or "",
            entities=dict(entities),
            request_id=request_id,
        )


def _progress_fraction(value: Any) -> float | None:
    """The progress call reports 0..1 in its examples; read values above 1 as a percentage."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number > 1:
        number /= 100
    return max(0.0, min(1.0, number))


# --- OBS ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bucket as OBS's `GET /` lists it: the account's buckets in every region."""

    name: str
    region: str  # the bucket's `Location`, e.g. "eu-de"; blank where the listing has none
    created: datetime


@dataclass(frozen=True, slots=True)
class BucketInfo:
    """What `HEAD /` on a bucket says about it."""

    name: str
    region: str  # x-obs-bucket-location
    storage_class: str  # x-obs-storage-class as OBS writes it: STANDARD, WARM or COLD
    # The answer's x-obs-request-id: what OBS support asks for.
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What `HEAD /<key>` says about an object."""

    size: int  # Content-Length, in bytes
    etag: str  # without the quotes OBS puts round it
    last_modified: datetime
    content_type: str = ""
    request_id: str = ""  # the answer's x-obs-request-id
