"""The live status fragment answers 304 when the polling page already shows what a fresh
render would, and only then; the access rules are the same as for every export view."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import Target, record
from ims_portal.exports import freshness
from ims_portal.exports.models import Export, Status

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def running_for_hours(make_export, owner) -> Export:
    """An export two hours in (its elapsed time shows minutes) with three hours left, 30 s
    clear of the next change of either figure's words, so two polls in a row see the same."""
    now = timezone.now()
    return make_export(
        owner,
        status=Status.RUNNING,
        created_at=now - timedelta(hours=2, seconds=30),
        submitted_at=now - timedelta(hours=2),
        running_at=now - timedelta(hours=2),
        last_change_at=now,
        job_id="job-1",
        progress=0.4,
        poll_count=40,
        eta_seconds=3 * 3600.0,
        eta_at=now,
    )


def poll(client, export: Export, etag: str | None = None):
    headers = {**HTMX, **({"If-None-Match": etag} if etag else {})}
    return client.get(reverse("exports:status", args=[export.pk]), headers=headers)


def test_a_poll_that_holds_the_current_version_gets_304_without_a_render(
    client, alice, make_export, django_assert_max_num_queries
):
    export = running_for_hours(make_export, alice)
    client.force_login(alice)
    first = poll(client, export)
    assert first.status_code == 200
    etag = first["ETag"]
    assert etag.startswith('W/"')
    assert "private" in first["Cache-Control"] and "no-cache" in first["Cache-Control"]

    with django_assert_max_num_queries(1):  # the export and its timeline head, together
        again = poll(client, export, etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert not hasattr(again, "templates") or not again.templates


def test_a_change_to_the_export_gets_the_new_fragment_and_a_new_version(client, alice, make_export):
    export = running_for_hours(make_export, alice)
    client.force_login(alice)
    etag = poll(client, export)["ETag"]
    export.record_poll(timezone.now() + timedelta(seconds=30), progress=0.55)
    changed = poll(client, export, etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert 'value="55"' in changed.content.decode()


def test_a_new_event_on_the_timeline_is_a_new_version_for_the_auditor(
    client, bob, carol, make_export, alice
):
    export = running_for_hours(make_export, alice)
    client.force_login(carol)
    etag = poll(client, export)["ETag"]
    record(bob, Action.ACCESS_DENIED, Target("export", str(export.pk)), outcome="denied")
    changed = poll(client, export, etag)
    assert changed.status_code == 200
    assert "Access denied" in changed.content.decode()


def test_the_version_follows_the_words_of_the_clock_not_the_clock(alice, make_export):
    export = running_for_hours(make_export, alice)
    seen = freshness.load(export.pk)
    assert seen is not None
    loaded, head = seen
    request = RequestFactory().get("/")
    request.user = alice
    now = timezone.now()
    same = freshness.version(request, loaded, head, now + timedelta(seconds=20))
    assert freshness.version(request, loaded, head, now) == same  # "2 h 00 min", "about 3 h"
    # A minute on, the elapsed time reads differently: so does the version.
    assert freshness.version(request, loaded, head, now + timedelta(seconds=40)) != same
    # Ten minutes later, the time left has counted down to other words as well.
    later = now + timedelta(minutes=10)
    assert freshness.clock_words(loaded, later)[1] != freshness.clock_words(loaded, now)[1]


def test_the_fragment_names_when_its_estimate_runs_out_not_seconds_that_go_stale(
    client, alice, make_export
):
    export = running_for_hours(make_export, alice)
    client.force_login(alice)
    html = poll(client, export).content.decode()
    assert export.eta_at is not None
    end = int((export.eta_at + timedelta(hours=3)).timestamp())
    assert f'data-eta-end="{end}"' in html
    assert "data-eta-seconds" not in html


def test_another_viewer_holding_the_version_gets_their_own_fragment(
    client, alice, carol, make_export
):
    export = running_for_hours(make_export, alice)
    client.force_login(alice)
    etag = poll(client, export)["ETag"]
    client.force_login(carol)
    assert poll(client, export, etag).status_code == 200


def test_a_version_never_opens_someone_elses_export(client, alice, bob, make_export):
    export = running_for_hours(make_export, alice)
    client.force_login(alice)
    etag = poll(client, export)["ETag"]
    client.force_login(bob)
    before = AuditEvent.objects.filter(action=Action.ACCESS_DENIED).count()
    refused = poll(client, export, etag)
    assert refused.status_code == 404
    assert "ETag" not in refused
    assert AuditEvent.objects.filter(action=Action.ACCESS_DENIED).count() == before + 1
    missing = client.get(
        reverse("exports:status", args=[export.pk + 1000]), headers={"If-None-Match": etag}
    )
    assert missing.status_code == 404


def test_a_signed_out_poll_holding_a_version_is_sent_to_sign_in(client, alice, make_export):
    export = running_for_hours(make_export, alice)
    client.force_login(alice)
    etag = poll(client, export)["ETag"]
    client.logout()
    answer = poll(client, export, etag)
    assert answer.status_code != 304
    assert "HX-Redirect" in answer


def test_an_ended_export_stops_the_polling_whatever_version_is_held(client, alice, make_export):
    export = running_for_hours(make_export, alice)
    client.force_login(alice)
    etag = poll(client, export)["ETag"]
    export.transition(Status.SUCCEEDED)
    ended = poll(client, export, etag)
    assert ended.status_code == 286
    assert "ETag" not in ended
