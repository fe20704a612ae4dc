"""The live streams of the pages, as Server-Sent Events (`push`): an export page's status
fragment, and a history page's rows.

The export's stream answers exactly what a poll of the status fragment answers
(`views.export_status` renders every event, with its access check, its 404s and their audit),
first at once and then after each change published for the export. The history's stream
renders the page's table first, then the rows of it that change, through the same partials
and the same query as the page. Between changes a stream only waits: no query runs and no
database connection is held, whatever the number of open pages. The streams of a web process
share one Redis subscription (`_Hub`), which wakes those of the export or the owner named.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable

import redis
import redis.asyncio as aredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from ims_portal.accounts.access import reader_required
from ims_portal.accounts.roles import is_auditor
from ims_portal.exports import overview, overview_views, views
from ims_portal.exports.forms import HistoryFilterForm
from ims_portal.exports.models import Export
from ims_portal.exports.push import export_channel, owner_channel
from ims_portal.pages import SignedInRequest

log = logging.getLogger("ims_portal.cache")  # as in push.py: a Redis outage, once a minute

STATUS_EVENT = "status"  # the page's `sse-swap`
END_EVENT = "end"  # the page's `sse-close`: nothing will change any more
RECONNECT_MS = 1000  # how soon a browser comes back after the stream ends
# The least time between two renders of one stream: a page that hears many exports (an
# auditor's) renders at most this often, each render taking every change since the last.
RENDER_GAP = 0.2


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
    """One open stream's wait for the next change of what it shows: one export's (key
    `("export", pk)`), one user's exports' (`("owner", user id)`) or every export's
    (`EVERYONE`)."""

    def __init__(self, key: tuple[str, int]) -> None:
        self.key = key
        self.changed = asyncio.Event()
        self.exports: set[int] = set()  # those that changed since the stream last looked
        self.created = False  # one of them is new
        self.lost = False  # the subscription broke: the stream ends, the page polls

    def wake(self, pk: int, created: bool) -> None:
        self.exports.add(pk)
        self.created = self.created or created
        self.changed.set()

    def take(self) -> tuple[set[int], bool]:
        """The exports changed since the last call, and whether one of them is new; a burst
        of changes (a poll and its move) is taken as one."""
        taken = self.exports, self.created
        self.exports, self.created = set(), False
        self.changed.clear()
        return taken


EVERYONE = ("everyone", 0)


def _message(data: bytes) -> tuple[int, bool]:
    body = json.loads(data)
    return int(body["export"]), bool(body.get("created", False))


class _Hub:
    """The one Redis subscription of an event loop (a web process), shared by all its
    streams: it listens on every export's channel and every owner's, and wakes the streams
    of the export or the owner each message names (and those of everyone's exports, on the
    export's). If Redis goes, every stream is told and ends (their pages poll, and
    reconnect); the next stream to open starts a new hub."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.listeners: dict[tuple[str, int], set[_Listener]] = {}
        self.ready: asyncio.Future[None] = loop.create_future()
        self.task = loop.create_task(self._run())

    def add(self, key: tuple[str, int]) -> _Listener:
        listener = _Listener(key)
        self.listeners.setdefault(key, set()).add(listener)
        return listener

    def remove(self, listener: _Listener) -> None:
        group = self.listeners.get(listener.key, set())
        group.discard(listener)
        if not group:
            self.listeners.pop(listener.key, None)

    def _dispatch(self, channel: str, data: bytes) -> None:
        try:
            pk, created = _message(data)
            if channel.startswith(export_channel("")):
                keys = [("export", pk), EVERYONE]
            else:
                keys = [("owner", int(channel.removeprefix(owner_channel(""))))]
        except (ValueError, KeyError, TypeError):
            return  # not one of the portal's messages: nobody to wake
        for key in keys:
            for listener in self.listeners.get(key, ()):
                listener.wake(pk, created)

    async def _run(self) -> None:
        client = aredis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=settings.REDIS_TIMEOUT,
            socket_keepalive=True,
            socket_timeout=None,  # it waits for messages for as long as there are none
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(export_channel("*"), owner_channel("*"))
            self.ready.set_result(None)
            async for message in pubsub.listen():
                self._dispatch(message["channel"].decode(), message["data"])
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


