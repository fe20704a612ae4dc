"""The streams of a user's pages, served over ASGI by uvicorn. The history's: the page's
table first, then each shown row that another thread's commit changes, rendered by the
page's row partial, and the table again when a new export is made; heartbeats and not one
query while nothing changes; whose exports it hears follows the roles as the page does; the
same refusals as the page. The overview's: its live list again after each change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from ims_portal.audit.models import Action, AuditEvent
from ims_portal.exports import push
from ims_portal.exports.models import Export, Status
from ims_portal.exports.views import HISTORY_PAGE_SIZE
from tests.asgi_server import commit_elsewhere, serving_asgi
from tests.exports.test_push import (
    WAIT,
    Stream,
    assert_event_stream,
    listening,
    queries_of_this_process,
    running,
    session_of,
)
from tests.portal_fixtures import export_form_data

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def asgi_url(settings) -> Iterator[str]:
    settings.EXPORT_PUSH = True
    settings.EXPORT_PUSH_HEARTBEAT = 0.3
    with serving_asgi() as url:
        yield url


def open_history(url: str, user, query: str = "") -> requests.Response:
    path = reverse("exports:history_events") + (f"?{query}" if query else "")
    return requests.get(
        url + path, cookies=session_of(user), stream=True, timeout=(5, WAIT), allow_redirects=False
    )


def poll_to(export: Export, progress: float) -> None:
    loaded = Export.objects.get(pk=export.pk)
    commit_elsewhere(
        lambda: loaded.record_poll(timezone.now() + timedelta(seconds=30), progress=progress)
    )


def create_elsewhere(make_export, owner, **fields) -> Export:
    """A new export committed by another thread and announced as the new-export form does."""
    made: list[Export] = []

    def create() -> None:
        made.append(make_export(owner, **fields))
        push.on_export_created(made[0])

    commit_elsewhere(create)
    return made[0]


def beats_only(stream: Stream, count: int = 3) -> bool:
    """Whether the next `count` things the stream sends are heartbeats (nothing else came)."""
    return [stream.next(skip_comments=False) for _ in range(count)] == [
        ("comment", "heartbeat")
    ] * count


def test_the_stream_sends_the_table_then_each_changed_row_through_the_row_partial(
    asgi_url, alice, make_export
):
    export = running(make_export, alice)
    response = open_history(asgi_url, alice)
    assert_event_stream(response)
    stream = Stream(response)

    name, table = stream.next()
    assert name == "rows"
    assert table.lstrip().startswith('<div id="history-table"')
    assert f'id="history-export-{export.pk}"' in table and "20%" in table

    poll_to(export, 0.55)
    name, row = stream.next()
    assert name == f"export-{export.pk}"
    assert row.lstrip().startswith(f'<tr id="history-export-{export.pk}"') and "55%" in row

    loaded = Export.objects.get(pk=export.pk)
    commit_elsewhere(lambda: loaded.transition(Status.FAILED, error_code="IMG.0999"))
    name, row = stream.next()
    assert name == f"export-{export.pk}" and 'data-status="failed"' in row
    # The first page stays live: new exports appear there.
    assert beats_only(stream)
    stream.response.close()


def test_a_new_export_brings_the_table_again_with_it_on_top(asgi_url, alice, make_export):
    older = running(make_export, alice)
    stream = Stream(open_history(asgi_url, alice))
    assert stream.next()[0] == "rows"

    new = create_elsewhere(make_export, alice, image_name="brand-new")
    name, table = stream.next()
    assert name == "rows"
    assert table.index(f'id="history-export-{new.pk}"') < table.index(
        f'id="history-export-{older.pk}"'
    )
    poll_to(new, 0.3)  # the new row is followed as the others are
    name, row = stream.next()
    assert name == f"export-{new.pk}" and "30%" in row
    stream.response.close()


@pytest.mark.django_db(transaction=False)  # the request's transaction commits at the block's end
def test_the_new_export_form_announces_the_export_once_committed(
    client, alice, settings, django_capture_on_commit_callbacks, cloud
):
    settings.EXPORT_PUSH = True
    pubsub = listening(push.owner_channel(alice.pk))
    client.force_login(alice)
    with django_capture_on_commit_callbacks() as callbacks:
        assert client.post(reverse("exports:new"), export_form_data()).status_code == 302
        assert pubsub.get_message(timeout=0.3) is None  # not before the commit
    for callback in callbacks:
        if "on_export_created" in callback.__qualname__:
            callback()
    message = pubsub.get_message(timeout=2)
    assert message is not None
    export = Export.objects.get()
    assert json.loads(message["data"]) == {
        "export": export.pk,
        "version": export.updated_at.isoformat(),
        "created": True,
    }
    pubsub.close()


def test_a_reconnect_renders_what_changed_while_the_page_was_away(asgi_url, alice, make_export):
    export = running(make_export, alice)
    stream = Stream(open_history(asgi_url, alice))
    assert "20%" in stream.next()[1]
    stream.response.close()
    poll_to(export, 0.7)
    new = make_export(alice, image_name="made-while-away")  # not even announced
    again = Stream(open_history(asgi_url, alice))
    name, table = again.next()
    assert name == "rows" and "70%" in table and f'id="history-export-{new.pk}"' in table
    again.response.close()


def test_an_idle_stream_sends_heartbeats_and_runs_no_query(asgi_url, alice, bob, make_export):
    running(make_export, alice)
    others = running(make_export, bob)
    stream = Stream(open_history(asgi_url, alice))
    assert stream.next()[0] == "rows"
    poll_to(others, 0.5)  # someone else's export: nothing for alice's page to do
    with queries_of_this_process() as queries:
        assert beats_only(stream, 4)
        assert queries == []
    stream.response.close()


def test_nobody_hears_an_export_their_role_does_not_let_them_see(
    asgi_url, alice, bob, carol, make_export
):
    alices = running(make_export, alice)
    bobs = running(make_export, bob)
    as_alice, as_bob, as_carol = (Stream(open_history(asgi_url, u)) for u in (alice, bob, carol))
    tables = {
        u: s.next()[1] for u, s in (("alice", as_alice), ("bob", as_bob), ("carol", as_carol))
    }
    assert f"history-export-{bobs.pk}" not in tables["alice"]
    assert f"history-export-{alices.pk}" not in tables["bob"]
    assert f"history-export-{alices.pk}" in tables["carol"]  # an auditor's page: everyone's
    assert f"history-export-{bobs.pk}" in tables["carol"]

    poll_to(alices, 0.6)
    assert as_alice.next()[0] == f"export-{alices.pk}"
    assert as_carol.next()[0] == f"export-{alices.pk}"
    new = create_elsewhere(make_export, alice, image_name="alices-new")
    name, table = as_alice.next()
    assert name == "rows" and f"history-export-{new.pk}" in table
    name, table = as_carol.next()
    assert name == "rows" and f"history-export-{new.pk}" in table
    assert "alice" in table  # the auditor's table names who asked
    assert beats_only(as_bob)  # not a word of alice's exports to bob
    for stream in (as_alice, as_bob, as_carol):
        stream.response.close()
    # Nobody reached for another's export, so however often a page reconnects, no access is
    # recorded as denied.
    again = Stream(open_history(asgi_url, bob))
    assert again.next()[0] == "rows"
    again.response.close()
    assert not AuditEvent.objects.filter(action=Action.ACCESS_DENIED).exists()


def test_an_auditor_filtering_on_one_requester_hears_only_theirs(
    asgi_url, alice, bob, carol, make_export
):
    alices = running(make_export, alice)
    bobs = running(make_export, bob)
    stream = Stream(open_history(asgi_url, carol, f"user={bob.username}"))
    name, table = stream.next()
    assert name == "rows"
    assert f"history-export-{bobs.pk}" in table and f"history-export-{alices.pk}" not in table
    poll_to(alices, 0.6)
    create_elsewhere(make_export, alice)
    assert beats_only(stream)
    poll_to(bobs, 0.6)
    assert stream.next()[0] == f"export-{bobs.pk}"
    stream.response.close()


def test_a_change_of_a_row_another_page_shows_sends_nothing(asgi_url, alice, make_export):
    now = timezone.now()
    oldest = running(make_export, alice)
    for minutes in range(HISTORY_PAGE_SIZE):  # newer, and finished: the first page is theirs
        make_export(
            alice,
            status=Status.SUCCEEDED,
            created_at=now + timedelta(minutes=minutes),
            finished_at=now + timedelta(minutes=minutes + 1),
        )
    first = Stream(open_history(asgi_url, alice))
    assert f"history-export-{oldest.pk}" not in first.next()[1]
    second = Stream(open_history(asgi_url, alice, "page=2"))
    assert f"history-export-{oldest.pk}" in second.next()[1]
    poll_to(oldest, 0.5)
    assert second.next()[0] == f"export-{oldest.pk}"
    assert beats_only(first)
    # Once nothing on the second page can change, its stream ends: no new export shows there.
    loaded = Export.objects.get(pk=oldest.pk)
    commit_elsewhere(lambda: loaded.transition(Status.FAILED, error_code="IMG.0999"))
    assert second.next()[0] == f"export-{oldest.pk}"
    assert second.next() == ("end", "")
    assert second.next()[0] == "closed"
    first.response.close()


def test_the_stream_refuses_whom_the_page_refuses(asgi_url, alice, make_user, client):
    nobody = make_user("dave")  # signed in, no role
    assert open_history(asgi_url, nobody).status_code == 403
    path = reverse("exports:history_events")
    anonymous = requests.get(asgi_url + path, timeout=WAIT, allow_redirects=False)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.headers["Location"]
    assert open_history(asgi_url, alice, "status=nonsense").status_code == 400
    assert open_history(asgi_url, alice, "page=0").status_code == 400
    posted = requests.post(asgi_url + path, cookies=session_of(alice), timeout=WAIT)
    assert posted.status_code in (403, 405)  # CSRF or method: never a stream


def test_without_push_or_without_asgi_the_answer_is_204_and_the_page_polls(
    asgi_url, alice, make_export, settings, client
):
    running(make_export, alice)
    client.force_login(alice)
    path = reverse("exports:history_events")
    assert client.get(path).status_code == 204  # the test client is WSGI: no stream
    page = client.get(reverse("exports:history")).content.decode()
    assert f'sse-connect="{path}"' in page and 'hx-trigger="every 2s"' in page
    filtered = client.get(reverse("exports:history"), {"status": "running"}).content.decode()
    assert f'sse-connect="{path}?status=running"' in filtered

    settings.EXPORT_PUSH = False
    assert open_history(asgi_url, alice).status_code == 204
    page = client.get(reverse("exports:history")).content.decode()
    assert "sse-connect" not in page and 'hx-trigger="every 2s"' in page


def test_a_later_page_with_nothing_in_flight_opens_no_stream(client, alice, make_export, settings):
    settings.EXPORT_PUSH = True
    now = timezone.now()
    for minutes in range(HISTORY_PAGE_SIZE + 1):
        make_export(alice, status=Status.SUCCEEDED, created_at=now + timedelta(minutes=minutes))
    client.force_login(alice)
    assert "sse-connect" in client.get(reverse("exports:history")).content.decode()
    later = client.get(reverse("exports:history"), {"page": 2}).content.decode()
    assert "sse-connect" not in later and "every 2s" not in later


def open_overview(url: str, user, query: str = "", **headers: str) -> requests.Response:
    path = reverse("overview_events") + (f"?{query}" if query else "")
    return requests.get(
        url + path,
        cookies=session_of(user),
        headers=headers,
        stream=True,
        timeout=(5, WAIT),
        allow_redirects=False,
    )


def test_the_overview_list_is_pushed_again_after_each_change_and_stays_open(
    asgi_url, alice, bob, carol, make_export
):
    export = running(make_export, alice)
    as_alice, as_bob, as_carol = (Stream(open_overview(asgi_url, u)) for u in (alice, bob, carol))
    name, listed = as_alice.next()
    assert name == "live" and listed.lstrip().startswith('<section id="overview-live"')
    assert f'data-export="{export.pk}"' in listed and 'value="20"' in listed
    assert f'data-export="{export.pk}"' not in as_bob.next()[1]
    assert f'data-export="{export.pk}"' in as_carol.next()[1]

    poll_to(export, 0.45)
    assert 'value="45"' in as_alice.next()[1]
    assert 'value="45"' in as_carol.next()[1]
    new = create_elsewhere(make_export, alice, image_name="overview-new")
    name, listed = as_alice.next()
    assert f'data-export="{new.pk}"' in listed
    assert f'data-export="{new.pk}"' in as_carol.next()[1]
    assert beats_only(as_bob)  # not a word of alice's exports to bob

    for ending, outcome in ((export, Status.FAILED), (new, Status.CANCELLED)):
        loaded = Export.objects.get(pk=ending.pk)
        commit_elsewhere(lambda e=loaded, to=outcome: e.transition(to))
        listed = as_alice.next()[1]
        assert f'data-export="{ending.pk}" data-status="{outcome}"' in listed
    assert 'data-in-flight="no"' in listed and "the exports above have ended" in listed
    assert beats_only(as_alice)  # open still: the next new export will show
    for stream in (as_alice, as_bob, as_carol):
        stream.response.close()


def test_a_reconnect_lists_what_the_last_list_did_those_ended_meanwhile_too(
    asgi_url, alice, make_export
):
    first = running(make_export, alice)
    stream = Stream(open_overview(asgi_url, alice))
    assert f'data-export="{first.pk}"' in stream.next()[1]
    assert stream.last_id == str(first.pk)
    second = create_elsewhere(make_export, alice, image_name="second")
    assert f'data-export="{second.pk}"' in stream.next()[1]
    last_list = stream.last_id
    assert last_list is not None and set(last_list.split(",")) == {str(first.pk), str(second.pk)}
    stream.response.close()

    # The tab sleeps; meanwhile the first export fails, and so leaves the exports in flight.
    loaded = Export.objects.get(pk=first.pk)
    commit_elsewhere(lambda: loaded.transition(Status.FAILED))
    back = Stream(open_overview(asgi_url, alice, **{"Last-Event-ID": last_list}))
    listed = back.next()[1]
    assert f'data-export="{first.pk}" data-status="failed"' in listed
    assert f'data-export="{second.pk}"' in listed
    back.response.close()
    # A first connect names no list: only what is in flight now.
    fresh = Stream(open_overview(asgi_url, alice))
    assert f'data-export="{first.pk}"' not in fresh.next()[1]
    fresh.response.close()
    assert open_overview(asgi_url, alice, **{"Last-Event-ID": "1;2"}).status_code == 400


def test_the_overview_stream_refuses_whom_the_list_refuses(asgi_url, alice, make_user, client):
    assert open_overview(asgi_url, make_user("dave")).status_code == 403
    anonymous = requests.get(asgi_url + reverse("overview_events"), timeout=WAIT)
    assert anonymous.history and "/accounts/login/" in anonymous.url
    assert open_overview(asgi_url, alice, "shown=1,x").status_code == 400
    client.force_login(alice)
    assert client.get(reverse("overview_events")).status_code == 204  # WSGI: no stream
    page = client.get(reverse("home")).content.decode()
    assert f'sse-connect="{reverse("overview_events")}"' in page
