"""The export page's live stream, served over ASGI by uvicorn: the current fragment first,
then one after each change another thread commits; heartbeats and not one query while
nothing changes; the same refusals as the polled fragment; and the messages behind it,
published on commit only and never failing a write when Redis is away."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import redis
import requests
from django.conf import settings
from django.db import transaction
from django.db.backends import utils
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ims_portal.exports import push
from ims_portal.exports.models import Export, Status
from tests.asgi_server import commit_elsewhere, serving_asgi

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 10.0  # seconds an expected event may take on a busy machine


@pytest.fixture
def asgi_url(settings) -> Iterator[str]:
    settings.EXPORT_PUSH = True
    settings.EXPORT_PUSH_HEARTBEAT = 0.3
    with serving_asgi() as url:
        yield url


class Stream:
    """An open event stream, read in a thread of its own into (event, data) pairs; a
    comment line (the heartbeat) arrives as ("comment", text)."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.last_id: str | None = None  # the `id` of the last event read that had one
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = ""
        try:
            for chunk in self.response.iter_content(chunk_size=None, decode_unicode=True):
                buffer += chunk
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    for line in block.split("\n"):
                        if line.startswith("id: "):
                            self.last_id = line.removeprefix("id: ")
                    self.events.put(parse(block))
        except (requests.RequestException, OSError, AttributeError):
            pass  # the test closed the response (urllib3 then reads from nothing)
        self.events.put(("closed", ""))

    def next(self, skip_comments: bool = True) -> tuple[str, str]:
        while True:
            name, data = self.events.get(timeout=WAIT)
            if name != "comment" or not skip_comments:
                return name, data


def parse(block: str) -> tuple[str, str]:
    name, data = "message", []
    for line in block.split("\n"):
        if line.startswith(":"):
            return "comment", line[1:].strip()
        field, _, value = line.partition(": ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    return name, "\n".join(data)


def assert_event_stream(response: requests.Response) -> None:
    """An open stream, as a proxy must pass it on: unbuffered and never cached."""
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert "no-cache" in response.headers["Cache-Control"]
    assert response.headers["X-Accel-Buffering"] == "no"


@contextmanager
def queries_of_this_process() -> Iterator[list[str]]:
    """Every query of every thread of this process (a server's included) while the block
    runs, in the list it gives."""
    queries: list[str] = []
    execute = utils.CursorWrapper.execute

    def counting(self, sql, params=None):
        queries.append(sql)
        return execute(self, sql, params)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utils.CursorWrapper, "execute", counting)
        yield queries