async def _subscribe(key: tuple[str, int]) -> tuple[_Hub, _Listener]:
    """Wait for the changes `key` names, through this process's hub (started if need be);
    raises if Redis does not answer."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _Hub(loop)
    await asyncio.wait_for(asyncio.shield(hub.ready), 2 * settings.REDIS_TIMEOUT)
    return hub, hub.add(key)


def _event(name: str, body: bytes, event_id: str | None = None) -> bytes:
    """One Server-Sent Event; with `event_id`, the `id` a reconnecting browser sends back
    as its `Last-Event-ID` header."""
    lines = body.decode().splitlines() or [""]
    head = f"event: {name}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + "".join(f"data: {line}\n" for line in lines).encode() + b"\n"


Update = Callable[[set[int], bool], tuple[bool, bytes, bool]]


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
        hub, listener = await _subscribe(("export", pk))
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

    def update(changed: set[int], created: bool) -> tuple[bool, bytes, bool]:
        answer, body, live = _render(request, pk)
        return answer.status_code == 200, _event(STATUS_EVENT, body), live

    return _streaming(_stream(_event(STATUS_EVENT, body), live, hub, listener, update))


def _streaming(events: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and its kind: pass each event on at once
    return response


async def _stream(
    first: bytes, live: bool, hub: _Hub, listener: _Listener, update: Update
) -> AsyncIterator[bytes]:
    """The events of a stream: `first`, then, while it is `live`, what `update` (run in a
    thread, with the exports that changed and whether one is new) answers after each
    change, until it says the user may no longer see the page, the stream's time is up or
    Redis goes; heartbeats between."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.EXPORT_PUSH_MAX_AGE
    rendered = loop.time()
    try:
        yield f"retry: {RECONNECT_MS}\n".encode() + first
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
            await asyncio.sleep(max(0.0, rendered + RENDER_GAP - loop.time()))
            if listener.lost:
                return  # Redis went: the page polls until its reconnect finds it again
            rendered = loop.time()
            allowed, events, live = await sync_to_async(update)(*listener.take())
            if not allowed:
                return  # access withdrawn or export gone: the reconnect shows which
            if events:
                yield events
        yield _event(END_EVENT, b"")
    finally:
        hub.remove(listener)


# The streams of a user's pages (the history, the overview): what the page shows of the
# exports the user may see, first whole, then what each change of them alters.


class _UserPage:
    """What the stream of one of a user's pages keeps of the page between renders; every
    render asks the page's own access check again (`access`: sign-in, roles, method)."""

    access: Callable[[HttpRequest], HttpResponseBase]

    def __init__(self, request: SignedInRequest) -> None:
        self.request = request

    @property
    def key(self) -> tuple[str, int]:
        """Whose exports the page shows: an auditor's everyone's, others their own."""
        return EVERYONE if is_auditor(self.request.user) else ("owner", self.request.user.pk)

    @property
    def live(self) -> bool:
        """Whether the page can still change."""
        return True

    def render(self) -> bytes:
        """The page's live part as it is now, as the event that replaces it."""
        raise NotImplementedError

    def changes(self, changed: set[int], created: bool) -> bytes:
        """The events for a change of exports `changed` (with `created`, one is new)."""
        raise NotImplementedError

    def first(self) -> bytes:
        try:
            return self.render()
        finally:
            connections.close_all()

    def update(self, changed: set[int], created: bool) -> tuple[bool, bytes, bool]:
        try:
            if self.access(self.request).status_code != 200:
                return False, b"", False
            return True, self.changes(changed, created), self.live
        finally:
            connections.close_all()


Start = Callable[[HttpRequest], HttpResponseBase | _UserPage]


def _start(start: Start, request: HttpRequest, streaming: bool) -> HttpResponseBase | _UserPage:
    try:
        return start(request)
    finally:
        if streaming:
            connections.close_all()  # an idle stream holds no connection


async def _serve(request: HttpRequest, start: Start, what: str) -> HttpResponseBase:
    """A user's page's stream: `start` answers the page's refusal (sign-in, 403, 400 for a
    junk query) or what the stream follows; 204 where there is no push, as for an export's
    stream."""
    streaming = settings.EXPORT_PUSH and isinstance(request, ASGIRequest)
    started = await sync_to_async(_start)(start, request, streaming)
    if not isinstance(started, _UserPage):
        return started
    if not streaming:
        return HttpResponse(status=204)
    try:
        hub, listener = await _subscribe(started.key)  # before the first render, as above
    except (redis.RedisError, OSError, TimeoutError) as error:
        log.warning("%s: no live stream (Redis: %s); the page polls", what, error)
        return HttpResponse(status=204)
    try:
        first = await sync_to_async(started.first)()
    except BaseException:
        hub.remove(listener)
        raise
    return _streaming(_stream(first, started.live, hub, listener, started.update))


# The history page's stream.

ROWS_EVENT = "rows"  # the table's `sse-swap`; each row's is `export-<pk>`


@reader_required
@require_GET
def _history_access(request: HttpRequest) -> HttpResponseBase:
    return HttpResponse()  # the history page's checks passed


