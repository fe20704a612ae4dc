"""How far along an export is, as the status page shows it."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from django.core.cache import cache
from django.utils import timezone

from ims_portal.exports import eta
from ims_portal.exports.models import Export, Status, Tone
from ims_portal.exports.workflow import is_stalled

# The cloud's INIT is the phase "Submitted": the job exists and has not started running.
PHASES = ("Queued", "Submitting", "Submitted", "Running", "Done")
# The timestamp each phase stamps when the export enters it: the proof it got there.
PHASE_STAMPS = ("created_at", "submitting_at", "submitted_at", "running_at", "finished_at")
DONE = len(PHASES) - 1
# The prior: how long past exports alike took, from the submit to the end, as a straight
# line in the size (a fixed part plus a part per byte), fitted over the last few.
PRIOR_CACHE_SECONDS = 60  # how long the prior's figures are reused: every poll asks
DURATION_CACHE_KEY = "exports:duration:v1"
DURATION_SAMPLE = 30  # past succeeded exports of the same format (fast or not) fitted over
DURATION_MIN_POINTS = 3  # fewer cannot tell a fixed part from noise
DURATION_MIN_SPREAD = 2  # the largest of them at least this many times the smallest
# Its fallback while the line cannot be fitted: their median bytes/s near this size.
THROUGHPUT_CACHE_KEY = "exports:throughput:v2"
THROUGHPUT_SAMPLE = 20  # past exports the prior takes the median of
THROUGHPUT_BAND = 4  # "of similar size": within this factor either way
# The figures of the prior one round of polls has looked up, by cache key: a round polls
# many exports alike, and would otherwise ask the cache for them again at every poll.
Priors = dict[str, Any]


class Mark(StrEnum):
    """What the phase strip says of one phase."""

    PASSED = "done"  # the export went through it (its timestamp says so)
    CURRENT = "current"  # where the export is now
    TODO = "todo"  # not reached
    UNSEEN = "unseen"  # left behind without the portal ever seeing it (a quick cloud job)
    HALTED = "halted"  # where it ended without a file: failed, refused, unknown, stopped


class Basis(StrEnum):
    """Where the bar's figure comes from."""

    CLOUD = "cloud"  # the cloud's own percentage, its highest so far
    FINISHED = "finished"  # the export succeeded: 100%
    NONE = "none"  # no figure yet: the bar is indeterminate, the phase strip tells


class Phase(NamedTuple):
    name: str
    state: Mark

    @property
    def is_current(self) -> bool:
        return self.state == Mark.CURRENT

    @property
    def is_halted(self) -> bool:
        return self.state == Mark.HALTED

    @property
    def is_unseen(self) -> bool:
        return self.state == Mark.UNSEEN


# What the strip says beside the phase an export ended in, by the export's tone; a rejected
# export's Submitting phase says "refused" instead (nothing ever ran).
HALT_NOTES = {
    Tone.ERROR: "failed here",
    Tone.WARNING: "outcome unknown",
    Tone.STOPPED: "stopped here",
}
REFUSED_NOTE = "refused by the cloud"


@dataclass(frozen=True, slots=True)
class Progress:
    phase: int  # index into PHASES of the phase the export is in (or ended in)
    phases: tuple[Phase, ...]
    percent: int | None  # what the bar shows, 0..100; None: no figure to show
    basis: Basis
    show_bar: bool  # whether the page draws a bar at all
    halt_note: str  # the words beside a halted phase
    elapsed: timedelta
    remaining: timedelta | None
    # When the shown estimate runs out: what the page marks up, the same between two polls.
    ends_at: datetime | None
    # The time left in words, as the page, the API and the command line all say it.
    time_left: str
    stalled: bool

    @property
    def from_cloud(self) -> bool:
        """The percentage is the cloud's own figure."""
        return self.basis == Basis.CLOUD


def reached(export: Export) -> int:
    """The furthest phase the export's own timestamps prove it entered."""
    stamped = [i for i, name in enumerate(PHASE_STAMPS[:DONE]) if getattr(export, name)]
    return max(stamped, default=0)


def phase_of(export: Export) -> int:
    """The phase the export is in now, or the one it ended in.

    For an export in flight that is its status; an export queued again after a refused
    submit is back in Queued although its `submitting_at` remains. An ended one succeeded
    into Done, or stopped in the furthest phase it had entered.
    """
    if export.is_succeeded:
        return DONE
    if export.is_terminal:
        return reached(export)
    # In flight, each phase is named as the status it stands for.
    return PHASES.index(Status(export.status).label)


