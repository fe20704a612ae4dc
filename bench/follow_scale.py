"""Benchmark: thousands of exports followed at once by the batched poller, with new
exports submitted meanwhile on their own queue.

Run on demand (not a test):

    .venv/bin/python bench/follow_scale.py --exports 2000     # `make bench`'s size
    .venv/bin/python bench/follow_scale.py --exports 10000    # the issue's figure

It starts the simulator as its own process and a scratch PostgreSQL database (`--database`),
then puts N exports in flight: N export POSTs to the simulator through the portal's own
cloud client, and the N rows those leave, `submitted`, long in flight (polled once a poll
interval, the portal's defaults: one poll a minute), each one's next poll somewhere in the
coming interval (the steady state). Their jobs stay queued in the cloud (INIT) until the
measured window, then run: that change of status is what the lag is measured on. It starts
the Procfile's workers (a follow worker of `--follow-concurrency` processes running
`--chains` poll chains of `--threads` threads, a submit worker of 1) and beat, waits out a
warm-up, and measures for `--window` seconds while a new valid export is created and
enqueued every `--probe-every` seconds, as a web request does (`enqueue_submit`):

- submit wait: from enqueuing a new export to its POST reaching the simulator (the job's
  begin time);
- cloud GETs per recorded poll: the simulator's IMS GETs over the polls the rows recorded
  (a duplicate poll costs a GET that records nothing; so does each new export's last poll,
  which ends it rather than recording a poll); polls done / polls due: the in-flight
  exports' recorded polls over those their interval calls for (1.0 keeps up); their product
  is the cloud GETs per export per poll interval;
- lag: from an in-flight job's change from INIT to RUNNING in the simulator (its begin plus
  its INIT share of its duration) to the row's `running_at`, against the interval in force
  plus 2 s; a change not recorded when the workers stop counts as lagging that long at
  least; for the new exports, SUCCESS to `finished_at`, beyond the (shorter) interval in
  force at the time;
- worker CPU: user + system time of the worker processes (main and pool) from /proc, and
  that CPU per poll done and per followed export.

The per-export message chain this poller replaced has no mode here any more (there is one
way to poll): docs/benchmarks.md keeps its figures from this same benchmark beside these.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scratch import ROOT, django_on_scratch_database  # bench/ is the script's folder

DB = "ims_portal_bench_follow"


CLK_TCK = os.sysconf("SC_CLK_TCK")
SUBMIT_TARGET = 2.0  # s, p95 (issue 12)
GETS_TARGET = 1.1  # per export per poll interval
LAG_MARGIN = 2.0  # s beyond the poll interval in force


@dataclass
class Measured:
    """What one mode measured."""

    submit_waits: list[float] = field(default_factory=list)
    gets: int = 0
    polls: int = 0
    background_polls: int = 0
    polls_due: float = 0.0
    running_lags: list[float] = field(default_factory=list)
    probe_lags: list[float] = field(default_factory=list)
    probe_excess: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    follow_cpu_seconds: float = 0.0  # the follow worker's share
    cloud_cpu_seconds: float = 0.0  # the simulator's, on the same cores
    window: float = 0.0

    @property
    def gets_per_poll(self) -> float:
        return self.gets / self.polls if self.polls else float("nan")

    @property
    def cpu_per_poll(self) -> float:
        """Worker CPU seconds per poll recorded."""
        return self.cpu_seconds / self.polls if self.polls else float("nan")

    @property
    def keeping_up(self) -> float:
        """The in-flight exports' polls done over the polls due."""
        return self.background_polls / self.polls_due if self.polls_due else float("nan")


