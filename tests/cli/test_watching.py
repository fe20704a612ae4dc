"""The command line's words for an export come from the portal's answer, not its own."""

from __future__ import annotations

from ims_portal.cli.watching import describe


def running(**progress: object) -> dict[str, object]:
    return {"id": 7, "status_label": "Running", "in_flight": True, "progress": progress}


def test_the_time_left_is_said_in_the_words_the_portal_sent():
    export = running(percent=56, remaining_seconds=0, remaining_text="finishing…")
    assert describe(export) == "export #7: running, 56%, finishing…"


def test_no_words_from_the_portal_means_no_time_left_is_claimed():
    assert describe(running(percent=None, remaining_text="")) == "export #7: running"