def phases_of(export: Export) -> tuple[Phase, ...]:
    """Each phase with its mark, from the export's timestamps, never from its status alone:
    a phase is ticked only if the export is known to have entered it."""
    current = phase_of(export)
    halted = export.is_terminal and not export.is_succeeded
    marks = []
    for i, name in enumerate(PHASES):
        if i == current:
            mark = Mark.HALTED if halted else Mark.CURRENT
        elif i > current:
            mark = Mark.TODO
        elif getattr(export, PHASE_STAMPS[i]):
            mark = Mark.PASSED
        else:
            mark = Mark.UNSEEN
        marks.append(Phase(name, mark))
    return tuple(marks)


def percent_of(export: Export) -> tuple[int | None, Basis]:
    """The bar's figure and where it comes from.

    Only the cloud's figure is shown, and `progress` keeps the highest it reported, so the
    bar never moves backwards. Before the cloud gives a figure there is none: any estimate
    from the phase could stand above the cloud's first figure (the job may start at 0%) and
    the bar would then fall back, so the bar is indeterminate and the strip tells the phase.
    """
    if export.is_succeeded:
        return 100, Basis.FINISHED
    if export.progress is not None:
        # Rounded down (99.6% is not done), past float noise (0.29 * 100 is 28.999...).
        return min(math.floor(100 * export.progress + 1e-9), 99), Basis.CLOUD
    return None, Basis.NONE


def progress_of(export: Export, now: datetime | None = None) -> Progress:
    """Everything the status fragment shows of how far the export is, read from `export`
    alone, so every part of one page agrees."""
    now = now or timezone.now()
    percent, basis = percent_of(export)
    remaining = None if export.is_terminal else remaining_time(export, now)
    note = REFUSED_NOTE if export.is_rejected else HALT_NOTES.get(export.tone, "")
    return Progress(
        phase=phase_of(export),
        phases=phases_of(export),
        percent=percent,
        basis=basis,
        # A rejected export never started; an ended one without a figure has no place the
        # bar stopped at, and an indeterminate bar would pretend it is still busy.
        show_bar=not export.is_rejected and (export.is_in_flight or percent is not None),
        halt_note=note,
        elapsed=export.elapsed(now),
        remaining=remaining,
        ends_at=None if export.is_terminal else estimate_ends(export),
        time_left=time_left_words(export, remaining),
        stalled=is_stalled(export, now),
    )


def time_left_words(export: Export, remaining: timedelta | None) -> str:
    """The time an export in flight has left, in words ("about 3 min left"); empty for one
    that has ended. `remaining` is `remaining_time`'s answer."""
    if not export.is_in_flight:
        return ""
    if remaining is None:
        # Polled, and still no percentage from the cloud to estimate from.
        return (
            "time left unknown" if export.poll_count and export.progress is None else "estimating…"
        )
    return f"{eta.describe(remaining.total_seconds())} left" if remaining else "finishing…"


def remaining_time(export: Export, now: datetime) -> timedelta | None:
    """The estimate the last poll stored, counted down to `now`: None while there is none
    yet ("estimating…"), zero once it has run out ("finishing…"). A page view only reads
    it; the poll works it out (`eta_fields`), so every view between two polls agrees."""
    if export.eta_seconds is None or export.eta_at is None:
        return None
    shown = eta.Shown(export.eta_seconds, export.eta_at.timestamp(), export.eta_prior_only)
    return timedelta(seconds=max(round(shown.left(now.timestamp())), 0))


def estimate_ends(export: Export) -> datetime | None:
    """When the estimate the last poll stored runs out (`remaining_time` counts down to it)."""
    if export.eta_seconds is None or export.eta_at is None:
        return None
    return export.eta_at + timedelta(seconds=export.eta_seconds)


def eta_fields(
    export: Export, fraction: float | None, now: datetime, priors: Priors | None = None
) -> dict[str, Any]:
    """What one poll stores for the time-left estimate, written with the poll itself
    (`Export.record_poll`): the cloud's percentage as one more sample, and the new estimate
    with its time. `fraction` is the cloud's figure, None where it gives none; `priors`,
    the figures of the prior a round of polls has looked up already."""
    samples: list[eta.Sample] = [(float(t), float(f)) for t, f in export.progress_samples]
    fields: dict[str, Any] = {}
    if fraction is not None:
        samples = eta.add_sample(samples, now.timestamp(), fraction)
        fields["progress_samples"] = samples
    started = export.submitted_at or export.submitting_at or export.created_at
    expected = expected_duration(
        export.image_size, quick=export.quick, file_format=export.file_format, priors=priors
    )
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
        expected_total=expected,
    )
    if shown is not None and shown != previous:
        fields.update(
            eta_seconds=shown.seconds,
            eta_at=datetime.fromtimestamp(shown.at, UTC),
            eta_prior_only=shown.prior_only,
        )
    return fields


class DurationLine(NamedTuple):
    """Seconds an export takes from the submit to the end: `fixed + per_byte * size`."""

    fixed: float  # what any export costs whatever its size (scheduling, snapshot, set-up)
    per_byte: float

    def at(self, size: int) -> float:
        return self.fixed + self.per_byte * size