def p(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def process_tree_cpu(root: int) -> float:
    """User + system seconds of `root` and every process under it, from /proc."""
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        ticks[pid] = int(fields[11]) + int(fields[12])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / CLK_TCK


def parse_job_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def interval_in_force(since_submit: float) -> float:
    """The longest poll interval (its jitter included) in force `since_submit` seconds after
    an export's submit, under the portal's back-off."""
    from django.conf import settings

    from ims_portal.exports import workflow

    elapsed, k = 0.0, 0
    while True:
        delay = min(
            settings.EXPORT_POLL_FIRST * settings.EXPORT_POLL_FACTOR**k, settings.EXPORT_POLL_MAX
        )
        if elapsed + delay > since_submit:
            return delay * (1 + workflow.POLL_JITTER)
        elapsed += delay
        k += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=int, default=2000)
    parser.add_argument("--window", type=float, default=40.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--probe-every", type=float, default=1.0)
    parser.add_argument("--database", default=DB)
    parser.add_argument(
        "--follow-concurrency", type=int, default=5, help="the follow worker's (the Procfile's)"
    )
    parser.add_argument("--chains", type=int, help="EXPORT_POLL_CHAINS (default: the setting)")
    parser.add_argument("--threads", type=int, help="EXPORT_POLL_THREADS (default: the setting)")
    parser.add_argument("--batch", type=int, help="EXPORT_POLL_BATCH (default: the setting)")
    args = parser.parse_args()

    django_on_scratch_database(args.database)
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from ims_portal.exports import cloud_access
    from ims_portal.simulator import seed
    from tests.simulator_process import SimulatorProcess

    # The cloud exports an image once at a time: an image of its own for every export.
    probes = int(args.window / args.probe_every) + 2
    count = args.exports + probes + 10
    images = iter(seed.bulk_specs(count))
    folder = Path(ROOT / "var" / "bench-follow")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"{args.exports} exports in flight; {args.window:.0f} s measured")

    bulk = {"SIMULATOR_BULK_IMAGES": str(count)}
    with SimulatorProcess(speed=1.0, env=bulk, log_path=folder / "simulator.log") as process:
        sim = process.running()
        os.environ.update(sim.client_environment())
        cloud_access.get_client.cache_clear()
        owner = get_user_model().objects.create_user("bench-follow", "b@example.com", "pw")
        workers = (("follow", args.follow_concurrency), ("submit", 1))
        simulator_pid = process._process.pid  # the cloud's CPU, beside the workers'
        measured = run(workers, args, sim, owner, images, folder, simulator_pid)
    report(measured, args, float(settings.EXPORT_POLL_MAX))


