"""The export page's live stream: its status fragment as Server-Sent Events (`push`).

The stream answers exactly what a poll of the status fragment answers (`views.export_status`
renders every event, with its access check, its 404s and their audit), first at once and
then after each change published for the export. Between changes it only waits on Redis:
no query runs and no database connection is held, whatever the number of open pages.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import redis
import redis.asyncio as aredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse

from ims_portal.exports import views
from ims_portal.exports.models import Export
from ims_portal.exports.push import export_channel

log = logging.getLogger("ims_portal.cache")  # as in push.py: a Redis outage, once a minute

STATUS_EVENT = "status"  # the page's `sse-swap`
END_EVENT = "end"  # the page's `sse-close`: nothing will change any more
RECONNECT_MS = 1000  # how soon a browser comes back after the stream ends


def _render(request: HttpRequest, pk: int) -> tuple[HttpResponseBase, bytes, bool]:
    """The answer a poll of the status fragment gets, its body, and whether the export can
    still change; the database connection this used is closed, so an idle stream holds none."""
    try:
        response = views.export_status(request, pk)
        if isinstance(response, TemplateResponse):
            response.render()
        if response.status_code != 200 or not isinstance(response, TemplateResponse):
            return response, b"", False  # the refusal, as a poll gets it
        export = (response.context_data or {}).get("export")
        live = isinstance(export, Export) and (export.is_in_flight or export.is_being_verified)
        return response, response.content, live
    finally:
        connections.close_all()


async def _close(client: aredis.Redis, pubsub: aredis.client.PubSub) -> None:
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await client.aclose()


def _event(name: str, body: bytes) -> bytes:
    lines = body.decode().splitlines() or [""]
    return (
        f"event: {name}\n".encode() + "".join(f"data: {line}\n" for line in lines).encode() + b"\n"
    )


async def export_events(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The live stream of export `pk`'s status fragment (`text/event-stream`): the fragment
    as it is now, then again after every change; a comment line as heartbeat while nothing
    changes; an `end` event once the export can no longer change.

    Answers 204 (which tells a browser's EventSource not to come back, so the page goes on
    polling) where there is no push: `EXPORT_PUSH` off, Redis not answering, or a server
    that is not ASGI and so cannot hold a stream without holding a worker. Whoever may not
    poll the fragment gets the same answer as that poll (sign-in, 403, 404).
    """
    if not settings.EXPORT_PUSH or not isinstance(request, ASGIRequest):
        return HttpResponse(status=204)
    client = aredis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.REDIS_TIMEOUT,
        socket_timeout=None,  # the stream's waits are bounded by their own timeouts
    )
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        # Subscribed before the first render, so that no change falls between the two.
        await pubsub.subscribe(export_channel(pk))
    except (redis.RedisError, OSError) as error:
        log.warning("export %s: no live stream (Redis: %s); the page polls", pk, error)
        await _close(client, pubsub)
        return HttpResponse(status=204)
    first, body, live = await sync_to_async(_render)(request, pk)
    if first.status_code != 200:
        await _close(client, pubsub)
        return first
    response = StreamingHttpResponse(
        _stream(request, pk, body, live, client, pubsub),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and its kind: pass each event on at once
    return response


async def _stream(
    request: HttpRequest,
    pk: int,
    first: bytes,
    live: bool,
    client: aredis.Redis,
    pubsub: aredis.client.PubSub,
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.EXPORT_PUSH_MAX_AGE
    try:
        yield f"retry: {RECONNECT_MS}\n".encode() + _event(STATUS_EVENT, first)
        while live:
            left = deadline - loop.time()
            if left <= 0:
                return  # the browser reconnects: access is checked again
            wait = min(settings.EXPORT_PUSH_HEARTBEAT, left)
            message = await pubsub.get_message(timeout=wait)
            if message is None:
                yield b": heartbeat\n\n"
                continue
            # A burst of changes (a poll and its transition) is one render.
            while await pubsub.get_message(timeout=0) is not None:
                pass
            log.debug("export %s changed: %s", pk, json.loads(message["data"]))
            answer, body, live = await sync_to_async(_render)(request, pk)
            if answer.status_code != 200:
                return  # access withdrawn or export gone: the reconnect shows which
            yield _event(STATUS_EVENT, body)
        yield _event(END_EVENT, b"")
    except (redis.RedisError, OSError) as error:
        log.warning("export %s: live stream ended (Redis: %s); the page polls", pk, error)
    finally:
        await _close(client, pubsub)
