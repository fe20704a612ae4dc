"""The portal's way to the cloud: one client per process, the export policy from settings,
and the image list cached briefly so the new-export page stays fast."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from ims_portal.audit import context
from ims_portal.cloud import Client, Image
from ims_portal.cloud.config import PASSWORD_VARS
from ims_portal.exports import rules
from ims_portal.simulator.defaults import SimulatorSettings
from ims_portal.startup import masked

IMAGE_LIST_CACHE_KEY = "exports:image-list:v1"


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


def current_request_id() -> str:
    """The request id of the work in progress, which each call to the cloud carries."""
    return context.current().request_id


@functools.cache
def get_client() -> Client:
    """The process's cloud client, built from `cloud_environment()`; each call it makes
    sends the current request id as `X-Request-Id`."""
    return Client.from_env(cloud_environment(), request_id=current_request_id)


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
    images: list[Image] | None = None if refresh else cache.get(IMAGE_LIST_CACHE_KEY)
    if images is None:
        images = list(get_client().list_images(status="active"))
        cache.set(IMAGE_LIST_CACHE_KEY, images, settings.IMAGE_LIST_CACHE_SECONDS)
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