def session_of(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def open_stream(url: str, export: Export, user) -> requests.Response:
    path = reverse("exports:events", args=[export.pk])
    return requests.get(
        url + path, cookies=session_of(user), stream=True, timeout=(5, WAIT), allow_redirects=False
    )


def running(make_export, owner) -> Export:
    now = timezone.now()
    return make_export(
        owner,
        status=Status.RUNNING,
        created_at=now - timedelta(minutes=5),
        submitted_at=now - timedelta(minutes=4),
        running_at=now - timedelta(minutes=4),
        last_change_at=now,
        next_poll_at=now + timedelta(seconds=30),
        job_id="job-1",
        progress=0.2,
        poll_count=3,
    )


def test_the_stream_sends_the_current_fragment_then_each_committed_change_then_ends(
    asgi_url, alice, make_export
):
    export = running(make_export, alice)
    response = open_stream(asgi_url, export, alice)
    assert_event_stream(response)
    stream = Stream(response)

    name, first = stream.next()
    assert name == "status"
    assert 'id="export-status"' in first and 'data-status="running"' in first
    assert 'value="20"' in first
    assert 'id="audit-timeline"' in first  # swapped out of band, as with a poll

    loaded = Export.objects.get(pk=export.pk)
    commit_elsewhere(
        lambda: loaded.record_poll(timezone.now() + timedelta(seconds=30), progress=0.55)
    )
    name, changed = stream.next()
    assert name == "status"
    assert 'value="55"' in changed

    loaded = Export.objects.get(pk=export.pk)
    commit_elsewhere(
        lambda: loaded.transition(Status.FAILED, error_code="IMG.0999", error_message="broken")
    )
    name, ended = stream.next()
    assert name == "status"
    assert 'data-status="failed"' in ended and "IMG.0999" in ended
    assert stream.next()[0] == "end"
    assert stream.next()[0] == "closed"  # the server ends the stream; the page stops


def test_a_reconnect_renders_what_changed_while_the_page_was_away(asgi_url, alice, make_export):
    export = running(make_export, alice)
    stream = Stream(open_stream(asgi_url, export, alice))
    assert 'value="20"' in stream.next()[1]
    stream.response.close()

    loaded = Export.objects.get(pk=export.pk)
    commit_elsewhere(
        lambda: loaded.record_poll(timezone.now() + timedelta(seconds=30), progress=0.7)
    )
    again = Stream(open_stream(asgi_url, export, alice))
    assert 'value="70"' in again.next()[1]
    again.response.close()


def test_an_idle_stream_sends_heartbeats_and_runs_no_query(asgi_url, alice, make_export):
    export = running(make_export, alice)
    stream = Stream(open_stream(asgi_url, export, alice))
    assert stream.next()[0] == "status"
    with queries_of_this_process() as queries:
        beats = [stream.next(skip_comments=False) for _ in range(4)]
        assert beats == [("comment", "heartbeat")] * 4
        assert queries == []
    stream.response.close()


def test_the_stream_refuses_whom_the_fragment_refuses(asgi_url, alice, bob, make_user, make_export):
    export = running(make_export, alice)
    assert open_stream(asgi_url, export, bob).status_code == 404  # not his: as if not there
    nobody = make_user("dave")  # signed in, no role
    assert open_stream(asgi_url, export, nobody).status_code == 403
    path = reverse("exports:events", args=[export.pk])
    anonymous = requests.get(asgi_url + path, timeout=WAIT, allow_redirects=False)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.headers["Location"]
    missing = requests.get(
        asgi_url + reverse("exports:events", args=[export.pk + 1000]),
        cookies=session_of(alice),
        timeout=WAIT,
    )
    assert missing.status_code == 404


def test_without_push_or_without_asgi_the_answer_is_204_and_the_page_polls(
    asgi_url, alice, make_export, settings, client
):
    export = running(make_export, alice)
    client.force_login(alice)
    path = reverse("exports:events", args=[export.pk])
    assert client.get(path).status_code == 204  # the test client is WSGI: no stream
    page = client.get(export.get_absolute_url()).content.decode()
    assert f'sse-connect="{path}"' in page and 'hx-trigger="every 2s"' in page

    settings.EXPORT_PUSH = False
    assert open_stream(asgi_url, export, alice).status_code == 204
    page = client.get(export.get_absolute_url()).content.decode()
    assert "sse-connect" not in page and 'hx-trigger="every 2s"' in page


def test_an_ended_export_page_opens_no_stream(client, alice, make_export, settings):
    settings.EXPORT_PUSH = True
    export = make_export(alice, status=Status.FAILED, finished_at=timezone.now())
    client.force_login(alice)
    assert "sse-connect" not in client.get(export.get_absolute_url()).content.decode()


def listening(*channels: str) -> redis.client.PubSub:
    pubsub = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(*channels)
    assert pubsub.get_message(timeout=1) is None  # the subscription is confirmed
    return pubsub


def test_a_write_is_published_on_the_exports_and_the_owners_channel_once_committed(
    alice, make_export, settings
):
    settings.EXPORT_PUSH = True
    export = running(make_export, alice)
    pubsub = listening(push.export_channel(export.pk), push.owner_channel(alice.pk))
    with transaction.atomic():
        export.record_poll(timezone.now() + timedelta(seconds=30), progress=0.4)
        assert pubsub.get_message(timeout=0.3) is None  # not before the commit
    got = [pubsub.get_message(timeout=2) for _ in range(2)]
    assert sorted(m["channel"].decode() for m in got if m) == sorted(
        [push.export_channel(export.pk), push.owner_channel(alice.pk)]
    )
    body = json.loads(got[0]["data"])
    assert body == {"export": export.pk, "version": export.updated_at.isoformat()}
    pubsub.close()


def test_a_write_rolled_back_is_never_published(alice, make_export, settings):
    settings.EXPORT_PUSH = True
    export = running(make_export, alice)
    pubsub = listening(push.export_channel(export.pk))
    with pytest.raises(RuntimeError), transaction.atomic():
        export.record_poll(timezone.now() + timedelta(seconds=30), progress=0.4)
        raise RuntimeError("the worker dies before its commit")
    assert pubsub.get_message(timeout=0.5) is None
    pubsub.close()


def test_redis_away_never_fails_a_write_and_is_logged(alice, make_export, settings, monkeypatch):
    settings.EXPORT_PUSH = True
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    warned: list[str] = []
    # The cache's logger lets one line a minute through: the call is what is checked here.
    monkeypatch.setattr(push.log, "warning", lambda message, *args: warned.append(message % args))
    export = running(make_export, alice)
    export.record_poll(timezone.now() + timedelta(seconds=30), progress=0.4)
    assert Export.objects.get(pk=export.pk).progress == pytest.approx(0.4)
    assert len(warned) == 1 and "not pushed" in warned[0]


def test_an_auditor_follows_anyones_export(asgi_url, alice, carol, make_export):
    export = running(make_export, alice)
    stream = Stream(open_stream(asgi_url, export, carol))
    name, first = stream.next()
    assert name == "status" and 'data-status="running"' in first
    stream.response.close()


def pattern_listeners() -> int:
    """Clients of the Redis server listening on a channel pattern (what a hub does)."""
    clients = redis.Redis.from_url(settings.REDIS_URL).client_list()
    return sum(1 for client in clients if int(client.get("psub", 0)))


def test_the_streams_of_a_process_share_one_redis_subscription(asgi_url, alice, make_export):
    first, second = running(make_export, alice), running(make_export, alice)
    before = pattern_listeners()
    streams = [Stream(open_stream(asgi_url, export, alice)) for export in (first, second, first)]
    for stream in streams:
        assert stream.next()[0] == "status"
    assert pattern_listeners() - before == 1  # three streams, one subscription

    loaded = Export.objects.get(pk=second.pk)
    commit_elsewhere(
        lambda: loaded.record_poll(timezone.now() + timedelta(seconds=30), progress=0.9)
    )
    assert 'value="90"' in streams[1].next()[1]
    # The first export's streams were not woken: they only beat.
    for stream in (streams[0], streams[2]):
        beats = [stream.next(skip_comments=False) for _ in range(3)]
        assert beats == [("comment", "heartbeat")] * 3
    for stream in streams:
        stream.response.close()


def test_without_redis_the_stream_answers_204(asgi_url, alice, make_export, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    export = running(make_export, alice)
    assert open_stream(asgi_url, export, alice).status_code == 204
