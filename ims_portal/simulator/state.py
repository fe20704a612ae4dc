"""Everything the simulator remembers, behind one lock.

Images, export jobs, OBS buckets and objects, issued tokens and temporary OBS keys,
injected faults, the request log and the run-time configuration all live in one
`SimulatorState`. Every public method takes the
lock, so the threaded HTTP server can call them from any thread; the lock is never held
while sleeping or doing I/O.

Job state is computed from the clock on demand (see `jobs.py`), so "settling" a finished
job, i.e. writing its object into the bucket, happens lazily too, at the start of any
method that looks at objects or jobs.
"""

from __future__ import annotations

import copy
import heapq
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ims_portal.simulator import buckets, errors, seed
from ims_portal.simulator.buckets import BucketRecord, StoredObject
from ims_portal.simulator.defaults import SPEED, TOKEN_TTL_SECONDS, SimulatorSettings
from ims_portal.simulator.export_rules import (
    DEFAULT_REFUSED_PLATFORMS,
    Bucket,
    ExportAttempt,
    ExportRequest,
    RuleSettings,
    SourceImage,
    first_refusal,
)
from ims_portal.simulator.faults import IMS_SERVICE, Fault, fire
from ims_portal.simulator.jobs import INIT, RUNNING, SUCCESS, ExportJob, export_duration

SORT_KEYS = ("created_at", "updated_at", "name", "id", "status", "disk_format", "container_format")
FILTER_KEYS = (
    "id", "name", "status", "visibility", "owner", "protected", "container_format",
    "disk_format", "__imagetype", "__whole_image", "__platform", "__os_type", "__os_bit",
    "virtual_env_type", "__system__cmkid", "enterprise_project_id",
)  # fmt: skip
REQUEST_LOG_SIZE = 5000  # plenty for a test or a demo, bounded for a long-running process
# What a successful export leaves in its bucket: the file ("written"), nothing ("missing", a
# cloud that lost it), or a zero-byte object ("empty").
EXPORT_OBJECT_OUTCOMES = ("written", "missing", "empty")


@dataclass(frozen=True, slots=True)
class Config:
    """Settings that can change while the simulator runs (`POST /_sim/config`)."""

    speed: float = SPEED
    progress_api: bool = True
    token_ttl: float = TOKEN_TTL_SECONDS
    refused_platforms: tuple[str, ...] = DEFAULT_REFUSED_PLATFORMS
    normal_export_above_fast_limit: bool = RuleSettings().normal_export_above_fast_limit
    export_object: str = EXPORT_OBJECT_OUTCOMES[0]

    @property
    def rule_settings(self) -> RuleSettings:
        """The values of the export rules in which clouds differ."""
        return RuleSettings(
            refused_platforms=frozenset(self.refused_platforms),
            normal_export_above_fast_limit=self.normal_export_above_fast_limit,
        )

    def as_json(self) -> dict[str, Any]:
        """The configuration as `/_sim/config` shows it."""
        data = asdict(self)
        data["refused_platforms"] = list(self.refused_platforms)
        return data

    def updated(self, changes: Mapping[str, Any]) -> Config:
        """A copy with `changes` applied; `ValueError` for unknown or ill-typed values."""
        unknown = set(changes) - set(self.as_json())
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(sorted(unknown))}")
        values = dict(changes)
        for name in ("speed", "token_ttl"):
            if name in values:
                number = values[name]
                if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
                    raise ValueError(f"{name} must be a positive number")
                values[name] = float(number)
        for name in ("progress_api", "normal_export_above_fast_limit"):
            if name in values and not isinstance(values[name], bool):
                raise ValueError(f"{name} must be true or false")
        if "export_object" in values and values["export_object"] not in EXPORT_OBJECT_OUTCOMES:
            raise ValueError(f"export_object must be one of {', '.join(EXPORT_OBJECT_OUTCOMES)}")
        if "refused_platforms" in values:
            platforms = values["refused_platforms"]
            if not isinstance(platforms, list) or not all(isinstance(p, str) for p in platforms):
                raise ValueError("refused_platforms must be a list of platform names")
            values["refused_platforms"] = tuple(platforms)
        return replace(self, **values)


@dataclass(slots=True)
class Token:
    """An issued IAM token, scoped to the simulator's one project."""

    value: str
    issued_at: float
    expires_at: float


@dataclass(slots=True)
class TemporaryKey:
    """A temporary OBS access key, its secret and security token, issued by IAM for a token."""

    access: str
    secret: str
    security_token: str
    expires_at: float


