"""The export page's live stream: its status fragment as Server-Sent Events (`push`).

The stream answers exactly what a poll of the status fragment answers (`views.export_status`
renders every event, with its access check, its 404s and their audit), first at once and
then after each change published for the export. Between changes it only waits: no query
runs and no database connection is held, whatever the number of open pages. The streams of a
web process share one Redis subscription (`_Hub`), which wakes those of the export named.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
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


def _no_push(request: HttpRequest, pk: int) -> HttpResponseBase:
    """The answer where no stream can be had: the refusal a poll of the fragment would get
    (so every route answers a stranger alike), else 204, after which the page polls."""
    response = views.export_status(request, pk)
    return response if response.status_code not in (200, 304) else HttpResponse(status=204)


class _Listener:
    """One open stream's wait for the next change of its export."""

    def __init__(self, pk: int) -> None:
        self.pk = pk
        self.changed = asyncio.Event()
        self.lost = False  # the subscription broke: the stream ends, the page polls


class _Hub:
    """The one Redis subscription of an event loop (a web process), shared by all its
    streams: it listens on every export's channel and wakes the streams of the export each
    message names. If Redis goes, every stream is told and ends (their pages poll, and
    reconnect); the next stream to open starts a new hub."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.listeners: dict[int, set[_Listener]] = {}
        self.ready: asyncio.Future[None] = loop.create_future()
        self.task = loop.create_task(self._run())

    def add(self, pk: int) -> _Listener:
        listener = _Listener(pk)
        self.listeners.setdefault(pk, set()).add(listener)
        return listener

    def remove(self, listener: _Listener) -> None:
        group = self.listeners.get(listener.pk, set())
        group.discard(listener)
        if not group:
            self.listeners.pop(listener.pk, None)

    async def _run(self) -> None:
        client = aredis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=settings.REDIS_TIMEOUT,
            socket_keepalive=True,
            socket_timeout=None,  # it waits for messages for as long as there are none
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(export_channel("*"))
            self.ready.set_result(None)
            async for message in pubsub.listen():
                _, _, pk = message["channel"].decode().rpartition(":")
                for listener in self.listeners.get(int(pk), ()):
                    listener.changed.set()
        except (redis.RedisError, OSError, ValueError) as error:
            log.warning("live streams: Redis subscription lost (%s); pages poll", error)
            if not self.ready.done():
                self.ready.set_exception(error)
        finally:
            if _hubs.get(self.loop) is self:
                del _hubs[self.loop]
            for group in self.listeners.values():
                for listener in group:
                    listener.lost = True
                    listener.changed.set()
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Hub] = weakref.WeakKeyDictionary()


async def _subscribe(pk: int) -> tuple[_Hub, _Listener]:
    """Wait for the changes of export `pk`, through this process's hub (started if need be);
    raises if Redis does not answer."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _Hub(loop)
    await asyncio.wait_for(asyncio.shield(hub.ready), 2 * settings.REDIS_TIMEOUT)
    return hub, hub.add(pk)


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
        return await sync_to_async(_no_push)(request, pk)
    try:
        # Listening before the first render, so that no change falls between the two.
        hub, listener = await _subscribe(pk)
    except (redis.RedisError, OSError, TimeoutError) as error:
        log.warning("export %s: no live stream (Redis: %s); the page polls", pk, error)
        return await sync_to_async(_no_push)(request, pk)
    try:
        first, body, live = await sync_to_async(_render)(request, pk)
    except BaseException:
        hub.remove(listener)
        raise
    if first.status_code != 200:
        hub.remove(listener)
        return first
    response = StreamingHttpResponse(
        _stream(request, pk, body, live, hub, listener), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and its kind: pass each event on at once
    return response


async def _stream(
    request: HttpRequest, pk: int, first: bytes, live: bool, hub: _Hub, listener: _Listener
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.EXPORT_PUSH_MAX_AGE
    try:
        yield f"retry: {RECONNECT_MS}\n".encode() + _event(STATUS_EVENT, first)
        while live:
            left = deadline - loop.time()
            if left <= 0:
                return  # the browser reconnects: access is checked again
            try:
                await asyncio.wait_for(
                    listener.changed.wait(), min(settings.EXPORT_PUSH_HEARTBEAT, left)
                )
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if listener.lost:
                return  # Redis went: the page polls until its reconnect finds it again
            listener.changed.clear()  # a burst of changes (a poll and its move) is one render
            answer, body, live = await sync_to_async(_render)(request, pk)
            if answer.status_code != 200:
                return  # access withdrawn or export gone: the reconnect shows which
            yield _event(STATUS_EVENT, body)
        yield _event(END_EVENT, b"")
    finally:
        hub.remove(listener)
