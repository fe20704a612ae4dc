"""The time left, as a person watching an export sees it: once shown, it never jumps."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest

from tests.browser.conftest import start_export

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Below this many seconds, whole-second rounding and the moment the page is read weigh more
# than the estimate; the comparison starts above it.
COMPARABLE = 8


def test_once_shown_the_time_left_never_jumps_more_than_twofold_between_refreshes(
    new_export_page, live_server, celery_worker_process, sim
):
    page = new_export_page
    sim.control.configure(speed=1.2)  # about 20 s for the small image: ten page refreshes
    start_export(page)

    readings: list[tuple[float, int]] = []  # (when read, seconds left the page said)
    texts: set[str] = set()
    for _ in range(400):
        if page.get_attribute("#export-status", "data-status") == "succeeded":
            break
        time_left = page.locator("#export-status .time-left")
        if time_left.count():
            texts.add(time_left.inner_text())
            # The page marks up when its estimate runs out (epoch seconds).
            end = time_left.get_attribute("data-eta-end")
            seconds = None if end is None else round(int(end) - time.time())
            if seconds is not None and (not readings or readings[-1][1] != seconds):
                readings.append((time.monotonic(), seconds))
        page.wait_for_timeout(200)
    assert page.get_attribute("#export-status", "data-status") == "succeeded"

    assert len(readings) >= 3, f"the time left was hardly ever shown: {readings} {texts}"
    assert any(text.startswith("about ") and text.endswith(" left") for text in texts), texts
    assert "estimating…" in texts  # a fresh portal has no past export to go by at first
    for (t0, before), (t1, after) in pairwise(readings):
        counted = before - (t1 - t0)
        if counted >= COMPARABLE:
            assert counted / 2 <= after <= counted * 2, (before, after, t1 - t0, readings)
    assert page.csp_violations == []
