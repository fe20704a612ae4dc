"""The overview's figures (`exports/overview.py`) over rows written straight to the database:
counts by status, success and median duration per written format, exports per UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q

from ims_portal.exports import overview
from ims_portal.exports.models import IN_FLIGHT_CONDITION, Status
from tests.plans import explain

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 30, 15, 0, tzinfo=UTC)  # the window is 2025-03-01 .. 2025-03-30
FIRST_DAY = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def ended(make_export):
    """An export requested at `at` that ended as `status`, `seconds` after IMS took it."""

    def make(owner, status, *, at=NOW - timedelta(days=1), seconds=60, **fields):
        submitted = at + timedelta(seconds=5)
        return make_export(
            owner,
            status=status,
            created_at=at,
            submitted_at=submitted,
            finished_at=submitted + timedelta(seconds=seconds),
            **fields,
        )

    return make


def counts(figures: overview.Figures) -> dict[Status, int]:
    return {row.status: row.count for row in figures.status_counts if row.count}


def by_format(figures: overview.Figures) -> dict[str, overview.FormatFigures]:
    return {row.file_format: row for row in figures.formats}


def test_the_window_is_today_and_the_29_utc_days_before_it():
    assert overview.window_start(NOW) == FIRST_DAY
    # Late in the UTC day (the next day already in Berlin), the window is the same.
    late = datetime(2025, 3, 30, 23, 30, tzinfo=UTC)
    assert overview.window_start(late) == FIRST_DAY


def test_counts_by_status_cover_the_window_only(alice, make_export, ended):
    ended(alice, Status.SUCCEEDED)
    ended(alice, Status.SUCCEEDED, at=FIRST_DAY)  # the window's first instant
    ended(alice, Status.FAILED)
    make_export(alice, status=Status.RUNNING, created_at=NOW - timedelta(hours=1))
    ended(alice, Status.SUCCEEDED, at=FIRST_DAY - timedelta(seconds=1))  # a day too old
    figures = overview.figures(alice, NOW)
    assert counts(figures) == {Status.SUCCEEDED: 2, Status.FAILED: 1, Status.RUNNING: 1}
    assert figures.total == 4
    # Every status of the table is listed, in its order, zeros included.
    assert [row.status for row in figures.status_counts] == list(Status)


def test_an_exporter_counts_their_own_exports_and_an_auditor_everyones(alice, bob, carol, ended):
    ended(alice, Status.SUCCEEDED)
    ended(bob, Status.FAILED)
    ended(bob, Status.FAILED)
    assert counts(overview.figures(alice, NOW)) == {Status.SUCCEEDED: 1}
    assert counts(overview.figures(bob, NOW)) == {Status.FAILED: 2}
    assert counts(overview.figures(carol, NOW)) == {Status.SUCCEEDED: 1, Status.FAILED: 2}


def test_success_rate_is_succeeded_of_ended_per_written_format(alice, make_export, ended):
    ended(alice, Status.SUCCEEDED)
    ended(alice, Status.SUCCEEDED)
    ended(alice, Status.FAILED)
    ended(alice, Status.REJECTED, file_format="vmdk")
    make_export(alice, status=Status.RUNNING, created_at=NOW - timedelta(hours=1))
    # A fast export writes ZVHD2, whatever format field it carries.
    ended(alice, Status.SUCCEEDED, quick=True, file_format="")
    ended(alice, Status.CANCELLED, quick=True, file_format="qcow2")
    formats = by_format(overview.figures(alice, NOW))
    assert sorted(formats) == ["qcow2", "vmdk", "zvhd2"]
    qcow2 = formats["qcow2"]
    assert (qcow2.requested, qcow2.ended, qcow2.succeeded) == (4, 3, 2)
    assert qcow2.success_percent == 67
    assert formats["vmdk"].success_rate == 0.0
    zvhd2 = formats["zvhd2"]
    assert zvhd2.is_fast_export and not qcow2.is_fast_export
    assert (zvhd2.requested, zvhd2.ended, zvhd2.succeeded, zvhd2.success_percent) == (2, 2, 1, 50)


def test_a_format_with_nothing_ended_has_no_rate(alice, make_export):
    make_export(alice, status=Status.QUEUED, created_at=NOW - timedelta(minutes=5))
    qcow2 = by_format(overview.figures(alice, NOW))["qcow2"]
    assert (qcow2.requested, qcow2.ended, qcow2.success_rate) == (1, 0, None)
    assert qcow2.median_duration is None


def test_the_median_duration_runs_from_submit_to_finish_over_succeeded_exports(alice, ended):
    for seconds in (10, 20, 600):
        ended(alice, Status.SUCCEEDED, seconds=seconds)
    ended(alice, Status.FAILED, seconds=5000)  # a failure's duration says nothing of the format
    for seconds in (30, 50):
        ended(alice, Status.SUCCEEDED, seconds=seconds, quick=True, file_format="")
    formats = by_format(overview.figures(alice, NOW))
    assert formats["qcow2"].median_duration == timedelta(seconds=20)
    assert formats["zvhd2"].median_duration == timedelta(seconds=40)  # the middle two's mean


def test_the_duration_leaves_out_the_time_queued_in_the_portal():
    submitted = NOW - timedelta(minutes=3)
    assert overview.duration_of(submitted, NOW) == timedelta(minutes=3)
    assert overview.duration_of(None, NOW) is None
    assert overview.duration_of(submitted, None) is None


def test_the_median_is_taken_over_a_bounded_sample_of_the_latest(alice, ended, monkeypatch):
    monkeypatch.setattr(overview, "MEDIAN_SAMPLE", 3)
    for day, seconds in enumerate((1000, 1000, 1000, 10, 20, 30), start=1):
        ended(alice, Status.SUCCEEDED, at=FIRST_DAY + timedelta(days=day), seconds=seconds)
    assert by_format(overview.figures(alice, NOW))["qcow2"].median_duration == timedelta(seconds=20)


def test_per_day_has_thirty_utc_days_with_the_empty_ones(alice, ended):
    ended(alice, Status.SUCCEEDED, at=datetime(2025, 3, 3, 0, 0, tzinfo=UTC))
    ended(alice, Status.FAILED, at=datetime(2025, 3, 3, 23, 59, 59, tzinfo=UTC))
    ended(alice, Status.SUCCEEDED, at=datetime(2025, 3, 4, 0, 0, 1, tzinfo=UTC))
    ended(alice, Status.SUCCEEDED, at=datetime(2025, 3, 30, 9, 0, tzinfo=UTC))
    chart = overview.figures(alice, NOW).chart
    assert len(chart.bars) == 30
    assert (chart.first_day, chart.last_day) == (date(2025, 3, 1), date(2025, 3, 30))
    assert {bar.day: bar.count for bar in chart.bars if bar.count} == {
        date(2025, 3, 3): 2,
        date(2025, 3, 4): 1,
        date(2025, 3, 30): 1,
    }
    assert sum(1 for bar in chart.bars if not bar.count) == 27
    assert chart.total == 4
    assert chart.busiest is not None and chart.busiest.day == date(2025, 3, 3)


def test_days_are_utc_days_whatever_the_sites_time_zone(alice, ended, settings):
    settings.TIME_ZONE = "Pacific/Auckland"  # 13 hours ahead of UTC in March
    ended(alice, Status.SUCCEEDED, at=datetime(2025, 3, 10, 22, 0, tzinfo=UTC))
    chart = overview.figures(alice, NOW).chart
    assert [bar.day for bar in chart.bars if bar.count] == [date(2025, 3, 10)]


def test_the_chart_scales_its_bars_to_the_busiest_day():
    counts = {date(2025, 3, 1): 4, date(2025, 3, 2): 1, date(2025, 3, 30): 2}
    chart = overview.daily_chart(counts, date(2025, 3, 1))
    first, second, last = chart.bars[0], chart.bars[1], chart.bars[-1]
    assert first.height == overview.CHART_HEIGHT and first.y == 0
    assert second.height == overview.CHART_HEIGHT / 4
    assert second.y + second.height == overview.CHART_HEIGHT  # bars stand on the baseline
    assert last.height == overview.CHART_HEIGHT / 2
    assert chart.bars[2].height == 0
    assert last.x + last.width < overview.CHART_WIDTH  # the last bar inside the drawing
    assert second.x > first.x + first.width  # a gap between bars


def test_a_chart_of_no_exports_has_no_busiest_day():
    chart = overview.daily_chart({}, date(2025, 3, 1))
    assert chart.total == 0 and chart.busiest is None
    assert all(bar.height == 0 for bar in chart.bars)


def test_the_live_list_has_exports_in_flight_and_the_shown_ones_oldest_first(
    alice, bob, make_export
):
    now = datetime.now(UTC)
    older = make_export(alice, status=Status.RUNNING, created_at=now - timedelta(minutes=9))
    newer = make_export(alice, status=Status.QUEUED, created_at=now - timedelta(minutes=1))
    shown = make_export(
        alice, status=Status.SUCCEEDED, created_at=now - timedelta(minutes=5), finished_at=now
    )
    make_export(alice, status=Status.FAILED, finished_at=now)  # ended, and not on the page
    bobs = make_export(bob, status=Status.RUNNING)
    rows = overview.live_exports(alice, [shown.pk, bobs.pk], now)
    assert [row.export.pk for row in rows] == [older.pk, shown.pk, newer.pk]
    assert rows[1].progress.percent == 100
    assert [row.export.pk for row in overview.live_exports(alice, [], now)] == [older.pk, newer.pk]


def test_the_shown_list_takes_export_ids_only():
    assert overview.parse_shown("") == []
    assert overview.parse_shown("3,12") == [3, 12]
    for junk in ("x", "1,,2", "-1", "0", ",".join(["1"] * (overview.LIVE_MAX + 1))):
        with pytest.raises(ValueError):
            overview.parse_shown(junk)


@pytest.mark.parametrize("persona", ["alice", "carol"])
def test_each_query_of_the_overview_can_be_served_by_an_index(persona, request, ended):
    if connection.vendor != "postgresql":
        pytest.skip("EXPLAIN's wording is PostgreSQL's")
    user = request.getfixturevalue(persona)
    ended(request.getfixturevalue("alice"), Status.SUCCEEDED)
    window = overview.visible_exports(user).filter(created_at__gte=FIRST_DAY)
    queries = {
        "the window": window.order_by().values("status").annotate(n=Count("id")),
        "the median sample": window.filter(status=Status.SUCCEEDED),
        "live": overview.visible_exports(user).filter(IN_FLIGHT_CONDITION | Q(pk__in=[1, 2])),
    }
    for name, queryset in queries.items():
        plan = explain(queryset)
        assert "Seq Scan" not in plan, f"{name}: {plan}"
        if persona == "alice":  # an exporter's rows are found through the owner
            assert "owner_id" in plan, f"{name}: {plan}"
