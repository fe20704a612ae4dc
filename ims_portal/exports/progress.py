"""How far along an export is, as the status page shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.utils import timezone

from ims_portal.exports.models import Export, Status
from ims_portal.exports.workflow import is_stalled

PHASES = ("Queued", "Submitted", "Initializing", "Running", "Done")
THROUGHPUT_CACHE_KEY = "exports:throughput:v1"
THROUGHPUT_SAMPLE = 20


@dataclass(frozen=True, slots=True)
class Progress:
    phase: int  # index into PHASES
    percent: int  # what the bar shows, 0..100
    from_cloud: bool  # percent is the cloud's own figure
    elapsed: timedelta
    remaining: timedelta | None
    stalled: bool

    @property
    def phases(self) -> list[tuple[str, str]]:
        """(name, state) pairs, state being "done", "current" or "todo"."""
        return [
            (name, "done" if i < self.phase else "current" if i == self.phase else "todo")
            for i, name in enumerate(PHASES)
        ]


def phase_of(export: Export) -> int:
    if export.is_terminal:
        return 4
    if export.status == Status.RUNNING:
        return 3
    if export.status == Status.SUBMITTED:
        return 2 if export.poll_count else 1
    return 0


def progress_of(export: Export, now: datetime | None = None) -> Progress:
    now = now or timezone.now()
    phase = phase_of(export)
    from_cloud = export.progress is not None
    if export.status == Status.SUCCEEDED:
        percent = 100
    elif export.progress is not None:
        percent = round(100 * export.progress)
    else:
        percent = (0, 5, 10, 15, 100)[phase]
    return Progress(
        phase=phase,
        percent=percent,
        from_cloud=from_cloud,
        elapsed=export.elapsed(now),
        remaining=None if export.is_terminal else remaining_time(export, now),
        stalled=is_stalled(export, now),
    )


def remaining_time(export: Export, now: datetime) -> timedelta | None:
    """From the cloud's percentage where it gives one, else from past throughput."""
    started = export.job_begin_time or export.running_at or export.submitted_at
    if started is None:
        return None
    spent = max((now - started).total_seconds(), 0.0)
    if export.progress and export.progress > 0.01:
        return timedelta(seconds=spent * (1 - export.progress) / export.progress)
    rate = throughput()
    if not rate:
        return None
    return timedelta(seconds=max(export.image_size / rate - spent, 0.0))


def throughput() -> float | None:
    """Bytes per second of recent successful exports, cached for a minute."""
    rate = cache.get(THROUGHPUT_CACHE_KEY)
    if rate is None:
        recent = (
            Export.objects.filter(status=Status.SUCCEEDED, submitted_at__isnull=False)
            .order_by("-finished_at")
            .values_list("image_size", "submitted_at", "finished_at")[:THROUGHPUT_SAMPLE]
        )
        size = sum(row[0] for row in recent)
        seconds = sum(
            (finished - submitted).total_seconds()
            for _, submitted, finished in recent
            if finished is not None and submitted is not None
        )
        rate = size / seconds if seconds > 0 else 0.0
        cache.set(THROUGHPUT_CACHE_KEY, rate, 60)
    return rate or None
