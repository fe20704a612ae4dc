"""Export pages told of each change as it commits, instead of asking every two seconds.

Every write of an export row (`Export._write`: transitions, polls' progress, the checks of
the exported object) publishes, once its transaction has committed, a small message naming
the export and its new `updated_at` on two Redis pub/sub channels: the export's and its
owner's; so does the creation of an export, marked `created`. An open export page holds a
Server-Sent Events stream (`views_push.export_events`) that waits on the export's channel and
re-renders the status fragment for each message; a history page's stream
(`views_push.history_events`) waits on its owner's channel (an auditor's on every export's)
and re-renders the rows that changed.
A message says only that something changed: the stream always renders from the database, so
a lost or repeated message costs nothing but a render. Redis being away never fails a write:
the message is dropped, one line is logged, and the pages' polling carries on.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from redis.connection import parse_url

from ims_portal.exports.models import Export

# A Redis that is down is the cache's outage too: logged on the cache's logger, whose filter
# lets one line a minute through.
log = logging.getLogger("ims_portal.cache")


def _namespace() -> str:
    """Pub/sub channels are one space for the whole Redis server, whatever its database
    number: the portal's are named after the database REDIS_URL chooses, so that portals
    that share a server in separate databases do not hear each other's exports."""
    database = parse_url(settings.REDIS_URL).get("db", 0)  # type: ignore[no-untyped-call]
    return f"ims-portal:{database}:"


def export_channel(pk: int | str) -> str:
    """The channel a change of export `pk` is published on (`"*"`: every export's, as a
    pattern)."""
    return f"{_namespace()}export:{pk}"


def owner_channel(owner_id: int | str) -> str:
    """The channel every change of the exports of user `owner_id` is published on (`"*"`:
    every user's, as a pattern)."""
    return f"{_namespace()}exports-of:{owner_id}"


@cache
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def publish(pk: int, owner_id: int, version: datetime, *, created: bool = False) -> None:
    """Tell whoever follows export `pk` (on its channel and its owner's) that it changed,
    or with `created` that it is new (a history page then shows it)."""
    body: dict[str, object] = {"export": pk, "version": version.isoformat()}
    if created:
        body["created"] = True
    message = json.dumps(body)
    client = _client(settings.REDIS_URL, settings.REDIS_TIMEOUT)
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.publish(export_channel(pk), message)
            pipe.publish(owner_channel(owner_id), message)
            pipe.execute()
    except redis.RedisError as error:
        log.warning("export %s: change not pushed (Redis: %s); pages poll", pk, error)


def on_export_written(sender: type[Export], export: Export, **kwargs: Any) -> None:
    """Receiver of `export_written`: publish once the write has committed (never for one
    that is rolled back, which no page must show)."""
    if not settings.EXPORT_PUSH:
        return
    pk, owner_id, version = export.pk, export.owner_id, export.updated_at
    transaction.on_commit(lambda: publish(pk, owner_id, version))


def on_export_created(export: Export) -> None:
    """Announce a new export once its row has committed: the one write of a row that does
    not go through `Export._write`."""
    if not settings.EXPORT_PUSH:
        return
    pk, owner_id, version = export.pk, export.owner_id, export.updated_at
    transaction.on_commit(lambda: publish(pk, owner_id, version, created=True))
