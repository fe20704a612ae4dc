"""The portal's way to the cloud: one client per process, the export policy from settings,
and the image and bucket lists cached briefly so the new-export page stays fast."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from ims_portal.cloud import Bucket, Client, CloudError, ConfigurationError, Image, PermissionDenied
from ims_portal.cloud.config import PASSWORD_VARS
from ims_portal.exports import rules
from ims_portal.simulator.defaults import SimulatorSettings
from ims_portal.startup import masked

log = logging.getLogger(__name__)

IMAGE_LIST_CACHE_KEY = "exports:image-list:v1"
BUCKET_LIST_CACHE_KEY = "exports:bucket-list:v1:{region}"


def _simulator_environment() -> dict[str, str] | None:
    """The simulator's client variables when the portal is to use it: in development,
    with no IMS_ENDPOINT of its own (the simulator `make run` starts)."""
    if not settings.DEBUG or os.environ.get("IMS_ENDPOINT", "").strip():
        return None
    simulator = SimulatorSettings.from_env().client_environment()
    if os.environ.get("IMS_AK", "").strip():
        # An AK/SK pair given by hand wins over the simulator's IAM user: the client
        # refuses both schemes at once.
        simulator = {name: value for name, value in simulator.items() if name not in PASSWORD_VARS}
    return simulator


def cloud_environment() -> Mapping[str, str]:
    """The variables the portal's cloud client is built from (see README).

    The process environment; in development without IMS_ENDPOINT, laid over the
    simulator's variables, so `make run` needs no cloud settings at all.
    """
    simulator = _simulator_environment()
    if simulator is None:
        return os.environ
    given = {name: value for name, value in os.environ.items() if value.strip()}
    return {**simulator, **given}


def describe_cloud() -> str:
    """Which cloud the client talks to, for the start-up log line (never a credential)."""
    simulator = _simulator_environment()
    if simulator is not None:
        return f"simulator at {simulator['IMS_ENDPOINT']}"
    endpoint = masked(os.environ.get("IMS_ENDPOINT", "").strip())
    if not endpoint:
        return "none (IMS_ENDPOINT is not set)"
    return f"IMS at {endpoint}"


@functools.cache
def get_client() -> Client:
    """The process's cloud client, built from `cloud_environment()`."""
    return Client.from_env(cloud_environment())


def export_policy() -> rules.ExportPolicy:
    """The export policy in force: `rules.DEFAULT_POLICY` (Open Telekom Cloud's), with each
    `IMS_EXPORT_*` setting that is set laid over it (see README).

    Read at every call rather than once at import, so the form, its help texts and the
    rules the page sends the browser always agree with the settings of the moment.
    """
    changes: dict[str, Any] = {}
    if settings.IMS_EXPORT_FAST_ONLY_FROM_GB is not None:
        changes["fast_only_from_bytes"] = settings.IMS_EXPORT_FAST_ONLY_FROM_GB * rules.GIB
    if settings.IMS_EXPORT_MAX_GB is not None:
        changes["max_bytes"] = settings.IMS_EXPORT_MAX_GB * rules.GIB
    if settings.IMS_EXPORT_REFUSED_PLATFORMS is not None:
        changes["refused_platforms"] = frozenset(settings.IMS_EXPORT_REFUSED_PLATFORMS)
    if settings.IMS_EXPORT_NORMAL_ABOVE_FAST_LIMIT is not None:
        changes["normal_export_above_fast_limit"] = settings.IMS_EXPORT_NORMAL_ABOVE_FAST_LIMIT
    return dataclasses.replace(rules.DEFAULT_POLICY, **changes)


@dataclass(frozen=True, slots=True)
class ImageChoice:
    """An image as the picker shows it: exportable, or disabled with the reason."""

    image: Image
    refusal: str
    requires_quick: bool

    @property
    def exportable(self) -> bool:
        return not self.refusal


def image_choices(refresh: bool = False) -> list[ImageChoice]:
    """Active images, exportable ones first, each with why it cannot be exported."""
    images: list[Image] | None = None if refresh else _cached(IMAGE_LIST_CACHE_KEY)
    if images is None:
        images = list(get_client().list_images(status="active"))
        _cache(IMAGE_LIST_CACHE_KEY, images, settings.IMAGE_LIST_CACHE_SECONDS)
    policy = export_policy()
    choices = []
    for image in images:
        refusal = rules.image_refusal(image, policy)
        choices.append(
            ImageChoice(
                image=image,
                refusal=refusal.message if refusal else "",
                requires_quick=rules.requires_quick_export(image, policy),
            )
        )
    choices.sort(key=lambda c: (not c.exportable, c.image.name.lower()))
    return choices


