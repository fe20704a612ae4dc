"""How far along an export is, as the status page shows it."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from ims_portal.exports import eta
from ims_portal.exports.models import Export, Status
from ims_portal.exports.workflow import is_stalled

PHASES = ("Queued", "Submitted", "Initializing", "Running", "Done")
THROUGHPUT_CACHE_KEY = "exports:throughput:v2"
THROUGHPUT_CACHE_SECONDS = 60
THROUGHPUT_SAMPLE = 20  # past exports the prior takes the median of
THROUGHPUT_BAND = 4  # "of similar size": within this factor either way


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
    """The estimate the last poll stored, counted down to `now`: None while there is none
    yet ("estimating…"), zero once it has run out ("finishing…"). A page view only reads
    it; the poll works it out (`eta_fields`), so every view between two polls agrees."""
    if export.eta_seconds is None or export.eta_at is None:
        return None
    shown = eta.Shown(export.eta_seconds, export.eta_at.timestamp(), export.eta_prior_only)
    return timedelta(seconds=max(round(shown.left(now.timestamp())), 0))


def eta_fields(export: Export, fraction: float | None, now: datetime) -> dict[str, Any]:
    """What one poll stores for the time-left estimate, written with the poll itself
    (`Export.record_poll`): the cloud's percentage as one more sample, and the new estimate
    with its time. `fraction` is the cloud's figure, None where it gives none."""
    samples: list[eta.Sample] = [(float(t), float(f)) for t, f in export.progress_samples]
    fields: dict[str, Any] = {}
    if fraction is not None:
        samples = eta.add_sample(samples, now.timestamp(), fraction)
        fields["progress_samples"] = samples
    started = export.submitted_at or export.submitting_at or export.created_at
    rate = throughput(export.image_size, quick=export.quick, file_format=export.file_format)
    previous = (
        eta.Shown(export.eta_seconds, export.eta_at.timestamp(), export.eta_prior_only)
        if export.eta_seconds is not None and export.eta_at is not None
        else None
    )
    shown = eta.next_shown(
        previous,
        samples,
        now=now.timestamp(),
        spent=max((now - started).total_seconds(), 0.0),
        expected_total=export.image_size / rate if rate else None,
    )
    if shown is not None and shown != previous:
        fields.update(
            eta_seconds=shown.seconds,
            eta_at=datetime.fromtimestamp(shown.at, UTC),
            eta_prior_only=shown.prior_only,
        )
    return fields


def throughput(image_size: int, *, quick: bool, file_format: str) -> float | None:
    """Bytes per second that past exports alike took, from the submit to the end: the
    median of the last few succeeded ones of the same format (fast or not) within a factor
    of `THROUGHPUT_BAND` of this size. Cached briefly: every poll of every export asks."""
    band = round(math.log2(max(image_size, 1)))
    key = f"{THROUGHPUT_CACHE_KEY}:{int(quick)}:{file_format}:{band}"
    rate = cache.get(key)
    if rate is None:
        recent = (
            Export.objects.filter(
                status=Status.SUCCEEDED,
                quick=quick,
                file_format=file_format,
                image_size__gte=2**band / THROUGHPUT_BAND,
                image_size__lte=2**band * THROUGHPUT_BAND,
                submitted_at__isnull=False,
                finished_at__isnull=False,
            )
            .order_by("-finished_at")
            .values_list("image_size", "submitted_at", "finished_at")[:THROUGHPUT_SAMPLE]
        )
        rates = [
            size / seconds
            for size, submitted, finished in recent
            if finished is not None
            and submitted is not None
            and (seconds := (finished - submitted).total_seconds()) > 0
        ]
        rate = statistics.median(rates) if rates else 0.0
        cache.set(key, rate, THROUGHPUT_CACHE_SECONDS)
    return float(rate) or None
