"""The overview's figures: what is in flight, and what the last 30 days looked like.

Every figure is read with a fixed number of queries, whatever the number of exports: the
counts are aggregated in SQL, and the medians are taken in Python over a bounded sample of
durations. The scope is the user's own exports, or everyone's for an auditor, through
`ExportQuerySet.visible_to` like every other lookup.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Case, CharField, Count, F, Q, Value, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from ims_portal.accounts.roles import is_auditor
from ims_portal.audit.models import AuditEvent
from ims_portal.exports import rules
from ims_portal.exports.models import IN_FLIGHT_CONDITION, Export, ExportQuerySet, Status
from ims_portal.exports.progress import Progress, progress_of

WINDOW_DAYS = 30  # today (UTC) and the 29 days before it
LIVE_MAX = 50  # rows of the live list; the history has them all
MEDIAN_SAMPLE = 1000  # the latest succeeded exports a median is taken over
AUDIT_EVENTS = 10  # latest audit events an auditor sees

# Chart geometry, in the SVG's own units (the viewBox); CSS scales it to the page.
CHART_WIDTH = 600
CHART_HEIGHT = 120
BAR_GAP = 4


@dataclass(frozen=True, slots=True)
class LiveExport:
    """One export of the live list, with the same progress read as its own page."""

    export: Export
    progress: Progress


@dataclass(frozen=True, slots=True)
class StatusCount:
    status: Status
    count: int


@dataclass(frozen=True, slots=True)
class FormatFigures:
    """How one written format did: fast exports count as ZVHD2, the file IMS writes."""

    file_format: str
    requested: int
    ended: int
    succeeded: int
    median_duration: timedelta | None  # of succeeded exports; see `duration_of`

    @property
    def is_fast_export(self) -> bool:
        return self.file_format == rules.QUICK_EXPORT_FORMAT

    @property
    def success_rate(self) -> float | None:
        """Succeeded ÷ ended (every terminal status counts: a failed, rejected, unknown or
        cancelled export left no file); None while none has ended."""
        return self.succeeded / self.ended if self.ended else None

    @property
    def success_percent(self) -> int | None:
        rate = self.success_rate
        return None if rate is None else round(100 * rate)


@dataclass(frozen=True, slots=True)
class DayBar:
    """One UTC day of the chart, with its bar in the SVG's units."""

    day: date
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class DailyChart:
    bars: list[DayBar]
    total: int
    busiest: DayBar | None  # the first day with the most exports; None if none at all
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT

    @property
    def first_day(self) -> date:
        return self.bars[0].day

    @property
    def last_day(self) -> date:
        return self.bars[-1].day


@dataclass(frozen=True, slots=True)
class Figures:
    """The last `WINDOW_DAYS` UTC days, by requested time (`created_at`)."""

    since: datetime  # midnight UTC of the first day
    as_of: datetime
    status_counts: list[StatusCount]
    total: int
    formats: list[FormatFigures]
    chart: DailyChart


