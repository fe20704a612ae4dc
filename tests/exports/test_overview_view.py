"""The overview page and its live list through Django's test client, per persona."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ims_portal.audit.models import AuditEvent
from ims_portal.exports import overview
from ims_portal.exports.models import Status

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
# Queries of one request (the throughput cache warm): the session, the user and their roles,
# then the overview's own: the live list; the window's aggregate, its days and the median
# sample; an auditor's audit events.
PAGE_QUERIES = 8
LIVE_QUERIES = 4
LIVE = reverse("overview_live")


def signed_in(client, user):
    client.force_login(user)
    return client


def live_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-export="(\d+)"', html)]


def test_an_exporter_sees_their_own_exports_in_flight_and_not_anyone_elses(
    client, alice, bob, make_export
):
    mine = make_export(alice, image_name="alice-image", status=Status.RUNNING, progress=0.4)
    make_export(bob, image_name="bob-image", status=Status.RUNNING)
    html = signed_in(client, alice).get(reverse("home")).content.decode()
    assert "My overview" in html
    assert live_ids(html) == [mine.pk]
    assert "alice-image" in html and "bob-image" not in html
    assert 'value="40"' in html  # the cloud's percentage on the bar
    assert "Latest audit events" not in html


def test_an_exporters_figures_count_only_their_own_exports(client, alice, bob, make_export):
    make_export(alice, status=Status.SUCCEEDED, finished_at=timezone.now())
    for _ in range(3):
        make_export(bob, status=Status.FAILED, finished_at=timezone.now())
    html = signed_in(client, alice).get(reverse("home")).content.decode()
    assert '<strong class="overview-total">1</strong>' in html
    html = signed_in(client, bob).get(reverse("home")).content.decode()
    assert '<strong class="overview-total">3</strong>' in html


def test_an_auditor_sees_everyones_exports_and_the_latest_audit_events(
    client, alice, bob, carol, make_export
):
    a = make_export(alice, image_name="alice-image", status=Status.RUNNING)
    b = make_export(bob, image_name="bob-image", status=Status.SUBMITTED)
    a.transition(Status.SUCCEEDED)  # one audit event with an export as its target
    c = make_export(alice, image_name="third", status=Status.QUEUED)
    html = signed_in(client, carol).get(reverse("home")).content.decode()
    assert "Overview of everyone's exports" in html
    assert live_ids(html) == [b.pk, c.pk]
    assert "by bob" in html and "by alice" in html
    assert '<strong class="overview-total">3</strong>' in html
    events = list(AuditEvent.objects.order_by("-id")[: overview.AUDIT_EVENTS])
    assert events, "the trail has events to show"
    for event in events:
        assert f'href="{reverse("audit:detail", args=[event.pk])}"' in html
    assert f'href="{a.get_absolute_url()}"' in html  # the event's target links to the export
    assert f'href="{reverse("audit:events")}"' in html


def test_only_the_latest_audit_events_are_listed(client, carol, alice, make_export):
    exports = [make_export(alice, status=Status.RUNNING) for _ in range(overview.AUDIT_EVENTS)]
    for export in exports:
        export.transition(Status.SUCCEEDED)
    html = signed_in(client, carol).get(reverse("home")).content.decode()
    section = html.split('id="overview-audit"', 1)[1]
    assert section.count("<li>") == overview.AUDIT_EVENTS
    oldest = AuditEvent.objects.order_by("id").first()
    assert f'href="{reverse("audit:detail", args=[oldest.pk])}"' not in section


def test_someone_with_no_role_gets_the_no_access_page(client, make_user):
    response = signed_in(client, make_user("dave")).get(reverse("home"))
    assert response.status_code == 403
    assert 'id="no-access"' in response.content.decode()
    assert signed_in(client, make_user("erin")).get(LIVE).status_code == 403


def test_with_no_exports_the_figures_say_so_and_draw_nothing(client, alice):
    html = signed_in(client, alice).get(reverse("home")).content.decode()
    assert "No exports were requested in these days." in html
    assert "<svg" not in html and 'id="status-counts"' not in html


def test_history_is_one_click_away(client, alice):
    html = signed_in(client, alice).get(reverse("home")).content.decode()
    assert html.count(f'href="{reverse("exports:history")}"') >= 2  # the nav, and the page


def test_one_poll_refreshes_every_bar_while_any_export_is_in_flight(client, alice, make_export):
    exports = [make_export(alice, status=Status.RUNNING) for _ in range(3)]
    html = signed_in(client, alice).get(reverse("home")).content.decode()
    assert html.count("hx-trigger") == 1  # the live list's, not one per bar
    assert html.count("<progress") == 3
    shown = ",".join(str(e.pk) for e in exports)
    assert f'hx-get="{LIVE}?shown={shown}" hx-trigger="every 2s"' in html


def test_the_live_list_answers_its_fragment_and_keeps_polling_while_in_flight(
    client, alice, make_export
):
    export = make_export(alice, status=Status.RUNNING, progress=0.25)
    response = signed_in(client, alice).get(LIVE, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="overview-live"' in html
    assert "<html" not in html
    assert 'hx-trigger="every 2s"' in html
    assert live_ids(html) == [export.pk]


def test_the_live_list_stops_polling_with_286_once_nothing_is_in_flight(client, alice, make_export):
    export = make_export(alice, status=Status.RUNNING)
    as_alice = signed_in(client, alice)
    export.transition(Status.SUCCEEDED)
    response = as_alice.get(LIVE, {"shown": str(export.pk)}, headers=HTMX)
    assert response.status_code == 286
    html = response.content.decode()
    assert "hx-trigger" not in html and "hx-get" not in html
    assert live_ids(html) == [export.pk]  # the one it was watching, with its outcome
    assert "Succeeded" in html
    assert as_alice.get(LIVE, headers=HTMX).status_code == 286  # nothing at all


def test_the_live_list_without_htmx_is_a_plain_200(client, alice):
    assert signed_in(client, alice).get(LIVE).status_code == 200


def test_shown_cannot_reach_another_users_export(client, alice, bob, make_export):
    bobs = make_export(bob, status=Status.SUCCEEDED, finished_at=timezone.now())
    html = signed_in(client, alice).get(LIVE, {"shown": str(bobs.pk)}, headers=HTMX)
    assert live_ids(html.content.decode()) == []


def test_a_junk_shown_list_is_a_bad_request(client, alice):
    as_alice = signed_in(client, alice)
    assert as_alice.get(LIVE, {"shown": "1,x"}).status_code == 400
    assert as_alice.get(LIVE, {"shown": "1;drop"}).status_code == 400


def test_the_chart_is_inline_svg_without_script_or_style(client, alice, make_export):
    now = timezone.now()
    for days_ago in (0, 0, 3):
        make_export(alice, status=Status.SUCCEEDED, created_at=now - timedelta(days=days_ago))
    html = signed_in(client, alice).get(reverse("home")).content.decode()
    svg = re.search(r"<svg\b.*?</svg>", html, re.S)
    assert svg is not None
    chart = svg.group(0)
    assert 'role="img"' in chart and "<title" in chart and "<desc" in chart
    assert chart.count("<rect") == 2  # two days with exports; the empty ones draw nothing
    assert "3 exports in 30 days" in chart
    assert re.search(r"\sstyle=", html) is None  # nowhere on the page: the CSP forbids it
    assert "<style" not in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert all("src=" in tag for tag in scripts)  # no inline script either
    # The text alternative: every day of the window in a table.
    day_table = html.split('id="day-counts"', 1)[1].split("</table>", 1)[0]
    assert day_table.count('<th scope="row">') == overview.WINDOW_DAYS


def test_the_figures_show_rates_and_medians_per_format(client, alice, make_export):
    now = timezone.now()
    for status, seconds in ((Status.SUCCEEDED, 60), (Status.SUCCEEDED, 180), (Status.FAILED, 9)):
        make_export(
            alice, status=status, created_at=now - timedelta(hours=1),
            submitted_at=now - timedelta(hours=1), finished_at=now - timedelta(hours=1) + timedelta(seconds=seconds),
        )  # fmt: skip
    make_export(alice, status=Status.RUNNING, quick=True, file_format="")
    html = signed_in(client, alice).get(reverse("home")).content.decode()
    qcow2 = html.split('data-format="qcow2"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="requested">3</span> requested' in qcow2
    assert "2 of 3 ended" in qcow2 and '<span class="rate">67%</span>' in qcow2
    assert '<span class="median">2 min 00 s</span>' in qcow2
    zvhd2 = html.split('data-format="zvhd2"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="requested">1</span> requested' in zvhd2
    assert "ZVHD2" in zvhd2 and "fast export" in zvhd2 and "none ended yet" in zvhd2


@pytest.mark.parametrize("persona", ["alice", "carol"])
def test_the_page_costs_the_same_queries_for_few_exports_as_for_many(
    persona, request, client, alice, bob, make_export, django_assert_max_num_queries
):
    user = request.getfixturevalue(persona)
    browser = signed_in(client, user)
    now = timezone.now()

    def add(n: int) -> None:
        for i in range(n):
            owner = alice if i % 2 else bob
            status = (Status.SUCCEEDED, Status.FAILED, Status.RUNNING)[i % 3]
            make_export(
                owner, status=status, created_at=now - timedelta(days=i % 30, minutes=1),
                submitted_at=now - timedelta(days=i % 30), finished_at=now,
                quick=bool(i % 4 == 0), progress=0.5,
            )  # fmt: skip

    def queries(url: str, **params: str) -> int:
        browser.get(url, params)  # warm: the session, the throughput cache
        with CaptureQueriesContext(connection) as captured:
            assert browser.get(url, params, headers=HTMX).status_code in (200, 286)
        return len(captured)

    add(3)
    few = queries(reverse("home")), queries(LIVE)
    add(60)
    many = queries(reverse("home")), queries(LIVE, shown="1,2,3")
    assert many == few, (few, many)
    with django_assert_max_num_queries(PAGE_QUERIES):
        browser.get(reverse("home"))
    with django_assert_max_num_queries(LIVE_QUERIES):
        browser.get(LIVE, headers=HTMX)
