"""How far along an export is, as the status page shows it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from django.core.cache import cache
from django.utils import timezone

from ims_portal.exports.models import Export, Status, Tone
from ims_portal.exports.workflow import is_stalled

# The cloud's INIT is the phase "Submitted": the job exists and has not started running.
PHASES = ("Queued", "Submitting", "Submitted", "Running", "Done")
# The timestamp each phase stamps when the export enters it: the proof it got there.
PHASE_STAMPS = ("created_at", "submitting_at", "submitted_at", "running_at", "finished_at")
DONE = len(PHASES) - 1
THROUGHPUT_CACHE_KEY = "exports:throughput:v1"
THROUGHPUT_SAMPLE = 20


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
