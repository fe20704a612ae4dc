"""An export page and the history in Chromium, served over ASGI: a change a worker commits
reaches the page by push, with no poll at all while the stream is open (on the history, a
new export too); with the stream unreachable, the page's polling brings the same change."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from ims_portal.exports import push
from ims_portal.exports.models import Export, Status
from tests.asgi_server import commit_elsewhere, serving_asgi
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def asgi_server(settings) -> Iterator[SimpleNamespace]:
    settings.EXPORT_PUSH = True
    with serving_asgi() as url:
        yield SimpleNamespace(url=url)


def running(make_export, owner, **fields) -> Export:
    now = timezone.now()
    return make_export(
        owner,
        **fields,
        status=Status.RUNNING,
        submitted_at=now,
        running_at=now,
        last_change_at=now,
        next_poll_at=now + timedelta(seconds=30),
        job_id="job-1",
        progress=0.2,
        poll_count=3,
    )


def poll_to(export: Export, progress: float) -> None:
    loaded = Export.objects.get(pk=export.pk)
    commit_elsewhere(
        lambda: loaded.record_poll(timezone.now() + timedelta(seconds=30), progress=progress)
    )


def watch_polls(page) -> list[str]:
    polls: list[str] = []
    page.on("request", lambda r: "/status/" in r.url and polls.append(r.url))
    return polls


@pytest.fixture
def streaming(page, asgi_server, alice, make_export) -> Callable[..., tuple[Export, list[str]]]:
    """Opens, for a running export of alice's, the page at `path(export)` as she does, its
    polls followed by `watch` from before she signs in; returns the export and those polls
    once the page's stream (`stream_open`, a selector) is open."""

    def open_page(
        path: Callable[[Export], str], watch: Callable[..., list[str]], stream_open: str
    ) -> tuple[Export, list[str]]:
        export = running(make_export, alice)
        polls = watch(page)
        sign_in(page, asgi_server, "alice", "pw-alice")
        page.goto(asgi_server.url + path(export))
        page.wait_for_selector(stream_open)
        return export, polls

    return open_page


def test_a_committed_change_reaches_the_page_by_push_without_a_poll(page, streaming):
    export, polls = streaming(Export.get_absolute_url, watch_polls, "#export-live[data-push=open]")
    assert page.get_attribute("#export-progress", "value") == "20"

    poll_to(export, 0.6)
    page.wait_for_selector("#export-progress[value='60']", timeout=5_000)
    page.wait_for_timeout(2_500)  # longer than the poll interval: not one poll went out
    assert polls == []
    assert page.is_visible("#export-live[data-push=open]")

    loaded = Export.objects.get(pk=export.pk)
    commit_elsewhere(lambda: loaded.transition(Status.FAILED, error_code="IMG.0999"))
    page.wait_for_selector("#export-status[data-status=failed]", timeout=5_000)
    assert "IMG.0999" in page.text_content("#export-status")
    # The stream ended with the export: the page neither streams nor polls any more.
    page.wait_for_function("() => !document.querySelector('#export-live[data-push]')")
    page.wait_for_timeout(2_500)
    assert polls == []
    assert page.csp_violations == []


def test_with_the_stream_unreachable_the_page_polls_the_change_in(
    page, asgi_server, alice, make_export
):
    export = running(make_export, alice)
    polls = watch_polls(page)
    page.route("**/events/", lambda route: route.abort())
    sign_in(page, asgi_server, "alice", "pw-alice")
    page.goto(asgi_server.url + export.get_absolute_url())
    assert page.get_attribute("#export-progress", "value") == "20"

    poll_to(export, 0.6)
    page.wait_for_selector("#export-progress[value='60']", timeout=8_000)
    assert polls  # it came by a poll
    assert not page.is_visible("#export-live[data-push]")
    assert page.csp_violations == []


def watch_history_polls(page) -> list[str]:
    """The history table's polls: htmx's requests of the history page itself."""
    polls: list[str] = []
    page.on(
        "request",
        lambda r: r.headers.get("hx-request") and "/exports/?" in r.url and polls.append(r.url),
    )
    return polls


def test_a_history_row_changes_by_push_and_a_new_export_appears_without_a_poll(
    page, streaming, alice, make_export
):
    export, polls = streaming(
        lambda export: "/exports/", watch_history_polls, "#history-rows[data-push=open]"
    )
    row = f"#history-export-{export.pk}"
    assert page.text_content(f"{row} .percent") == "20%"

    poll_to(export, 0.6)
    page.wait_for_selector(f"{row} .percent:text('60%')", timeout=5_000)
    page.wait_for_timeout(2_500)  # longer than the poll interval: not one poll went out
    assert polls == []

    made: list[Export] = []

    def create() -> None:
        made.append(make_export(alice, image_name="pushed-in"))
        push.on_export_created(made[0])

    commit_elsewhere(create)
    page.wait_for_selector(f"#history-export-{made[0].pk}", timeout=5_000)
    # The new export is the first row, and the pushed table's rows are followed in turn.
    assert page.get_attribute("#history-table tbody tr:first-child", "id") == (
        f"history-export-{made[0].pk}"
    )
    loaded = Export.objects.get(pk=export.pk)
    commit_elsewhere(lambda: loaded.transition(Status.FAILED, error_code="IMG.0999"))
    page.wait_for_selector(f"{row}[data-status=failed]", timeout=5_000)
    assert polls == []
    assert page.is_visible("#history-rows[data-push=open]")
    assert page.csp_violations == []


