"""Every query the history, audit and live-status pages run can be served by an index.

The queries are the pages' own: each page is requested, every SELECT it ran is captured and
explained by PostgreSQL with sequential scans priced out. A `Seq Scan` of the big tables
left in a plan means no index serves that query, so it would read every row at a million;
a `Unique` or hash aggregate would be a DISTINCT over them. The text searches must find
their rows through the trigram indexes.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ims_portal import pages
from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, Target, record
from ims_portal.exports.models import Status
from tests.plans import explain_sql

pytestmark = pytest.mark.django_db

BIG_TABLES = ("exports_export", "audit_event")
SCANS_EVERYTHING = re.compile(rf"Seq Scan on ({'|'.join(BIG_TABLES)})\b")
DISTINCT = re.compile(r"\b(Unique|HashAggregate|GroupAggregate)\b")
SERVER_CURSOR = re.compile(r"^DECLARE \S+ NO SCROLL CURSOR (WITH HOLD )?FOR ", re.IGNORECASE)


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the plans are PostgreSQL's")


@pytest.fixture
def history(alice, bob, make_export):
    for n in range(30):
        owner = alice if n % 2 else bob
        make_export(owner, image_name=f"image-{n}-web", status=Status.SUCCEEDED)
        record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", str(n)), bucket=f"bucket-{n}")


def plans_of(client, url: str, **headers: str) -> dict[str, str]:
    """The plan of every SELECT that requesting `url` ran, by its SQL."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, headers=headers)
    assert response.status_code in (200, 304), (url, response.status_code)
    # A queryset read with .iterator() runs through a server-side cursor: its SELECT follows.
    selects = [SERVER_CURSOR.sub("", q["sql"].lstrip()) for q in captured]
    selects = [sql for sql in selects if sql.upper().startswith("SELECT")]
    return {sql: explain_sql(sql, None) for sql in selects if "pg_advisory" not in sql}


def assert_served_by_indexes(plans: dict[str, str]) -> None:
    assert plans
    for sql, plan in plans.items():
        assert not SCANS_EVERYTHING.search(plan), f"{sql}\n{plan}"
        if any(table in sql for table in BIG_TABLES):
            assert not DISTINCT.search(plan), f"{sql}\n{plan}"
            assert "DISTINCT" not in sql.upper(), sql


@pytest.mark.parametrize("persona", ["alice", "carol"])
def test_the_history_pages_first_page_and_filters(persona, request, client, history):
    client.force_login(request.getfixturevalue(persona))
    for query in ("", "?status=succeeded", "?status=in_flight", "?page=2"):
        assert_served_by_indexes(plans_of(client, reverse("exports:history") + query))


def test_an_exporters_text_search_is_served_by_an_index(client, alice, history):
    # Through their own rows (the owner index) or the trigram indexes, as the planner
    # finds cheaper for how many exports they have: never through everyone's.
    client.force_login(alice)
    assert_served_by_indexes(plans_of(client, reverse("exports:history") + "?q=image-7-"))


PAGE_OF_EXPORTS = 'SELECT "exports_export"."id", "exports_export"."owner_id",'
TRIGRAM_INDEXES = ("export_image_name_trgm", "export_bucket_trgm", "export_object_name_trgm")


def gathered_plan(plans: dict[str, str]) -> str:
    """The plan of the search's one query that counts the matches and picks the page."""
    (plan,) = [plan for sql, plan in plans.items() if "COUNT(*) OVER ()" in sql.upper()]
    return plan


def test_the_auditors_text_search_reads_the_trigram_indexes_once(client, carol, history):
    client.force_login(carol)
    plans = plans_of(client, reverse("exports:history") + "?q=image-7-")
    assert_served_by_indexes(plans)
    gathered = gathered_plan(plans)
    for index in TRIGRAM_INDEXES:
        assert index in gathered, gathered
    # The page itself is read by primary key: no second scan of the trigram indexes.
    others = [plan for plan in plans.values() if plan != gathered]
    assert not [plan for plan in others if "_trgm" in plan], others
    (page,) = [plan for sql, plan in plans.items() if sql.startswith(PAGE_OF_EXPORTS)]
    assert "exports_export_pkey" in page, page


def test_a_search_matching_more_than_the_bound_pages_the_plain_way(
    client, carol, history, monkeypatch
):
    # The gathered rows are then only some of the matches: the page is read in its order.
    monkeypatch.setattr(pages, "COUNT_BOUND", 3)
    client.force_login(carol)
    plans = plans_of(client, reverse("exports:history") + "?q=image-")
    assert_served_by_indexes(plans)
    gathered_plan(plans)
    (page,) = [plan for sql, plan in plans.items() if sql.startswith(PAGE_OF_EXPORTS)]
    assert "exports_export_pkey" not in page, page


def test_the_requested_by_menu_reads_no_export_beyond_one_per_user(client, carol, history):
    client.force_login(carol)
    plans = plans_of(client, reverse("exports:history") + "?user=alice")
    menu = [sql for sql in plans if '"auth_user"' in sql and "EXISTS" in sql.upper()]
    assert len(menu) == 2, "\n".join(plans)  # the chosen user checked, and the menu listed
    assert_served_by_indexes(plans)


def test_the_audit_pages_first_page_and_filters(client, carol, history):
    client.force_login(carol)
    for query in ("", "?action=export.*", "?actor=alice", "?target=export:3", "?page=2"):
        assert_served_by_indexes(plans_of(client, reverse("audit:events") + query))


def test_the_audit_text_search_goes_through_an_index_for_every_branch_once(client, carol, history):
    client.force_login(carol)
    plans = plans_of(client, reverse("audit:events") + "?q=bucket-7")
    assert_served_by_indexes(plans)
    gathered = gathered_plan(plans)
    assert "BitmapOr" in gathered, gathered
    for index in ("audit_actor_trgm", "audit_target_label_trgm", "audit_details_trgm", "audit_ip"):
        assert index in gathered, gathered
    others = [plan for plan in plans.values() if plan != gathered]
    assert not [plan for plan in others if "_trgm" in plan], others


def test_the_live_status_version_is_read_by_primary_key_and_the_timeline_index(
    client, alice, make_export
):
    export = make_export(alice, status=Status.RUNNING)
    client.force_login(alice)
    url = reverse("exports:status", args=[export.pk])
    etag = client.get(url, headers={"HX-Request": "true"})["ETag"]
    plans = plans_of(client, url, **{"HX-Request": "true", "If-None-Match": etag})
    assert len(plans) == 1
    assert_served_by_indexes(plans)
    (plan,) = plans.values()
    assert "exports_export_pkey" in plan and "audit_target_recent" in plan, plan