def fit_duration(points: list[tuple[int, float]]) -> DurationLine | None:
    """The least-squares line through (size, seconds) `points`, or None where they cannot
    carry one: too few, sizes too alike to part the fixed cost from the per-byte one, or
    larger exports not taking longer. A fixed part below zero means no fixed part: the line
    is then fitted through the origin (the best line with `fixed >= 0`)."""
    sizes = [size for size, _ in points]
    if len(points) < DURATION_MIN_POINTS or min(sizes) <= 0:
        return None
    if max(sizes) < DURATION_MIN_SPREAD * min(sizes):
        return None
    mean_size = statistics.fmean(sizes)
    mean_seconds = statistics.fmean(seconds for _, seconds in points)
    spread = sum((size - mean_size) ** 2 for size in sizes)
    per_byte = sum((size - mean_size) * (s - mean_seconds) for size, s in points) / spread
    fixed = mean_seconds - per_byte * mean_size
    if fixed < 0:
        fixed = 0.0
        per_byte = sum(size * s for size, s in points) / sum(size**2 for size in sizes)
    if per_byte <= 0:
        return None
    return DurationLine(fixed, per_byte)


def past_durations(limit: int, **filters: Any) -> list[tuple[int, float]]:
    """(size in bytes, seconds from the submit to the end) of the latest `limit` succeeded
    exports that match `filters`: what both priors learn from."""
    recent = (
        Export.objects.filter(
            status=Status.SUCCEEDED, submitted_at__isnull=False, finished_at__isnull=False
        )
        .filter(**filters)
        .order_by("-finished_at")
        .values_list("image_size", "submitted_at", "finished_at")[:limit]
    )
    return [
        (size, seconds)
        for size, submitted, finished in recent
        if finished is not None
        and submitted is not None
        and (seconds := (finished - submitted).total_seconds()) > 0
    ]


def _prior(key: str, compute: Callable[[], Any], priors: Priors | None) -> Any:
    """The prior's figure under `key`: the round's (`priors`), else the cache's, else
    computed and cached for `PRIOR_CACHE_SECONDS`."""
    if priors is not None and key in priors:
        return priors[key]
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, PRIOR_CACHE_SECONDS)
    if priors is not None:
        priors[key] = value
    return value


def duration_line(
    *, quick: bool, file_format: str, priors: Priors | None = None
) -> DurationLine | None:
    """The line fitted over the last `DURATION_SAMPLE` succeeded exports of this format,
    fast or not, whatever their size. Cached briefly, one per (format, fast), the lack of
    one too: every poll of every export asks."""

    def fit() -> tuple[float, ...]:
        points = past_durations(DURATION_SAMPLE, quick=quick, file_format=file_format)
        line = fit_duration([(size, seconds) for size, seconds in points if size > 0])
        return tuple(line) if line else ()  # () is "no line", a cached answer too

    cached = _prior(f"{DURATION_CACHE_KEY}:{int(quick)}:{file_format}", fit, priors)
    return DurationLine(*cached) if cached else None


def expected_duration(
    image_size: int, *, quick: bool, file_format: str, priors: Priors | None = None
) -> float | None:
    """Seconds an export of `image_size` bytes is expected to take from the submit to the
    end, from past exports alike (`duration_line`); while no line can be fitted, from their
    median `throughput` near this size. None with no history at all."""
    line = duration_line(quick=quick, file_format=file_format, priors=priors)
    if line is not None:
        seconds = line.at(image_size)
    else:
        rate = throughput(image_size, quick=quick, file_format=file_format, priors=priors)
        seconds = image_size / rate if rate else 0.0
    return seconds if seconds > 0 else None  # no export takes no time: that is no prior


def throughput(
    image_size: int, *, quick: bool, file_format: str, priors: Priors | None = None
) -> float | None:
    """Bytes per second that past exports alike took, from the submit to the end (the
    prior's fallback, see `expected_duration`): the median of the last few succeeded ones
    of the same format (fast or not) within a factor of `THROUGHPUT_BAND` of this size.
    Cached briefly: every poll of every export asks."""
    band = round(math.log2(max(image_size, 1)))

    def median_rate() -> float:
        points = past_durations(
            THROUGHPUT_SAMPLE,
            quick=quick,
            file_format=file_format,
            image_size__gte=2**band / THROUGHPUT_BAND,
            image_size__lte=2**band * THROUGHPUT_BAND,
        )
        rates = [size / seconds for size, seconds in points]
        return statistics.median(rates) if rates else 0.0

    rate = _prior(f"{THROUGHPUT_CACHE_KEY}:{int(quick)}:{file_format}:{band}", median_rate, priors)
    return float(rate) or None