@dataclass(slots=True)
class _Store:
    """The mutable part of the state; replaced wholesale on reset."""

    images: dict[str, dict[str, Any]]
    buckets: dict[str, BucketRecord]
    objects: dict[str, dict[str, StoredObject]]  # bucket -> key -> metadata
    config: Config
    jobs: dict[str, ExportJob] = field(default_factory=dict)
    # The same jobs indexed, so that a request costs the same with ten thousand in flight:
    # by image and by destination (the export rules' "busy" checks), and those whose object
    # is not written yet by the time they end (a heap of (end, id), for `_settle`).
    jobs_by_image: dict[str, list[ExportJob]] = field(default_factory=dict)
    jobs_by_target: dict[tuple[str, str], list[ExportJob]] = field(default_factory=dict)
    unsettled: list[tuple[float, str]] = field(default_factory=list)
    tokens: dict[str, Token] = field(default_factory=dict)
    temporary_keys: dict[str, TemporaryKey] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))
    # Every IMS/IAM request by method, however long the run: the log above keeps only the
    # latest, and a benchmark counts the polls of thousands of jobs.
    request_counts: Counter[str] = field(default_factory=Counter)


class SimulatorState:
    """The simulator's memory. Thread-safe: every method takes the one lock."""

    def __init__(
        self,
        settings: SimulatorSettings,
        config: Config | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._initial_config = config or Config(token_ttl=settings.token_ttl)
        self._clock = clock
        self._lock = threading.Lock()
        # Images never change after seeding (no endpoint edits them), so every reset can share
        # these records; callers only ever get copies.
        self._seed_images = {
            image["id"]: image
            for image in seed.seed_images(settings.bulk_images, settings.project_id)
        }
        self._store = self._fresh_store()

    def _fresh_store(self) -> _Store:
        return _Store(
            images=dict(self._seed_images),
            buckets={record.name: record for record in seed.seed_buckets(self.settings.region)},
            objects=seed.seed_objects(),
            config=self._initial_config,
        )

    def now(self) -> float:
        """The current time as the simulator sees it (epoch seconds)."""
        return self._clock()

    # --- control ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the seed: images, jobs, objects, tokens, faults, log and configuration."""
        fresh = self._fresh_store()
        with self._lock:
            self._store = fresh

    @property
    def config(self) -> Config:
        """The configuration in force."""
        with self._lock:
            return self._store.config

    def configure(self, changes: Mapping[str, Any]) -> Config:
        """Apply configuration changes; `ValueError` if they are invalid."""
        with self._lock:
            self._store.config = self._store.config.updated(changes)
            return self._store.config

    def add_fault(self, fault: Fault) -> list[Fault]:
        """Add a fault after the ones already set; return them all."""
        with self._lock:
            self._store.faults.append(fault)
            return list(self._store.faults)

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._store.faults.clear()

    def faults(self) -> list[Fault]:
        """The faults currently set."""
        with self._lock:
            return list(self._store.faults)

    def fire_faults(
        self, method: str, path: str, service: str = IMS_SERVICE
    ) -> tuple[float, Fault | None]:
        """Fire the faults matching a request to `service` (see `faults.fire`)."""
        with self._lock:
            return fire(self._store.faults, method, path, service)

    def record_request(self, entry: dict[str, Any]) -> None:
        """Append one IMS/IAM request to the log."""
        with self._lock:
            self._store.requests.append(entry)
            self._store.request_counts[str(entry["method"])] += 1

    def requests(self) -> list[dict[str, Any]]:
        """The IMS/IAM requests received since the last reset, oldest first."""
        with self._lock:
            return [dict(entry) for entry in self._store.requests]

    def request_counts(self) -> dict[str, int]:
        """How many IMS/IAM requests of each method arrived since the log was last emptied."""
        with self._lock:
            return dict(self._store.request_counts)

    def clear_requests(self) -> None:
        """Empty the request log and its counts."""
        with self._lock:
            self._store.requests.clear()
            self._store.request_counts.clear()

    def objects(self) -> dict[str, list[str]]:
        """Object keys per bucket (buckets with objects only), including those written by
        finished exports."""
        with self._lock:
            self._settle()
            return {bucket: sorted(keys) for bucket, keys in self._store.objects.items() if keys}

    def object_details(self) -> dict[str, dict[str, StoredObject]]:
        """Every object's metadata, per bucket."""
        with self._lock:
            self._settle()
            return {bucket: dict(keys) for bucket, keys in self._store.objects.items() if keys}

    # --- OBS ---------------------------------------------------------------------------------

    def buckets(self) -> list[BucketRecord]:
        """Every bucket, listed or not, by name."""
        with self._lock:
            return sorted(self._store.buckets.values(), key=lambda record: record.name)

    def bucket(self, name: str) -> BucketRecord | None:
        """The bucket with this name, or None."""
        with self._lock:
            return self._store.buckets.get(name)

    def add_bucket(self, record: BucketRecord) -> None:
        """Add (or replace) a bucket until the next reset."""
        with self._lock:
            self._store.buckets[record.name] = record

    def object(self, bucket: str, key: str) -> StoredObject | None:
        """An object's metadata, or None (also when there is no such bucket)."""
        with self._lock:
            self._settle()
            return self._store.objects.get(bucket, {}).get(key)

    def put_object(self, bucket: str, key: str, stored: StoredObject) -> None:
        """Write (or overwrite) an object; `KeyError` if the bucket does not exist."""
        with self._lock:
            if bucket not in self._store.buckets:
                raise KeyError(bucket)
            self._store.objects.setdefault(bucket, {})[key] = stored

    def delete_object(self, bucket: str, key: str) -> bool:
        """Remove an object; whether there was one."""
        with self._lock:
            self._settle()
            return self._store.objects.get(bucket, {}).pop(key, None) is not None

    def issue_temporary_key(self, lifetime: float) -> TemporaryKey:
        """A new temporary access key, secret and security token, living `lifetime` seconds."""
        key = TemporaryKey(
            # Real temporary AKs look like permanent ones (20 upper-case characters).
            access=secrets.token_hex(10).upper(),
            secret=secrets.token_urlsafe(30),
            security_token="gQ" + secrets.token_urlsafe(300),
            expires_at=self.now() + lifetime,
        )
        with self._lock:
            self._store.temporary_keys[key.access] = key
        return key

    def temporary_key(self, access: str) -> TemporaryKey | None:
        """The temporary key with this access key id, expired or not; None if never issued."""
        with self._lock:
            return self._store.temporary_keys.get(access)

    # --- tokens ----------------------------------------------------------------------------

    def issue_token(self) -> Token:
        """Create a token valid for the configured lifetime."""
        now = self.now()
        # Real tokens are long PKI-looking strings starting "MII"; clients must not assume
        # anything shorter or a fixed format.
        token = Token("MII" + secrets.token_urlsafe(240), now, 0.0)
        with self._lock:
            token.expires_at = now + self._store.config.token_ttl
            self._store.tokens[token.value] = token
        return token

    def find_token(self, value: str) -> Token | None:
        """The token with this value, expired or not; None if it was never issued."""
        with self._lock:
            return self._store.tokens.get(value)

    def expire_tokens(self) -> int:
        """Make every issued token and temporary OBS key expire now; return how many tokens
        there were."""
        now = self.now()
        with self._lock:
            for token in self._store.tokens.values():
                token.expires_at = min(token.expires_at, now - 1)
            for key in self._store.temporary_keys.values():
                key.expires_at = min(key.expires_at, now - 1)
            return len(self._store.tokens)

    # --- images ----------------------------------------------------------------------------

    def image(self, image_id: str) -> dict[str, Any] | None:
        """A copy of one image record, or None."""
        with self._lock:
            image = self._store.images.get(image_id)
            return copy.deepcopy(image) if image else None  # one image: a deep copy is cheap

    def list_images(
        self,
        filters: Mapping[str, str],
        sort_key: str = "created_at",
        sort_dir: str = "desc",
        limit: int = 500,
        marker: str | None = None,
    ) -> list[dict[str, Any]]:
        """One page of images, as `GET /v2/cloudimages` pages them.

        The order is total (ties broken by id), so a marker always names one place in it:
        the page holds the matching images that come after the marker.
        """
        with self._lock:
            # Callers see only registered images, as the reference says of ordinary users.
            ordered = sorted(
                (image for image in self._store.images.values() if _registered(image)),
                key=lambda image: (_text(image.get(sort_key)), image["id"]),
                reverse=sort_dir == "desc",
            )
            start = 0
            if marker is not None:
                ids = [image["id"] for image in ordered]
                if marker not in ids:
                    raise errors.ims_error(
                        400, errors.IMG_NO_SUCH_IMAGE, "The marker is not the id of any image."
                    )
                start = ids.index(marker) + 1
            page = [image for image in ordered[start:] if _matches(image, filters)][:limit]
        # Shallow copies suffice: the only nested value, `tags`, is never changed.
        return [dict(image) for image in page]

    # --- exports and jobs --------------------------------------------------------------------

    def start_export(self, image_id: str, request: ExportRequest) -> ExportJob:
        """Check every export rule (`export_rules.RULES`) and start a job, under one lock.

        Checking and creating together means two simultaneous requests for the same image
        cannot both get through (the second one gets IMG.0148). Raises `ApiError`.
        """
        now = self.now()
        with self._lock:
            self._settle()
            image = self._store.images.get(image_id)
            if image is None:
                raise errors.ims_error(404, errors.IMG_NO_SUCH_IMAGE, "No image has this id.")
            store = self._store
            target = (request.bucket, request.object_name)
            attempt = ExportAttempt(
                request=request,
                image=SourceImage.from_record(image),
                project_id=self.settings.project_id,
                region=self.settings.region,
                bucket=_as_seen_by_ims(self._store.buckets.get(request.bucket)),
                object_exists=request.object_name in store.objects.get(request.bucket, {})
                or any(job.in_flight(now) for job in store.jobs_by_target.get(target, ())),
                image_busy=any(job.in_flight(now) for job in store.jobs_by_image.get(image_id, ())),
                settings=self._store.config.rule_settings,
            )
            refusal = first_refusal(attempt)
            if refusal is not None:
                raise errors.ims_error(400, refusal.code, refusal.message)
            job = ExportJob(
                id=secrets.token_hex(16),
                image_id=image_id,
                image_name=image["name"],
                bucket=request.bucket,
                object_name=request.object_name,
                file_format=request.written_format,
                quick=request.fast,
                begin=now,
                duration=export_duration(
                    attempt.image.size_bytes, request.fast, self._store.config.speed
                ),
                failure=seed.FAILING_EXPORTS.get(image_id),
                image_bytes=attempt.image.size_bytes,
            )
            store.jobs[job.id] = job
            store.jobs_by_image.setdefault(image_id, []).append(job)
            store.jobs_by_target.setdefault(target, []).append(job)
            heapq.heappush(store.unsettled, (job.begin + job.duration, job.id))
            return job

    def add_image(self, record: dict[str, Any]) -> None:
        """Add (or replace) an image record until the next reset (`POST /_sim/images`)."""
        with self._lock:
            self._store.images[record["id"]] = copy.deepcopy(record)

    def job(self, job_id: str) -> ExportJob | None:
        """The job with this id, or None."""
        with self._lock:
            self._settle()
            return self._store.jobs.get(job_id)

    def jobs(self) -> list[ExportJob]:
        """All jobs since the last reset, oldest first."""
        with self._lock:
            self._settle()
            return sorted(self._store.jobs.values(), key=lambda job: job.begin)

    def _settle(self) -> None:
        # Write the objects of exports that have succeeded since we last looked. Caller holds
        # the lock.
        now = self.now()
        outcome = self._store.config.export_object
        pending = self._store.unsettled
        while pending and pending[0][0] <= now:
            job = self._store.jobs[pending[0][1]]
            snapshot = job.at(now)
            if snapshot.status in (INIT, RUNNING):
                break  # at its end to the last bit of a float: the next call writes it
            heapq.heappop(pending)
            if snapshot.status != SUCCESS:
                continue  # failed: no object
            job.object_written = True
            if outcome == "missing":
                continue
            size = (
                0 if outcome == "empty" else buckets.exported_size(job.image_bytes, job.file_format)
            )
            etag = buckets.multipart_etag(job.id, size) if size else buckets.single_etag("")
            self._store.objects.setdefault(job.bucket, {})[job.object_name] = StoredObject(
                size=size, etag=etag, last_modified=snapshot.end_time or now
            )


def _as_seen_by_ims(record: BucketRecord | None) -> Bucket:
    """What IMS finds when it is asked to write into a bucket."""
    if record is None:
        return Bucket(exists=False)
    return Bucket(
        storage_class=record.storage_class, region=record.region, accessible=record.accessible
    )


def _text(value: Any) -> str:
    # Compare query strings with JSON values: booleans as true/false, None as empty.
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _registered(image: Mapping[str, Any]) -> bool:
    return str(image.get("__isregistered", "")).lower() == "true"


def _matches(image: Mapping[str, Any], filters: Mapping[str, str]) -> bool:
    for key, wanted in filters.items():
        value = image.get(key)
        if isinstance(value, bool):
            if _text(value) != wanted.lower():
                return False
        elif _text(value) != wanted:
            return False
    return True
