"""Benchmark: the busiest pages under load, each as a ratio to a bare Django view.

Run on demand (not a test):  .venv/bin/python bench/web_ratios.py [--exports 1000000]

It makes a scratch PostgreSQL database (`ims_portal_bench_web`, dropped and re-created),
fills it with SQL (`generate_series`: exports over 50 exporters and as many audit events;
the events' hashes are stand-ins, so the chain of this database does not verify), and
starts two gunicorn servers with the same settings (the Procfile's web line: ASGI under
uvicorn workers; `--wsgi` for the WSGI server it replaced, `--workers 2 --threads 4`): the
portal, and `bench/bare_site.py`, a Django site with one view, the default middleware and
no database. For each page it measures the portal page and a bare view answering as
many bytes, side by side under the same `wrk` load, alternating bare/portal `--rounds`
times, and prints the median of the ratios portal/bare (requests per second), with this
machine's absolute figures beside it. The text search is also timed alone (one connection),
which is what its p95 target is about. wrk comes from Debian (`apt-get install wrk`); the
benchmark installs it when it is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from scratch import ROOT, django_on_scratch_database  # bench/ is the script's folder
from servers import free_port, procfile_web, start_gunicorn

DB = "ims_portal_bench_web"
BENCH = Path(__file__).resolve().parent
WSGI_SERVER = ["--workers", "2", "--threads", "4"]  # the Procfile's before it served ASGI


USERS = 50
SEARCH = "image-42-db"  # in the name of 1 export in 2,100: a search that finds a few hundred


@dataclass
class Case:
    name: str
    path: str
    headers: dict[str, str]
    expect: int = 200
    alone: bool = False  # also timed with one connection (latency, not throughput)
    prepare: object = None  # called before each run: returns headers to add
    ratios: list[float] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    bare_runs: list[dict] = field(default_factory=list)
    alone_runs: list[dict] = field(default_factory=list)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (Debian package)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
    return shutil.which("wrk") or "wrk"


def fill(exports: int, events: int, owners: list[int]) -> None:
    """`exports` ended exports over `owners`, one a minute back from now, and `events`
    audit events, one every 30 s; then VACUUM ANALYZE, as a live database would have."""
    from django.db import connection

    owner_array = "ARRAY[" + ",".join(map(str, owners)) + "]"
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
        # A GIN index is built many times faster at once than row by row: the migrations'
        # trigram indexes are set aside during the fill and built again from their own
        # definitions after it.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE right(indexname, 5) = '_trgm'"
        )
        trigram = cursor.fetchall()
        for name, _ in trigram:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute(
            f"""
            INSERT INTO exports_export (
                owner_id, request_token, image_id, image_name, image_size, bucket, object_name,
                file_format, quick, status, job_id, current_step, error_code, error_message,
                error_remedy, retry_advice, cloud_request_id, submit_attempts, created_at,
                updated_at, submitted_at, finished_at, poll_count, poll_refusals,
                progress_samples, eta_prior_only, object_etag, verification, verification_note,
                verify_misses, verify_unreachable)
            SELECT ({owner_array})[1 + i % {len(owners)}], gen_random_uuid(), 'img-' || i,
                'image-' || (i % 700) || CASE WHEN i % 3 = 0 THEN '-db' ELSE '-web' END,
                (5 + i % 100) * 1073741824::bigint, 'bucket-' || (i % 40),
                'exports/' || i || '.qcow2', 'qcow2', false,
                (ARRAY['succeeded','succeeded','succeeded','failed','rejected'])[1 + i % 5],
                'job-' || i, '', '', '', '', '', '', 1, t, t, t, t + interval '10 minutes',
                10, 0, '[]'::jsonb, false, '',
                -- ended before the portal checked objects: nothing left to check
                CASE WHEN i % 5 < 3 THEN 'legacy' ELSE '' END, '', 0, 0
            FROM generate_series(1, {exports:d}) AS i, LATERAL (
                SELECT now() - ({exports:d} - i) * interval '1 minute' - interval '1 hour') AS s(t)
            """  # noqa: S608 - only integers are formatted in; no parameters, so % is modulo
        )
        cursor.execute(
            f"""
            INSERT INTO audit_event (
                at, actor_id, actor_username, actor_email, actor_roles, ip, user_agent,
                request_id, action, target_type, target_id, target_label, outcome, details,
                details_text, prev_hash, hash)
            SELECT now() - ({events:d} - i) * interval '30 seconds' - interval '1 hour',
                CASE WHEN i % 4 = 0 THEN u END,
                CASE WHEN i % 4 = 0 THEN 'user' || (u - {owners[0]}) ELSE 'system' END,
                CASE WHEN i % 4 = 0 THEN 'user' || (u - {owners[0]}) || '@example.com'
                    ELSE '' END,
                CASE WHEN i % 4 = 0 THEN 'exporter' ELSE 'system' END,
                CASE WHEN i % 4 = 0 THEN '10.' || (i % 256) || '.' || (i / 256 % 256) || '.7'
                    ELSE '' END,
                CASE WHEN i % 4 = 0 THEN 'Mozilla/5.0 (bench)' ELSE 'celery bench' END,
                lpad(to_hex(i), 32, '0'),
                (ARRAY['export.requested','export.submitting','export.submitted',
                       'export.succeeded'])[1 + i % 4],
                'export', (i / 4)::text,
                'image-' || (i / 4 % 700) || ' → bucket-' || (i / 4 % 40) || ':exports/'
                    || (i / 4) || '.qcow2',
                'success', d,
                -- a stand-in spelling, as the hashes are stand-ins
                d::text,
                md5('prev' || i) || md5('prev-' || i), md5('hash' || i) || md5('hash-' || i)
            FROM generate_series(1, {events:d}) AS i,
                LATERAL (SELECT ({owner_array})[1 + i / 4 % {len(owners)}]) AS o(u),
                LATERAL (SELECT jsonb_build_object('image_id', 'img-' || (i / 4), 'image_name',
                    'image-' || (i / 4 % 700), 'bucket', 'bucket-' || (i / 4 % 40),
                    'bucket_url', 'bucket-' || (i / 4 % 40) || ':exports/' || (i / 4)
                    || '.qcow2', 'file_format', 'qcow2', 'fast_export', false)) AS j(d)
            """  # noqa: S608 - integers only, as above
        )
        for _, definition in trigram:
            cursor.execute(definition)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE exports_export")
        cursor.execute("VACUUM ANALYZE audit_event")


def fetch(url: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the loopback servers
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def wrk(url: str, headers: dict[str, str], seconds: float, connections: int) -> dict:
    threads = min(2, connections)
    env = {**os.environ, "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items())}
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    command += ["-s", str(BENCH / "wrk_report.lua"), url]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    report = json.loads(output.strip().splitlines()[-1])
    report["rps"] = report["requests"] / report["seconds"]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=None, help="default: as many as exports")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--wsgi", action="store_true", help="serve both as WSGI (gthread) instead of the Procfile's"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the scratch database of an earlier run"
    )
    parser.add_argument("--database", default=DB, help="scratch database")
    parser.add_argument(
        "--alone-only",
        action="store_true",
        help="time only the searches alone (one connection), no load and no ratios",
    )
    parser.add_argument(
        "--pages",
        nargs="+",
        metavar="WORDS",
        help="measure only the pages whose name holds one of these (e.g. 'history, auditor')",
    )
    args = parser.parse_args()
    events = args.exports if args.events is None else args.events
    ensure_wrk()

    os.environ.setdefault("LOG_LEVEL", "WARNING")
    django_on_scratch_database(args.database, fresh=not args.reuse)
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from ims_portal.accounts.roles import AUDITOR, EXPORTER, set_roles
    from ims_portal.audit.models import Action
    from ims_portal.audit.trail import record
    from ims_portal.exports.models import Export, Status

    User = get_user_model()
    if args.reuse and User.objects.filter(username="auditor").exists():
        users = list(User.objects.filter(username__startswith="user").order_by("pk"))
        auditor = User.objects.get(username="auditor")
        Export.objects.filter(image_id="img-watched").delete()
        print(f"reusing {args.database}: {Export.objects.count():,} exports")
    else:
        users = [User.objects.create_user(f"user{i}", f"user{i}@example.com", "x")
                 for i in range(USERS)]  # fmt: skip
        for user in users:
            set_roles(user, {EXPORTER})
        auditor = User.objects.create_user("auditor", "auditor@example.com", "x")
        set_roles(auditor, {AUDITOR})
        began = time.perf_counter()
        fill(args.exports, events, [user.pk for user in users])
        print(f"filled {args.exports:,} exports and {events:,} audit events (SQL) and "
              f"analysed them in {time.perf_counter() - began:.0f} s")  # fmt: skip

    # The export a page watches: running for two hours, three hours left.
    watched = Export.objects.create(
        owner=users[0], image_id="img-watched", image_name="watched-image",
        image_size=40 * 1024**3, bucket="bucket-1", object_name="watched.qcow2",
        file_format="qcow2",
    )  # fmt: skip
    watched.transition(Status.SUBMITTING, submit_attempts=1)
    watched.transition(Status.SUBMITTED, job_id="job-watched")
    watched.transition(Status.RUNNING, progress=0.4, poll_count=40)
    record(users[0], Action.ACCESS_DENIED, watched, outcome="denied")

    def steady_clock() -> dict[str, str]:
        """Put the watched export's clock where its words hold for the next minute, and
        hand back the version the page holds then."""
        now = timezone.now()
        Export.objects.filter(pk=watched.pk).update(
            created_at=now - timedelta(hours=2, seconds=2), eta_seconds=3 * 3600.0, eta_at=now
        )
        status, _, headers = fetch(base + fragment, {**exporter, "HX-Request": "true"})
        assert status == 200, status
        return {"If-None-Match": headers["ETag"]}

    def session_cookie(user: object) -> dict[str, str]:
        client = Client()
        client.force_login(user)
        return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}

    exporter, viewer = session_cookie(users[0]), session_cookie(auditor)
    fragment = f"/exports/{watched.pk}/status/"
    cases = [
        Case("status fragment, unchanged (304)", fragment, {**exporter, "HX-Request": "true"},
             expect=304, prepare=steady_clock),
        Case("status fragment, changed (render)", fragment, {**exporter, "HX-Request": "true"}),
        Case("history, exporter, first page", "/exports/", exporter),
        Case("history, auditor, first page", "/exports/", viewer),
        Case("history, auditor, text search", f"/exports/?q={SEARCH}", viewer, alone=True),
        Case("audit trail, first page", "/audit/", viewer),
        Case("audit trail, text search", f"/audit/?q={SEARCH}", viewer, alone=True),
    ]  # fmt: skip
    if args.alone_only:
        cases = [case for case in cases if case.alone]
    if args.pages:
        cases = [case for case in cases if any(words in case.name for words in args.pages)]

    product_port, bare_port = free_port(), free_port()
    if args.wsgi:
        app, options, bare_app = "ims_portal.wsgi", WSGI_SERVER, "bare_site:application"
    else:
        app, options = procfile_web()
        bare_app = "bare_site:asgi_application" if "asgi" in app else "bare_site:application"
    servers = [
        start_gunicorn(app, options, product_port, ROOT),
        start_gunicorn(bare_app, options, bare_port, BENCH),
    ]
    base, bare_base = f"http://127.0.0.1:{product_port}", f"http://127.0.0.1:{bare_port}"
    try:
        sizes = {}
        for case in cases:
            extra = case.prepare() if callable(case.prepare) else {}
            status, body, _ = fetch(base + case.path, {**case.headers, **extra})
            assert status == case.expect, (case.name, status, body[:300])
            sizes[case.name] = len(body)
            fetch(bare_base + f"/bare/{len(body)}/", {})
        for _ in range(0 if args.alone_only else args.rounds):
            for case in cases:
                bare = wrk(
                    f"{bare_base}/bare/{sizes[case.name]}/", {}, args.duration, args.connections
                )
                extra = case.prepare() if callable(case.prepare) else {}
                product = wrk(
                    base + case.path, {**case.headers, **extra}, args.duration, args.connections
                )
                answered = product["statuses"].get(str(case.expect), 0)
                if answered != product["requests"]:
                    print(f"  {case.name}: {product['statuses']} (expected all {case.expect})")
                case.bare_runs.append(bare)
                case.runs.append(product)
                case.ratios.append(product["rps"] / bare["rps"])
        for case in cases:
            if case.alone:
                extra = case.prepare() if callable(case.prepare) else {}
                headers = {**case.headers, **extra}
                # Right after the load the server can still be busy with what wrk left
                # behind (under ASGI, a 5 s run of one connection once got no answer at
                # all): one answer first, then the timed run.
                fetch(base + case.path, headers)
                case.alone_runs.append(wrk(base + case.path, headers, args.duration, 1))
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)

    if not args.alone_only:
        print_ratios(args, events, app, options, cases)
    for case in cases:
        for run in case.alone_runs:
            print(f"{case.name}, alone (one connection): p50 {run['p50_ms']:.1f} ms, "
                  f"p95 {run['p95_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, "
                  f"{run['requests']} requests")  # fmt: skip


def print_ratios(
    args: argparse.Namespace, events: int, app: str, options: list[str], cases: list[Case]
) -> None:
    print(f"\n{args.exports:,} exports, {events:,} audit events; wrk -c{args.connections} "
          f"-d{args.duration:g}s, bare/portal alternated {args.rounds} times; gunicorn "
          f"{app} {' '.join(options)}")  # fmt: skip
    print("ratio = portal requests/s ÷ bare requests/s (median of the rounds); the absolute")
    print("figures are this machine's (medians of the rounds)")
    head = (
        f"{'page':36} {'ratio':>6} {'portal r/s':>10} {'bare r/s':>9} {'p50 ms':>7} {'p95 ms':>7}"
    )
    print(f"\n{head}")
    for case in cases:
        rps = statistics.median(run["rps"] for run in case.runs)
        bare_rps = statistics.median(run["rps"] for run in case.bare_runs)
        p50 = statistics.median(run["p50_ms"] for run in case.runs)
        p95 = statistics.median(run["p95_ms"] for run in case.runs)
        ratio = statistics.median(case.ratios)
        print(f"{case.name:36} {ratio:6.3f} {rps:10.0f} {bare_rps:9.0f} {p50:7.1f} {p95:7.1f}")


if __name__ == "__main__":
    sys.exit(main())