def window_start(now: datetime) -> datetime:
    """Midnight UTC of the first day of the window that ends today (UTC)."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=WINDOW_DAYS - 1)
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def duration_of(submitted_at: datetime | None, finished_at: datetime | None) -> timedelta | None:
    """An export's duration as the overview shows it: from IMS accepting the job
    (`submitted_at`) to the portal seeing it end (`finished_at`). Time waiting in the
    portal's queue is left out: it says how busy the workers were, not how long the
    format takes."""
    if submitted_at is None or finished_at is None:
        return None
    return finished_at - submitted_at


def _written_format() -> Case:
    """The format of the file IMS writes, as SQL: ZVHD2 for a fast export (the same rule as
    `Export.written_format`)."""
    return Case(
        When(quick=True, then=Value(rules.QUICK_EXPORT_FORMAT)),
        default=F("file_format"),
        output_field=CharField(),
    )


def visible_exports(user: Any) -> ExportQuerySet:
    return Export.objects.visible_to(user)


def live_exports(
    user: Any, shown: Collection[int] = (), now: datetime | None = None
) -> list[LiveExport]:
    """The user's exports in flight (an auditor's: everyone's), and those of `shown` (the
    ones the page already lists) whatever their state, so that a bar that reaches its end is
    seen to end rather than vanish. Oldest first, so that rows keep their place. One query,
    on the status and primary-key indexes."""
    now = now or timezone.now()
    rows = visible_exports(user).filter(IN_FLIGHT_CONDITION | Q(pk__in=list(shown)))
    newest = rows.select_related("owner").order_by("-created_at", "-id")[:LIVE_MAX]
    return [LiveExport(export, progress_of(export, now)) for export in reversed(list(newest))]


def parse_shown(text: str) -> list[int]:
    """The `shown` parameter of the live list: export ids, comma-separated, at most
    `LIVE_MAX` of them; ValueError for anything else."""
    if not text:
        return []
    ids = [int(part) for part in text.split(",")]
    if len(ids) > LIVE_MAX or any(pk <= 0 for pk in ids):
        raise ValueError("too many or invalid export ids")
    return ids


def figures(user: Any, now: datetime | None = None) -> Figures:
    """Counts by status, per-format success and median duration, and exports per day, over
    the last `WINDOW_DAYS` UTC days. Three queries."""
    now = now or timezone.now()
    since = window_start(now)
    window = visible_exports(user).filter(created_at__gte=since)

    # One aggregate over (written format, status) gives both the status counts and the
    # per-format success: a handful of rows, whatever the number of exports.
    by_status: dict[Status, int] = defaultdict(int)
    requested: dict[str, int] = defaultdict(int)
    ended: dict[str, int] = defaultdict(int)
    succeeded: dict[str, int] = defaultdict(int)
    cells = (
        window.order_by()
        .annotate(written=_written_format())
        .values("written", "status")
        .annotate(n=Count("id"))
    )
    for cell in cells:
        status, written, n = Status(cell["status"]), str(cell["written"]), int(cell["n"])
        by_status[status] += n
        requested[written] += n
        if status in Status.TERMINAL:
            ended[written] += n
        if status == Status.SUCCEEDED:
            succeeded[written] += n

    durations: dict[str, list[float]] = defaultdict(list)
    sample = (
        window.filter(status=Status.SUCCEEDED)
        .order_by("-created_at", "-id")
        .annotate(written=_written_format())
        .values_list("written", "submitted_at", "finished_at")[:MEDIAN_SAMPLE]
    )
    for written, submitted_at, finished_at in sample:
        duration = duration_of(submitted_at, finished_at)
        if duration is not None:
            durations[str(written)].append(duration.total_seconds())

    formats = [
        FormatFigures(
            file_format=written,
            requested=requested[written],
            ended=ended[written],
            succeeded=succeeded[written],
            median_duration=(
                timedelta(seconds=statistics.median(durations[written]))
                if durations[written]
                else None
            ),
        )
        for written in sorted(requested)
    ]
    return Figures(
        since=since,
        as_of=now,
        # Every status of the table, in its order, so a new one shows up by itself.
        status_counts=[StatusCount(status, by_status[status]) for status in Status],
        total=sum(by_status.values()),
        formats=formats,
        chart=daily_chart(per_day(window), since.date()),
    )


def per_day(window: ExportQuerySet) -> dict[date, int]:
    """Exports requested per UTC day (days without any are absent). One query."""
    days = (
        window.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day")
        .annotate(n=Count("id"))
    )
    return {row["day"]: int(row["n"]) for row in days}


def daily_chart(counts: dict[date, int], first_day: date) -> DailyChart:
    """Bars for `WINDOW_DAYS` days from `first_day`, empty days included (height 0)."""
    days = [first_day + timedelta(days=i) for i in range(WINDOW_DAYS)]
    highest = max((counts.get(day, 0) for day in days), default=0)
    slot = CHART_WIDTH / WINDOW_DAYS
    bars = []
    for i, day in enumerate(days):
        count = counts.get(day, 0)
        height = CHART_HEIGHT * count / highest if highest else 0.0
        bars.append(
            DayBar(
                day=day,
                count=count,
                x=round(i * slot + BAR_GAP / 2, 2),
                y=round(CHART_HEIGHT - height, 2),
                width=round(slot - BAR_GAP, 2),
                height=round(height, 2),
            )
        )
    busiest = max(bars, key=lambda bar: bar.count) if highest else None
    return DailyChart(bars=bars, total=sum(bar.count for bar in bars), busiest=busiest)


def latest_audit_events(user: Any) -> list[AuditEvent]:
    """The newest audit events, for an auditor; nothing for anyone else. One query."""
    if not is_auditor(user):
        return []
    return list(AuditEvent.objects.order_by("-id")[:AUDIT_EVENTS])