def _cached(key: str) -> Any:
    """The cached value, or None when there is none or the cache cannot be read: a cache
    is a shortcut, and Redis being down must not take the page down with it."""
    try:
        return cache.get(key)
    except Exception as error:  # any backend's failure (redis.ConnectionError, OSError...)
        log.warning("cache: reading %s failed, asking the source: %s", key, error)
        return None


def _cache(key: str, value: object, seconds: float) -> None:
    try:
        cache.set(key, value, seconds)
    except Exception as error:  # see _cached
        log.warning("cache: writing %s failed: %s", key, error)


def image_region(image_id: str | None = None) -> str:
    """The region the image lives in: the portal's `IMS_REGION`, the region of the IMS
    endpoint it lists its images from (IMS answers for one region), whichever image it is."""
    return str(settings.IMS_REGION)


@dataclass(frozen=True, slots=True)
class BucketChoice:
    """A bucket as the picker shows it: usable for the image, or disabled with the reason.

    `storage_class` is OBS's (`STANDARD`, `WARM`, `COLD`), None where it could not be read;
    such a bucket stays choosable and the pre-flight says what it could not verify.
    """

    bucket: Bucket
    storage_class: str | None
    reason: str

    @property
    def usable(self) -> bool:
        return not self.reason

    @property
    def storage_class_name(self) -> str:
        return rules.storage_class_name(self.storage_class) if self.storage_class else ""


@dataclass(frozen=True, slots=True)
class BucketChoices:
    """The picker's buckets, usable ones first, or why there is no list (`error`; then the
    page falls back to the typed name). `forbidden` is OBS's 403 to the list call: the
    portal's account may not list buckets."""

    region: str
    choices: tuple[BucketChoice, ...] = ()
    error: str = ""
    forbidden: bool = False

    @property
    def usable_storage(self) -> str:
        return rules.exportable_storage_classes()


def bucket_choices(region: str, refresh: bool = False) -> BucketChoices:
    """The account's buckets for an image in `region`, each with why it cannot take the
    export; never raises for OBS or the cache (the page says what went wrong instead).

    OBS lists every region's buckets in one call, without their storage class, so the
    class is read with one `HEAD` per bucket in the image's region (the others are ruled
    out by their region); list and classes are cached for `BUCKET_LIST_CACHE_SECONDS`.
    """
    key = BUCKET_LIST_CACHE_KEY.format(region=region)
    listed: tuple[list[Bucket], dict[str, str | None]] | None = None if refresh else _cached(key)
    if listed is None:
        try:
            listed = _read_buckets(region)
        except PermissionDenied as error:
            log.info("buckets: the account may not list buckets: %s", error)
            return BucketChoices(region, error=describe_obs_error(error), forbidden=True)
        except (CloudError, ConfigurationError) as error:
            log.warning("buckets: the list could not be read: %s", error)
            return BucketChoices(region, error=describe_obs_error(error))
        _cache(key, listed, settings.BUCKET_LIST_CACHE_SECONDS)
    buckets, classes = listed
    choices = [
        BucketChoice(
            bucket=bucket,
            storage_class=classes.get(bucket.name),
            reason=rules.bucket_problem(classes.get(bucket.name), bucket.region, region),
        )
        for bucket in buckets
    ]
    # Usable ones first; among them, the ones whose class is known before the others.
    choices.sort(key=lambda c: (not c.usable, c.storage_class is None, c.bucket.name))
    return BucketChoices(region, tuple(choices))


def _read_buckets(region: str) -> tuple[list[Bucket], dict[str, str | None]]:
    client = get_client()
    buckets = list(client.list_buckets())
    classes: dict[str, str | None] = {}
    for bucket in buckets:
        if rules.region_problem(bucket.region, region):
            continue  # ruled out by its region; its class does not matter
        try:
            info = client.bucket_info(bucket.name)
        except CloudError as error:
            log.info("buckets: %s: storage class unknown: %s", bucket.name, error)
            info = None
        classes[bucket.name] = info.storage_class if info is not None else None
    return buckets, classes


def describe_obs_error(error: CloudError | ConfigurationError) -> str:
    """What went wrong asking OBS, in the words a page uses ("OBS refused ... (403)")."""
    if isinstance(error, ConfigurationError):
        return f"OBS is not configured ({error})"
    if isinstance(error, PermissionDenied):
        return "OBS refused to answer the portal's account (403 Forbidden)"
    if error.status:
        return f"OBS answered {error.status}{f' {error.code}' if error.code else ''}"
    return f"OBS could not be reached ({error.message or type(error).__name__})"
