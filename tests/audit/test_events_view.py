"""The audit page: auditors only, filtered, paged in constant queries, each search audited."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.urls import reverse

from ims_portal.audit import context
from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.audit.trail import SYSTEM, Target, record
from tests.audit.helpers import only

pytestmark = pytest.mark.django_db

URL = "/audit/"


@pytest.fixture
def clock(monkeypatch):
    """Set the time `record` stamps: `clock.at(datetime)`."""
    state = SimpleNamespace(now=datetime(2026, 6, 15, 12, 0, tzinfo=UTC))
    monkeypatch.setattr("ims_portal.audit.trail.timezone", SimpleNamespace(now=lambda: state.now))
    state.at = lambda moment: setattr(state, "now", moment)
    return state


def export_event(actor, action, export_id: int, image: str, bucket: str, **details):
    return record(
        actor,
        action,
        Target("export", str(export_id), f"{image} → {bucket}:f.qcow2"),
        image_id=f"id-{image}",
        image_name=image,
        bucket=bucket,
        **details,
    )


def listed(response) -> list[int]:
    return [event.pk for event in response.context["page"].object_list]


def test_exporters_get_403_and_visitors_the_sign_in_page_on_every_audit_page(client, alice):
    event = record(SYSTEM, Action.EXPORT_SUBMITTED)
    urls = [
        URL,
        reverse("audit:detail", args=[event.pk]),
        "/audit/export.csv",
        "/audit/export.jsonl",
        reverse("audit:key"),
        reverse("audit:key_pem"),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(alice)
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert AuditEvent.objects.filter(action=Action.NO_ACCESS).count() == len(urls)
    assert not AuditEvent.objects.filter(action__startswith="audit.").exists()


def test_the_nav_links_to_the_audit_page_for_auditors_only(client, alice, carol):
    client.force_login(carol)
    assert f'href="{URL}"' in client.get(reverse("exports:history")).content.decode()
    client.force_login(alice)
    assert f'href="{URL}"' not in client.get(reverse("exports:history")).content.decode()


def test_an_auditor_sees_every_event_newest_first(as_carol, alice):
    first = record(alice, Action.EXPORT_REQUESTED, Target("export", "1", "web-01"))
    second = record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", "1", "web-01"))
    response = as_carol.get(URL)
    assert response.status_code == 200
    ids = listed(response)
    assert ids.index(second.pk) < ids.index(first.pk)
    html = response.content.decode()
    assert "Export requested" in html and 'href="/exports/1/"' in html


def test_each_search_is_itself_recorded_with_its_filter(as_carol, carol):
    as_carol.get(URL, {"actor": "alice", "outcome": "denied", "page": "1"})
    event = only(Action.AUDIT_SEARCHED)
    assert (event.actor_id, event.actor_roles) == (carol.pk, "auditor")
    assert event.details == {"filter": {"actor": "alice", "outcome": "denied"}, "page": 1}


def test_filters_by_time_range_actor_action_outcome_image_bucket_and_target(
    as_carol, alice, bob, clock
):
    clock.at(datetime(2026, 5, 31, 23, 59, tzinfo=UTC))
    may = export_event(alice, Action.EXPORT_REQUESTED, 1, "web-01", "alpha")
    clock.at(datetime(2026, 6, 10, 8, 0, tzinfo=UTC))
    june_alice = export_event(alice, Action.EXPORT_CANCELLED, 1, "web-01", "alpha")
    june_bob = export_event(bob, Action.EXPORT_REQUESTED, 2, "db-02", "beta")
    denied = export_event(bob, Action.ACCESS_DENIED, 1, "web-01", "alpha", outcome=Outcome.DENIED)
    clock.at(datetime(2026, 7, 1, 0, 0, tzinfo=UTC))
    july = export_event(SYSTEM, Action.EXPORT_SUCCEEDED, 2, "db-02", "beta")

    def found(**query) -> set[int]:
        response = as_carol.get(URL, query)
        assert response.status_code == 200, response.content
        return set(listed(response)) - set(
            AuditEvent.objects.filter(action=Action.AUDIT_SEARCHED).values_list("pk", flat=True)
        )

    june = {"since": "2026-06-01T00:00", "before": "2026-07-01T00:00"}
    assert found(**june) == {june_alice.pk, june_bob.pk, denied.pk}
    assert found(actor="alice") == {may.pk, june_alice.pk}
    assert found(actor="system") == {july.pk}
    assert found(action="export.requested") == {may.pk, june_bob.pk}
    assert found(action="export.*") == {may.pk, june_alice.pk, june_bob.pk, july.pk}
    assert found(outcome="denied") == {denied.pk}
    assert found(image="db-02") == {june_bob.pk, july.pk}
    assert found(image="id-web-01") == {may.pk, june_alice.pk, denied.pk}
    assert found(bucket="beta") == {june_bob.pk, july.pk}
    assert found(target="export:2") == {june_bob.pk, july.pk}
    assert found(q="cancel") == {june_alice.pk}
    assert found(q="db-02", **june) == {june_bob.pk}


def test_free_text_finds_a_request_id_or_an_ip(as_carol):
    with context.bound(context.Origin(request_id="req-abcdef-0001", ip="192.0.2.44")):
        mine = record(SYSTEM, Action.EXPORT_SUBMITTED)
    record(SYSTEM, Action.EXPORT_SUBMITTED)
    # (Each search is an event naming what it searched for, so it is found too.)
    not_searches = {"action": "export.*"}
    assert listed(as_carol.get(URL, {"q": "req-abcdef-0001", **not_searches})) == [mine.pk]
    assert listed(as_carol.get(URL, {"q": "192.0.2.44", **not_searches})) == [mine.pk]


@pytest.mark.parametrize(
    "query",
    [
        {"since": "yesterday"},
        {"since": "2026-06-02T00:00", "before": "2026-06-01T00:00"},
        {"action": "export.deleted"},
        {"outcome": "meh"},
        {"target": "export 12; drop"},
        {"page": "x"},
        {"page": "0"},
        {"q": "x" * 201},
    ],
)
def test_junk_in_the_query_string_answers_400(as_carol, query):
    assert as_carol.get(URL, query).status_code == 400
    assert not AuditEvent.objects.filter(action=Action.AUDIT_SEARCHED).exists()


def test_the_table_alone_for_htmx_and_the_whole_page_otherwise(as_carol):
    fragment = as_carol.get(URL, headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="audit-rows">')
    page = as_carol.get(URL).content.decode()
    assert "<html" in page and '<div id="audit-rows">' in page
    assert 'hx-push-url="true"' in page


def test_pages_link_onwards_with_the_same_filter_and_real_hrefs(as_carol):
    for n in range(60):
        record(SYSTEM, Action.EXPORT_RUNNING, Target("export", "7"), n=n)
    response = as_carol.get(URL, {"target": "export:7"})
    assert len(listed(response)) == 50
    html = response.content.decode()
    assert 'href="?target=export%3A7&amp;page=2"' in html
    assert 'href="/audit/export.csv?target=export%3A7"' in html
    assert len(listed(as_carol.get(URL, {"target": "export:7", "page": "2"}))) == 10


def test_the_queries_per_page_do_not_grow_with_the_events(as_carol, django_assert_max_num_queries):
    for n in range(3):
        record(SYSTEM, Action.EXPORT_RUNNING, n=n)
    with django_assert_max_num_queries(20) as few:
        as_carol.get(URL)
    for n in range(80):
        record(SYSTEM, Action.EXPORT_RUNNING, Target("export", str(n), "x"), n=n)
    with django_assert_max_num_queries(len(few.captured_queries)):
        as_carol.get(URL)
    with django_assert_max_num_queries(len(few.captured_queries)):
        as_carol.get(URL, {"page": "2"})