def test_with_the_history_stream_unreachable_the_table_polls_the_change_in(
    page, asgi_server, alice, make_export
):
    export = running(make_export, alice)
    polls = watch_history_polls(page)
    page.route("**/exports/events/", lambda route: route.abort())
    sign_in(page, asgi_server, "alice", "pw-alice")
    page.goto(asgi_server.url + "/exports/")
    poll_to(export, 0.6)
    page.wait_for_selector(f"#history-export-{export.pk} .percent:text('60%')", timeout=8_000)
    assert polls  # it came by a poll
    assert not page.is_visible("#history-rows[data-push]")
    assert page.csp_violations == []


def test_the_overview_bar_moves_by_push_without_a_poll(page, asgi_server, alice, make_export):
    export = running(make_export, alice)
    polls: list[str] = []
    page.on("request", lambda r: "/overview/live/" in r.url and polls.append(r.url))
    sign_in(page, asgi_server, "alice", "pw-alice")  # lands on the overview
    page.wait_for_selector("#overview-stream[data-push=open]")
    bar = f"#overview-live [data-export='{export.pk}'] progress"
    assert page.get_attribute(bar, "value") == "20"
    poll_to(export, 0.6)
    page.wait_for_selector(f"{bar}[value='60']", timeout=5_000)
    elapsed = page.text_content("#overview-live .elapsed")
    page.wait_for_timeout(2_500)  # longer than the poll interval: not one poll went out
    assert polls == []
    # It counts on by itself, once a second (later on a busy machine: waited for).
    page.wait_for_function(
        "([selector, before]) => document.querySelector(selector).textContent !== before",
        arg=["#overview-live .elapsed", elapsed],
        timeout=10_000,
    )
    assert page.csp_violations == []


def test_a_filtered_history_streams_with_its_filters(page, asgi_server, alice, make_export):
    alpha = running(make_export, alice, image_name="alpha-01")
    beta = running(make_export, alice, image_name="beta-01")
    polls = watch_history_polls(page)
    sign_in(page, asgi_server, "alice", "pw-alice")
    page.goto(asgi_server.url + "/exports/")
    page.wait_for_selector("#history-rows[data-push=open]")
    page.fill("#id_q", "beta")
    page.wait_for_selector("#history-rows[sse-connect*='q=beta'][data-push=open]")
    assert page.locator(f"#history-export-{alpha.pk}").count() == 0
    polls.clear()  # the filter's own request

    poll_to(beta, 0.6)
    page.wait_for_selector(f"#history-export-{beta.pk} .percent:text('60%')", timeout=5_000)
    poll_to(alpha, 0.7)
    page.wait_for_timeout(2_500)  # longer than the poll interval: not one poll went out
    assert polls == []
    assert page.locator(f"#history-export-{alpha.pk}").count() == 0  # filtered out it stays
    assert page.csp_violations == []


def test_an_older_answer_never_takes_a_newer_history_row_back(
    page, asgi_server, alice, make_export
):
    export = running(make_export, alice)
    row = f"#history-export-{export.pk}"
    page.route("**/exports/events/", lambda route: route.abort())  # the table polls
    kept: list[str] = []  # the first poll's answer, the row at 20%
    replayed: list[str] = []

    def answer(route) -> None:
        if replayed or len(kept) > 1:
            # An answer held up on the way: rendered before the row's last change, it
            # arrives after the page has shown that change.
            replayed.append(route.request.url)
            route.fulfill(status=200, body=kept[0], content_type="text/html; charset=utf-8")
            return
        response = route.fetch()
        kept.append(response.text())
        route.fulfill(response=response)

    page.route(lambda url: "/exports/?" in url, answer)
    sign_in(page, asgi_server, "alice", "pw-alice")
    page.goto(asgi_server.url + "/exports/")
    wait_until(lambda: kept, page)
    poll_to(export, 0.6)
    page.wait_for_selector(f"{row} .percent:text('60%')", timeout=8_000)
    wait_until(lambda: len(replayed) >= 2, page)
    assert page.text_content(f"{row} .percent") == "60%"
    assert page.csp_violations == []


def wait_until(condition: Callable[[], object], page, seconds: float = 10.0) -> None:
    """Let the page run (its polls, its timers) until `condition` holds."""
    for _ in range(int(seconds * 10)):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError("the page never got there")


def test_the_elapsed_time_counts_on_in_the_words_of_the_duration_filter(
    page, asgi_server, alice, make_export
):
    ages = {
        "hours": timedelta(hours=2, minutes=5),
        "minutes": timedelta(minutes=3),
        "seconds": None,
    }
    made = {}
    for unit, age in ages.items():
        made[unit] = running(make_export, alice, image_name=f"age-{unit}")
        if age is not None:
            Export.objects.filter(pk=made[unit].pk).update(created_at=timezone.now() - age)
    sign_in(page, asgi_server, "alice", "pw-alice")  # lands on the overview
    page.wait_for_selector("#overview-stream[data-push=open]")
    words = {
        "hours": r"^2 h 0[5-9] min$",
        "minutes": r"^3 min \d\d s$",
        "seconds": r"^\d{1,2} s$",
    }
    for unit, pattern in words.items():
        span = f"#overview-live [data-export='{made[unit].pk}'] .elapsed"
        # Whatever the span says, the page's clock writes it again within a second.
        page.eval_on_selector(span, "span => { span.textContent = 'not yet'; }")
        page.wait_for_function(
            "([selector, pattern]) => new RegExp(pattern).test("
            "document.querySelector(selector).textContent)",
            arg=[span, pattern],
            timeout=5_000,
        )
    assert page.csp_violations == []
