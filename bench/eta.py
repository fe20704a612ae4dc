"""Benchmark: how close the time-left estimate comes, against the simulator.

Run on demand (not a test):  .venv/bin/python bench/eta.py [--speed 8]

It starts the simulator as its own process, adds images of several sizes and runs their
exports (normal and fast) through the portal's own code path on a scratch PostgreSQL
database (`ims_portal_bench_eta`): the export POST, then `Client.get_job` and
`workflow.apply_job` at every poll, with the portal's poll back-off divided by the speed, so
an export sees as many polls as it would at demo pace. After each poll it notes the estimate
the page would show. Three waves: with no past exports (cold), with the first wave as
history (warm, other sizes), and warm with the cloud's progress call switched off (the prior
alone). For each wave it prints, at 25/50/75% of each export's real duration, the shown
estimate's relative error (median and worst), how many were still "estimating…", and how
many times one shown estimate differed from the previous one (counted down) by more than 2x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise

from scratch import django_on_scratch_database  # bench/ is the script's folder

DB = "ims_portal_bench_eta"
MARKS = (0.25, 0.50, 0.75)
# (GiB, fast export, format): normal exports up to the fast-only threshold, fast ones above.
COLD = ((2, False, "qcow2"), (12, False, "qcow2"), (60, False, "qcow2"), (120, False, "vmdk"),
        (20, False, "vmdk"), (150, True, ""), (400, True, ""), (800, True, ""))  # fmt: skip
WARM = ((3, False, "qcow2"), (20, False, "qcow2"), (90, False, "qcow2"), (100, False, "vmdk"),
        (30, False, "vmdk"), (200, True, ""), (300, True, ""), (600, True, ""))  # fmt: skip


@dataclass
class Run:
    """One export followed to its end, with what the page showed after each poll."""

    export_id: int
    label: str
    submitted: float  # epoch seconds
    end: float | None = None
    shown: list[tuple[float, float | None, float | None]] = field(default_factory=list)
    # (poll time, eta_seconds, eta_at) after each poll


def shown_at(run: Run, t: float) -> float | None:
    """The estimate the page showed at `t`: the last poll's, counted down."""
    before = [(seconds, at) for polled, seconds, at in run.shown if polled <= t]
    if not before or before[-1][0] is None or before[-1][1] is None:
        return None
    seconds, at = before[-1]
    return max(seconds - (t - at), 0.0)


def jumps(run: Run, factor: float = 2.0) -> int:
    """Polls at which the shown estimate moved by more than `factor` from the one before."""
    count = 0
    for (_, s0, a0), (t1, s1, a1) in pairwise(run.shown):
        if s0 is None or a0 is None or s1 is None or a1 is None or (s0, a0) == (s1, a1):
            continue
        counted, now_showing = s0 - (t1 - a0), s1 - (t1 - a1)
        if counted > 0 and not counted / factor <= now_showing <= counted * factor:
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=8.0)
    args = parser.parse_args()

    os.environ["CACHE_URL"] = "locmemcache://"  # the prior's cache is this process's own
    django_on_scratch_database(DB)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.utils import timezone

    from ims_portal.cloud import Client
    from ims_portal.exports import workflow
    from ims_portal.exports.models import Export, Status
    from ims_portal.simulator import seed
    from tests.simulator_process import SimulatorProcess

    # The portal's back-off, at the simulator's pace.
    settings.EXPORT_POLL_FIRST /= args.speed
    settings.EXPORT_POLL_MAX /= args.speed
    owner = get_user_model().objects.create_user("bench", "bench@example.com", "x")

    with SimulatorProcess(speed=args.speed) as process:
        sim = process.running()
        client = Client.from_env(sim.client_environment())

        def wave(name: str, specs: tuple[tuple[int, bool, str], ...]) -> list[Run]:
            cache.clear()  # a fresh wave sees the history just made
            runs = []
            for gib, quick, file_format in specs:
                image_id = str(uuid.uuid4())
                spec = seed.ImageSpec(image_id, f"bench-{gib}g", "2025-01-01T00:00:00Z",
                                      float(gib), "Debian", "Debian GNU/Linux 12 64bit")  # fmt: skip
                sim.control.add_image(seed.image_json(spec, sim.project_id))
                export = Export.objects.create(
                    owner=owner, image_id=image_id, image_name=spec.name,
                    image_size=gib * seed.GIB, bucket="ims-exports",
                    object_name=f"bench-{uuid.uuid4().hex[:8]}.img",
                    file_format=file_format, quick=quick,
                )  # fmt: skip
                export.transition(Status.SUBMITTING, submit_attempts=1)
                job_id = client.export_image(
                    image_id, export.bucket_url, file_format or None, quick=quick
                )
                export.transition(
                    Status.SUBMITTED, job_id=job_id, next_poll_at=workflow.next_poll_due(export)
                )
                label = f"{gib} GiB {'fast' if quick else file_format}"
                runs.append(Run(export.pk, label, export.submitted_at.timestamp()))
            follow(runs)
            return runs

        def follow(runs: list[Run]) -> None:
            pending = {run.export_id: run for run in runs}
            while pending:
                exports = Export.objects.filter(pk__in=pending).order_by("next_poll_at")
                export = exports.first()
                assert export is not None and export.next_poll_at is not None
                time.sleep(max((export.next_poll_at - timezone.now()).total_seconds(), 0.0))
                job = client.get_job(export.job_id)
                workflow.apply_job(export, job)
                run = pending[export.pk]
                at = export.eta_at.timestamp() if export.eta_at else None
                run.shown.append((time.time(), export.eta_seconds, at))
                if export.is_terminal:
                    assert export.status == Status.SUCCEEDED, export.error_message
                    end: datetime = job.end_time or timezone.now()
                    run.end = end.timestamp()
                    del pending[export.pk]

        results = [("cold: no past exports", wave("cold", COLD))]
        results.append(("warm: the cold wave as history", wave("warm", WARM)))
        sim.control.configure(progress_api=False)
        client = Client.from_env(sim.client_environment())
        results.append(("warm, no progress call: the prior alone", wave("prior", WARM)))

    print(f"speed {args.speed:g}: relative error of the shown time left, per mark of the real")
    print("duration (median / worst over the exports shown; 'estimating' = not shown yet)")
    for title, runs in results:
        print(f"\n{title}")
        for mark in MARKS:
            errors, hidden = [], 0
            for run in runs:
                assert run.end is not None
                t = run.submitted + mark * (run.end - run.submitted)
                shown, truth = shown_at(run, t), run.end - t
                if shown is None:
                    hidden += 1
                else:
                    errors.append(abs(shown - truth) / truth)
            figures = (
                f"median {statistics.median(errors):6.1%}  worst {max(errors):6.1%}"
                if errors
                else "nothing shown"
            )
            print(f"  at {mark:.0%}: {figures}  estimating {hidden}/{len(runs)}")
        print(f"  jumps > 2x between consecutive shown estimates: {sum(map(jumps, runs))}")
        slowest = max(runs, key=lambda run: (run.end or 0) - run.submitted)
        polls = len(slowest.shown)
        print(f"  ({len(runs)} exports; the longest, {slowest.label}, was polled {polls} times)")


if __name__ == "__main__":
    main()
