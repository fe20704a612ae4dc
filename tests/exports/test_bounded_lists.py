"""Long lists are counted only so far ("more than"), yet every page stays reachable; the
auditor's "requested by" menu lists exporters, and accepts anyone who has exported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

from ims_portal import pages
from ims_portal.accounts.roles import set_roles
from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, Target, record
from ims_portal.exports.models import Export

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bound(monkeypatch):
    monkeypatch.setattr(pages, "COUNT_BOUND", 5)
    return 5


def test_a_list_longer_than_the_bound_says_more_than(bound):
    for n in range(12):
        record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", str(n)))
    paginator = pages.BoundedPaginator(Export.objects.none(), 2)
    assert paginator.get_page(1).paginator.count == 0 and not paginator.count_is_bounded

    from ims_portal.audit.models import AuditEvent

    events = AuditEvent.objects.order_by("-id")
    first = pages.BoundedPaginator(events, 2)
    page = first.get_page(1)
    assert first.count_is_bounded and first.count == 6 and first.count_floor == 5
    assert page.has_next() and len(page.object_list) == 2
    # Counting starts at the page asked for: from page 4, more than 5 rows lie ahead ...
    deep = pages.BoundedPaginator(events, 2)
    page = deep.get_page(4)
    assert page.number == 4 and deep.count_is_bounded and deep.count_floor == 11
    # ... and from page 5 the count is exact again, to the end.
    last = pages.BoundedPaginator(events, 2)
    page = last.get_page(6)
    assert last.count == 12 and not last.count_is_bounded and not page.has_next()
    # Past the end: the last page counted from the top, as Django's paginator does.
    past = pages.BoundedPaginator(events, 2)
    assert past.get_page(50).number == 3 and past.count_is_bounded


def test_the_audit_page_and_pager_say_more_than_instead_of_counting_everything(
    client, carol, monkeypatch
):
    monkeypatch.setattr(pages, "COUNT_BOUND", 55)
    for n in range(60):
        record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", str(n)))
    client.force_login(carol)
    html = client.get(reverse("audit:events")).content.decode()
    assert "More than 55 events" in html
    assert "Page 1 of more than 1<" in html


def test_a_short_list_still_gives_its_exact_count(client, carol):
    record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", "1"))
    client.force_login(carol)
    html = client.get(reverse("audit:events")).content.decode()
    assert "More than" not in html
    assert " events" in html or " event" in html


@pytest.mark.parametrize("route", ["exports:history", "audit:events"])
def test_a_page_number_past_any_table_answers_the_last_page(
    client, carol, alice, make_export, route
):
    # 10**20 rows on: on PostgreSQL an OFFSET that far is out of a bigint's range.
    make_export(alice)
    record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", "1"))
    client.force_login(carol)
    assert client.get(reverse(route), {"page": str(10**20)}).status_code == 200


def test_the_history_pager_says_more_than_for_a_long_history(
    client, alice, make_export, monkeypatch
):
    monkeypatch.setattr(pages, "COUNT_BOUND", 30)
    for n in range(60):
        make_export(alice, image_name=f"image-{n}")
    client.force_login(alice)
    html = client.get(reverse("exports:history")).content.decode()
    assert "Page 1 of more than 1<" in html
    older = client.get(reverse("exports:history"), {"page": 3}).content.decode()
    assert "Page 3 of 3<" in older and "image-9<" in older


def test_the_menu_lists_exporters_who_exported_and_the_chosen_former_exporter(
    client, alice, bob, carol, make_user, make_export
):
    make_export(alice, image_name="alice-image")
    make_export(bob, image_name="bob-image")
    make_user("dave", "exporter")  # an exporter who never exported: nothing to filter by
    set_roles(bob, set())  # bob left the exporters' group; his exports remain
    client.force_login(carol)
    html = client.get(reverse("exports:history")).content.decode()
    assert '<option value="alice">alice</option>' in html
    assert 'value="bob"' not in html and 'value="dave"' not in html
    chosen = client.get(reverse("exports:history"), {"user": "bob"}).content.decode()
    assert '<option value="bob" selected>bob</option>' in chosen
    assert "bob-image" in chosen and "alice-image" not in chosen


def test_the_trigram_indexes_are_there_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("trigram indexes are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE '%%trgm'")
        found = dict(cursor.fetchall())
    assert set(found) == {
        "export_image_name_trgm", "export_bucket_trgm", "export_object_name_trgm",
        "audit_actor_trgm", "audit_target_label_trgm", "audit_action_trgm", "audit_details_trgm",
    }  # fmt: skip
    assert all("gin_trgm_ops" in definition for definition in found.values())


def test_on_sqlite_the_migrations_skip_the_trigram_indexes_and_keep_the_plain_filter(tmp_path):
    database = tmp_path / "db.sqlite3"
    code = (
        "import django, os, sqlite3; django.setup(); from django.core.management import "
        "call_command; call_command('migrate', verbosity=0); "
        "db = sqlite3.connect(os.environ['DATABASE_URL'].removeprefix('sqlite:///')); "
        "rows = db.execute(\"SELECT name FROM sqlite_master WHERE type = 'index'\"); "
        "print(sorted(name for (name,) in rows if 'trgm' in name or name == 'audit_ip'))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "ims_portal.settings",
        "SECRET_KEY": "x",
        "DATABASE_URL": f"sqlite:///{database}",
        "CACHE_URL": "locmemcache://",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['audit_ip']"


@pytest.mark.parametrize("bound", [5, 10_000])
def test_a_searchs_pages_and_counts_are_the_plain_paginators(
    alice, make_export, monkeypatch, bound
):
    # Within the bound the matches are gathered once; beyond it the page is read apart.
    monkeypatch.setattr(pages, "COUNT_BOUND", bound)
    for n in range(13):
        make_export(alice, image_name=f"{'web' if n % 4 else 'db'}-{n}")
    found = Export.objects.matching("web")  # 9 of the 13, newest first
    for number in [1, 2, 3, 4, 5, 50, "junk"]:
        plain = pages.BoundedPaginator(found, 2)
        search = pages.SearchPaginator(found, 2)
        expected, got = plain.get_page(number), search.get_page(number)
        assert got.number == expected.number, number
        assert [e.pk for e in got.object_list] == [e.pk for e in expected.object_list], number
        assert (search.count, search.count_is_bounded) == (plain.count, plain.count_is_bounded)
    assert pages.SearchPaginator(Export.objects.none(), 2).get_page(1).paginator.count == 0


def test_a_search_within_the_bound_reads_its_page_by_primary_key(alice, make_export):
    for n in range(4):
        make_export(alice, image_name=f"web-{n}")
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        page = pages.SearchPaginator(Export.objects.matching("web"), 3).get_page(1)
        names = [export.image_name for export in page.object_list]
    assert names == ["web-3", "web-2", "web-1"] and page.paginator.count == 4
    gathered, read = (query["sql"] for query in captured)
    assert "COUNT(*) OVER ()" in gathered
    assert '"exports_export"."id" IN (' in read