def run(
    workers: tuple[tuple[str, int], ...],
    args: argparse.Namespace,
    sim: Any,
    owner: Any,
    images: Iterator[Any],
    folder: Path,
    simulator_pid: int,
) -> Measured:
    """Put `--exports` exports in flight, follow them with `workers` (`--work`,
    `--concurrency`), measure."""
    from django.conf import settings

    from ims_portal.celery import app, work_queues
    from ims_portal.exports import cloud_access, tasks
    from ims_portal.exports.models import Export, Status
    from ims_portal.simulator import seed
    from ims_portal.simulator.jobs import INIT_SHARE, export_duration
    from tests.integration.processes import signal_group, start_beat
    from tests.portal_fixtures import start_worker

    interval = float(settings.EXPORT_POLL_MAX)
    client = cloud_access.get_client()
    tail = 50.0  # after the window: the last new exports end
    # The changes of status measured happen in the window's first part: each has had a
    # whole poll interval (and the margin) to be recorded before the workers stop.
    credited = args.window + tail - interval - LAG_MARGIN
    # Slow enough that each job in flight leaves INIT `change_after` seconds after its POST:
    # past the set-up (estimated), the warm-up, and into the credited part of the window.
    change_after = 10 + args.exports / 200 + args.warmup + credited / 2
    in_init = INIT_SHARE * export_duration(int(4.0 * seed.GIB), False, 1.0)  # the middle size
    sim.control.configure(speed=in_init / change_after)
    posted_at = time.time()

    def post(spec: Any) -> tuple[Any, str]:
        url = f"ims-exports:inflight-{spec.id}.qcow2"
        return spec, client.export_image(spec.id, url, file_format="qcow2")

    with ThreadPoolExecutor(8) as pool:
        posted = list(pool.map(post, [next(images) for _ in range(args.exports)]))
    post_seconds = time.time() - posted_at
    sim.control.configure(speed=1.0)  # the new exports' jobs take half a minute or so
    now = datetime.now(UTC)
    rows = Export.objects.bulk_create(
        [
            Export(
                owner=owner,
                image_id=spec.id,
                image_name=spec.name,
                image_size=int(spec.size_gib * seed.GIB),
                bucket="ims-exports",
                object_name=f"inflight-{spec.id}.qcow2",
                file_format="qcow2",
                status=Status.SUBMITTED,
                job_id=job_id,
                submit_attempts=1,
                submitting_at=now,
                submitted_at=now,
                poll_count=8,  # long in flight: polled once an interval
                # The steady state: each one's next poll somewhere in the coming interval.
                next_poll_at=now + timedelta(seconds=random.random() * interval),
            )
            for spec, job_id in posted
        ],
        batch_size=2000,
    )
    background = [row.pk for row in rows]
    queue = f"bench-follow-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    poller_settings = {
        name: str(value)
        for name, value in (
            ("EXPORT_POLL_CHAINS", args.chains),
            ("EXPORT_POLL_THREADS", args.threads),
            ("EXPORT_POLL_BATCH", args.batch),
        )
        if value is not None
    }
    env = {
        **os.environ,
        **poller_settings,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PYTHONUNBUFFERED": "1",
    }
    started = [
        start_worker(env, folder / f"{work}.log", concurrency=n, own_group=True, work=work)
        for work, n in workers
    ]
    beat = start_beat(env, folder / "beat.log", folder)
    print(f"{args.exports} POSTs in {post_seconds:.0f} s; set up in "
          f"{time.time() - posted_at:.0f} s")  # fmt: skip
    measured = Measured(window=args.window)
    probes: dict[int, float] = {}
    try:
        # The window opens once warm and so that the changes fall in its credited part.
        opens = posted_at + post_seconds / 2 + change_after - credited / 2
        time.sleep(max(args.warmup, opens - time.time()))
        cpu_before = [process_tree_cpu(w.pid) for w in started]
        cloud_before = process_tree_cpu(simulator_pid)
        gets_before = sim.control.request_counts().get("GET", 0)
        polls_before = poll_total(Export.objects.all())
        bg_before = poll_total(Export.objects.filter(pk__in=background))
        window_start = time.time()
        n = 0
        while time.time() < window_start + args.window:
            spec = next(images)
            export = Export.objects.create(
                owner=owner,
                image_id=spec.id,
                image_name=spec.name,
                image_size=int(spec.size_gib * seed.GIB),
                bucket="ims-exports",
                object_name=f"probe-{spec.id}.qcow2",
                file_format="qcow2",
            )
            probes[export.pk] = time.time()
            tasks.enqueue_submit(export)  # as the web request does, after its commit
            n += 1
            time.sleep(max(0.0, window_start + n * args.probe_every - time.time()))
        window_end = time.time()
        spent = [process_tree_cpu(w.pid) - b for w, b in zip(started, cpu_before, strict=True)]
        measured.cpu_seconds, measured.follow_cpu_seconds = sum(spent), spent[0]
        measured.cloud_cpu_seconds = process_tree_cpu(simulator_pid) - cloud_before
        measured.gets = sim.control.request_counts().get("GET", 0) - gets_before
        measured.polls = poll_total(Export.objects.all()) - polls_before
        measured.background_polls = poll_total(Export.objects.filter(pk__in=background)) - bg_before
        measured.polls_due = len(background) * args.window / interval
        time.sleep(max(0.0, window_end + tail - time.time()))
    finally:
        beat.terminate()
        for worker in started:
            signal_group(worker, signal.SIGTERM)
        for worker in [*started, beat]:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        purge(settings.CELERY_BROKER_URL, work_queues("all", queue))
    stopped = time.time()

    jobs = {job["bucket_url"]: job for job in sim.control.jobs()}
    for export in Export.objects.filter(pk__in=probes):
        job = jobs.get(export.bucket_url)
        if job is None:
            continue
        begin = parse_job_time(job["begin_time"])
        measured.submit_waits.append(begin - probes[export.pk])
        if export.finished_at and export.job_end_time:
            lag = (export.finished_at - export.job_end_time).total_seconds()
            measured.probe_lags.append(lag)
            since = export.job_end_time.timestamp() - begin
            measured.probe_excess.append(lag - interval_in_force(since))
    # The in-flight jobs' change from INIT to RUNNING, in the credited part of the window;
    # one not recorded by the time the workers stopped counts as lagging that long at least.
    for export in Export.objects.filter(pk__in=background):
        begin = parse_job_time(jobs[export.bucket_url]["begin_time"])
        changed = begin + INIT_SHARE * export_duration(export.image_size, False, 1.0) * (
            change_after / in_init
        )
        if window_start <= changed <= window_start + credited:
            seen = export.running_at.timestamp() if export.running_at else stopped
            measured.running_lags.append(min(seen, stopped) - changed)
    # Out of the next run's way: the cloud cannot stop a job, and no one follows these now.
    Export.objects.filter(pk__in=[*background, *probes]).update(
        status=Status.ABANDONED, next_poll_at=None
    )
    return measured


