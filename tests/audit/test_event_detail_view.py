"""One event's page: every field, its links in the chain, and to its target."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ims_portal.audit import context
from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, Target, record

pytestmark = pytest.mark.django_db


def test_an_event_shows_every_field_and_links_to_its_target_and_neighbours(as_carol, alice):
    with context.bound(context.Origin("req-detail-0001", "192.0.2.8", "Firefox/140")):
        before = record(SYSTEM, Action.EXPORT_SUBMITTED)
        event = record(
            alice, Action.EXPORT_REQUESTED, Target("export", "12", "web-01 → a:b"), bucket="a"
        )
        after = record(SYSTEM, Action.EXPORT_RUNNING)
    response = as_carol.get(reverse("audit:detail", args=[event.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "alice@example.com",
        "exporter",
        "Export requested",
        "192.0.2.8",
        "Firefox/140",
        "req-detail-0001",
        event.hash,
        event.prev_hash,
        "&quot;bucket&quot;: &quot;a&quot;",
    ):
        assert text in html, text
    assert 'href="/exports/12/"' in html
    assert 'href="/audit/?target=export%3A12"' in html
    assert f'href="/audit/{before.pk}/"' in html and f'href="/audit/{after.pk}/"' in html


def test_an_unknown_event_is_404(as_carol):
    assert as_carol.get(reverse("audit:detail", args=[424242])).status_code == 404
