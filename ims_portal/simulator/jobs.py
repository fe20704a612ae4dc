"""Export jobs and how they move through time.

A job's state is never stored; it is worked out from the wall clock each time someone asks.
That keeps the simulator free of background threads, and a job that nobody polls costs
nothing. A job knows when it began and how long it will take (already divided by the speed
in force when it was created); everything else follows:

    0% ........ 10% ................................................ 100% of the duration
    INIT        RUNNING (process_percent rises, current_task changes)  SUCCESS
                                     ...or FAIL at 45%, for images seeded to fail
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JOB_TYPE = "imsNativeExportImageJob"

GIB = 1024**3

INIT, RUNNING, SUCCESS, FAIL = "INIT", "RUNNING", "SUCCESS", "FAIL"

INIT_SHARE = 0.10  # the first tenth of a job is spent queued
FAIL_AT = 0.45  # a failing job gives up a little before halfway

# Step names shown as `current_task`, with the share of the RUNNING phase at which each
# ends. Fast export copies the disk as it is instead of converting its format.
_QUEUED_STEP = "waiting_for_scheduling"
_NORMAL_STEPS = (
    ("checking_image", 0.10),
    ("converting_image_format", 0.55),
    ("uploading_to_obs", 0.95),
    ("verifying_object", 1.0),
)
_QUICK_STEPS = (
    ("checking_image", 0.10),
    ("copying_disk_data", 0.55),
    ("uploading_to_obs", 0.95),
    ("verifying_object", 1.0),
)

# Pace at speed 1: a fixed overhead plus a per-GiB cost. Fast export skips the format
# conversion, so it costs less per GiB. The cap keeps even a huge demo job under 15 minutes.
_BASE_SECONDS = 15.0
_SECONDS_PER_GIB_NORMAL = 2.0
_SECONDS_PER_GIB_QUICK = 0.5
_MAX_SECONDS = 900.0


def export_duration(size_bytes: int, quick: bool, speed: float) -> float:
    """Seconds an export of this size takes at the given speed (1.0 = demo pace)."""
    per_gib = _SECONDS_PER_GIB_QUICK if quick else _SECONDS_PER_GIB_NORMAL
    seconds = min(_BASE_SECONDS + size_bytes / GIB * per_gib, _MAX_SECONDS)
    return seconds / speed


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a job looks like at one moment."""

    status: str
    fraction: float  # 0.0 .. 1.0
    step: str
    end_time: float | None  # epoch seconds, set once the job has finished


@dataclass(slots=True)
class ExportJob:
    """One image export, created by `POST /v1/cloudimages/{image_id}/file`."""

    id: str
    image_id: str
    image_name: str
    bucket: str
    object_name: str
    file_format: str  # "zvhd2" for fast export
    quick: bool
    begin: float  # epoch seconds
    duration: float  # seconds, speed already applied
    failure: tuple[str, str] | None = None  # (error_code, fail_reason) if it is to fail
    image_bytes: int = 0  # the image's size, from which the exported file's size follows
    object_written: bool = False  # set once a SUCCESS has put the object in its bucket

    def at(self, now: float) -> Snapshot:
        """Work out status, progress and step at `now` (epoch seconds)."""
        elapsed = max(0.0, now - self.begin)
        share = elapsed / self.duration if self.duration > 0 else 1.0
        if self.failure and share >= FAIL_AT:
            return Snapshot(FAIL, _running_fraction(FAIL_AT), self._step(FAIL_AT),
                            self.begin + FAIL_AT * self.duration)  # fmt: skip
        if share >= 1.0:
            return Snapshot(SUCCESS, 1.0, self._steps()[-1][0], self.begin + self.duration)
        if share < INIT_SHARE:
            return Snapshot(INIT, 0.0, _QUEUED_STEP, None)
        # Never report 100% before the job has actually finished.
        return Snapshot(RUNNING, min(_running_fraction(share), 0.99), self._step(share), None)

    def in_flight(self, now: float) -> bool:
        """True while the job is INIT or RUNNING."""
        return self.at(now).status in (INIT, RUNNING)

    def status_body(self, now: float) -> dict[str, Any]:
        """The body of the status call, `GET /v1/{project_id}/jobs/{job_id}`."""
        snap = self.at(now)
        failed = snap.status == FAIL
        return {
            "status": snap.status,
            "job_id": self.id,
            "job_type": JOB_TYPE,
            "begin_time": format_job_time(self.begin),
            "end_time": format_job_time(snap.end_time) if snap.end_time else None,
            "error_code": self.failure[0] if failed and self.failure else None,
            "fail_reason": self.failure[1] if failed and self.failure else None,
            "entities": {"image_id": self.image_id, "image_name": self.image_name},
        }

    def progress_body(self, now: float) -> dict[str, Any]:
        """The body of the progress call, `GET /v1/cloudimages/job/{job_id}`."""
        body = self.status_body(now)
        snap = self.at(now)
        body["entities"].update(
            {"current_task": snap.step, "process_percent": round(snap.fraction, 2)}
        )
        return body

    def _steps(self) -> tuple[tuple[str, float], ...]:
        return _QUICK_STEPS if self.quick else _NORMAL_STEPS

    def _step(self, share: float) -> str:
        fraction = _running_fraction(share)
        for name, ends_at in self._steps():
            if fraction < ends_at:
                return name
        return self._steps()[-1][0]


def _running_fraction(share: float) -> float:
    """Map the share of the whole duration onto progress through the RUNNING phase."""
    return max(0.0, min(1.0, (share - INIT_SHARE) / (1.0 - INIT_SHARE)))


def format_job_time(epoch: float) -> str:
    """Jobs report times in UTC with milliseconds, e.g. `2024-11-06T06:46:51.929Z`."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
