"""The overview in a browser: its bars move live during real exports, refreshed by one
poll for all of them, which stops once they have ended."""

from __future__ import annotations

import itertools
import time

import pytest

from ims_portal.simulator import seed
from tests.browser.conftest import sign_in, start_export

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLL_EVERY = 2.0  # seconds, the live list's hx-trigger


def request_export(page, live_server, image_id: str) -> None:
    page.goto(f"{live_server.url}/exports/new/")
    start_export(page, image_id)


def test_the_overviews_bars_move_live_with_one_poll_for_all_of_them(
    page, live_server, alice, cloud_settings, celery_worker_process, sim
):
    sim.control.configure(speed=3)  # about 9 s for a small image: several polls to watch
    sign_in(page, live_server, "alice", "pw-alice")
    assert page.url == f"{live_server.url}/"
    assert "Nothing is in flight" in page.text_content("#overview-live")
    for image_id in (seed.SMALL_CENTOS, seed.SMALL_DEBIAN):
        request_export(page, live_server, image_id)

    polls: list[float] = []
    page.on("request", lambda r: "/overview/live/" in r.url and polls.append(time.monotonic()))
    page.goto(f"{live_server.url}/")
    page.evaluate("window.notReloaded = true")
    rows = page.locator("#overview-live .live-export")
    assert rows.count() == 2

    seen: dict[str, set[str]] = {}
    started = time.monotonic()
    while page.get_attribute("#overview-live", "data-in-flight") == "yes":
        assert time.monotonic() - started < 60, "the exports did not end in time"
        # Read every row in one go: a swap between two separate reads could take a bar away.
        for export_id, value in page.eval_on_selector_all(
            "#overview-live .live-export",
            "rows => rows.map(row => [row.dataset.export,"
            " row.querySelector('progress')?.getAttribute('value') ?? null])",
        ):
            if value is not None:
                seen.setdefault(export_id, set()).add(value)
        page.wait_for_timeout(200)
    watched = time.monotonic() - started

    assert len(seen) == 2 and all(len(values) >= 2 for values in seen.values()), seen
    assert [row.get_attribute("data-status") for row in rows.all()] == ["succeeded"] * 2
    assert page.locator("#overview-live progress").count() == 0  # ended: no bar, the outcome
    assert page.get_attribute("#overview-live", "hx-trigger") is None  # polling stopped
    assert page.evaluate("window.notReloaded") is True  # live, without a reload

    # One request per interval for both bars: never two within one interval, and no more
    # than the intervals watched.
    assert len(polls) >= 2
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    assert min(gaps, default=POLL_EVERY) > POLL_EVERY / 2, gaps
    assert len(polls) <= watched / POLL_EVERY + 2, (len(polls), watched)
    count = len(polls)
    page.wait_for_timeout(2.5 * POLL_EVERY * 1000)
    assert len(polls) == count  # and none after the 286
    assert page.csp_violations == []