class _HistoryPage(_UserPage):
    """A history page: its filters and the rows it shows (one query renders them all)."""

    access = staticmethod(_history_access)

    def __init__(self, request: SignedInRequest, filters: HistoryFilterForm) -> None:
        super().__init__(request)
        self.filters = filters
        self.first_page = (filters.cleaned_data["page"] or 1) == 1
        self.shown: set[int] = set()
        self.in_flight: set[int] = set()

    @property
    def key(self) -> tuple[str, int]:
        """As the page's own query has it: the one requester an auditor filters on, if any."""
        user = self.filters.cleaned_data.get("user")
        return ("owner", user.pk) if user is not None else super().key

    @property
    def live(self) -> bool:
        """New exports appear on the first page; on another, its rows in flight change."""
        return self.first_page or bool(self.in_flight)

    def render(self) -> bytes:
        context = views.history_context(self.request, self.filters)
        response = TemplateResponse(self.request, "exports/partials/history_table.html", context)
        response.render()
        rows = context["page"].object_list  # type: ignore[attr-defined]
        self.shown = {export.pk for export in rows}
        self.in_flight = {export.pk for export in rows if export.is_in_flight}
        return _event(ROWS_EVENT, response.content)

    def changes(self, changed: set[int], created: bool) -> bytes:
        """The table again where a new export may show on it, else each row shown that
        changed, through the row partial the table includes."""
        if created and self.first_page:
            return self.render()
        events = b""
        show_owner = is_auditor(self.request.user)
        for export in views.history_rows(self.request, changed & self.shown):
            context = {"export": export, "show_owner": show_owner}
            row = render_to_string("exports/partials/history_row.html", context, self.request)
            events += _event(f"export-{export.pk}", row.encode())
            self.in_flight.discard(export.pk)
            if export.is_in_flight:
                self.in_flight.add(export.pk)
        return events


def _history_start(request: HttpRequest) -> HttpResponseBase | _UserPage:
    refused = _history_access(request)
    if refused.status_code != 200:
        return refused
    filters = views.history_filters(request)  # type: ignore[arg-type]
    if filters is None:
        return HttpResponseBadRequest("Invalid filter.")
    return _HistoryPage(request, filters)  # type: ignore[arg-type]


async def history_events(request: HttpRequest) -> HttpResponseBase:
    """The live stream of the history page whose query string it is given: its table as it
    is now, then each row shown again whenever its export changes, and the table again
    when the user (for auditors: anyone) makes an export and the page is the first; a
    heartbeat while nothing changes; `end` once nothing on the page can change.

    Whose exports it hears follows the page: an exporter's own, an auditor's everyone's (or
    the requester filtered on); whatever a message names, only rows the page's own query
    finds are rendered. Refused as the page refuses; 204 where there is no push, as for the
    export's stream. Not one query runs and no database connection is held between changes.
    """
    return await _serve(request, _history_start, "history")


# The overview's stream.

LIVE_EVENT = "live"  # the overview's `sse-swap`: its live list


@reader_required
@require_GET
def _overview_access(request: HttpRequest) -> HttpResponseBase:
    return HttpResponse()  # the overview's checks passed


class _OverviewList(_UserPage):
    """An overview's live list: the exports it lists, which stay listed once they end, as
    with the list's poll. It stays live, for the next new export."""

    access = staticmethod(_overview_access)

    def __init__(self, request: SignedInRequest, shown: list[int]) -> None:
        super().__init__(request)
        self.shown = shown

    def render(self) -> bytes:
        context = overview_views.live_context(self.request, self.shown)
        response = TemplateResponse(self.request, "exports/partials/overview_live.html", context)
        response.render()
        self.shown = overview.parse_shown(str(context["shown"]))
        # The list's id is what it shows: a reconnect (the browser's own, after a drop or a
        # sleeping tab) names it again, so the exports that ended meanwhile stay listed.
        return _event(LIVE_EVENT, response.content, event_id=str(context["shown"]))

    def changes(self, changed: set[int], created: bool) -> bytes:
        """The list again after any change of the exports it may show: a bar moves, one
        ends, a new one starts."""
        return self.render()


def _overview_start(request: HttpRequest) -> HttpResponseBase | _UserPage:
    refused = _overview_access(request)
    if refused.status_code != 200:
        return refused
    # The last list a reconnecting browser was sent, else the page's, as the poll has it.
    listed = request.headers.get("Last-Event-ID", request.GET.get("shown", ""))
    try:
        shown = overview.parse_shown(listed)
    except ValueError:
        return HttpResponseBadRequest("Invalid list of exports.")
    return _OverviewList(request, shown)  # type: ignore[arg-type]


async def overview_events(request: HttpRequest) -> HttpResponseBase:
    """The live stream of the overview's list of exports in flight: the list as it is now
    (keeping those of `shown` that have ended, or on a reconnect those of the last list
    sent, which each event names as its `id`), then again after each change of the
    user's exports (an auditor's: anyone's), a new one included; a heartbeat between.
    Refused as the list's poll is; 204 where there is no push, as for the other streams.
    Not one query runs and no database connection is held between changes."""
    return await _serve(request, _overview_start, "overview")