def poll_total(exports: Any) -> int:
    """The polls recorded so far over `exports`."""
    from django.db.models import Sum

    return int(exports.aggregate(n=Sum("poll_count"))["n"] or 0)


def purge(broker_url: str, queues: tuple[str, ...]) -> None:
    """Drop what the run's queues still hold (its workers are gone)."""
    import redis

    client = redis.Redis.from_url(broker_url)
    client.delete(*queues)


def report(m: Measured, args: argparse.Namespace, interval: float) -> None:
    from django.conf import settings

    def row(label: str, target: str, value: float, unit: str = "") -> None:
        print(f"| {label} | {target} | {value:.2f}{unit} |")

    chains = args.chains or settings.EXPORT_POLL_CHAINS
    threads = args.threads or settings.EXPORT_POLL_THREADS
    print()
    print(
        f"{args.exports} exports in flight, poll interval {interval:.0f} s; follow worker of "
        f"{args.follow_concurrency} processes, {chains} chains of {threads} threads "
        "(this machine's figures)"
    )
    print("| measure | target | batched poller |")
    print("| --- | --- | --- |")
    row("submit wait p50", "", p(m.submit_waits, 0.5), " s")
    row("submit wait p95", f"< {SUBMIT_TARGET:.0f} s", p(m.submit_waits, 0.95), " s")
    row("cloud GETs per recorded poll", "", m.gets_per_poll)
    row("polls done / polls due (in flight)", "1.0", m.keeping_up)
    row("GETs per export per interval", f"≤ {GETS_TARGET}", m.gets_per_poll * m.keeping_up)
    row("lag INIT→RUNNING p50", "", p(m.running_lags, 0.5), " s")
    row("lag INIT→RUNNING p95", f"≤ {interval + LAG_MARGIN:.0f} s", p(m.running_lags, 0.95), " s")
    row("new exports: lag SUCCESS p95", "", p(m.probe_lags, 0.95), " s")
    row("new exports: lag beyond interval p95", f"≤ {LAG_MARGIN:.0f} s",
        p(m.probe_excess, 0.95), " s")  # fmt: skip
    row("worker CPU, cores", "", m.cpu_seconds / m.window)
    row("  of which the follow worker", "", m.follow_cpu_seconds / m.window)
    row("the cloud's (simulator's) CPU, cores", "", m.cloud_cpu_seconds / m.window)
    row("worker CPU per poll", "", 1000 * m.cpu_per_poll, " ms")
    row("worker CPU per followed export per minute", "",
        1000 * m.cpu_seconds / args.exports / (m.window / 60), " ms")  # fmt: skip
    print(
        f"(samples: submits {len(m.submit_waits)}, INIT→RUNNING {len(m.running_lags)}, "
        f"new exports ended {len(m.probe_lags)})"
    )


if __name__ == "__main__":
    sys.exit(main())
