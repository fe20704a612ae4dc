"""Benchmark: the audit trail at size — writing, searching, exporting, verifying.

Run on demand (not a test):  .venv/bin/python bench/audit_export.py [--events 200000]

It creates a scratch PostgreSQL database (`ims_portal_bench_audit`, dropped and re-created),
times `trail.record` (one writer, one transaction per event), then fills the trail with
chained events over 60 days (COPY, hashes computed as `record` computes them), and reports:
the audit page's latency (first page, filtered pages), the CSV export streamed through the
view (rows/s, and Python's peak memory for a small and the full export: flat means it does
not grow with the rows), and `verify_audit` over the whole chain.
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import statistics
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from scratch import django_on_scratch_database  # bench/ is the script's folder

DB = "ims_portal_bench_audit"


def fill(count: int, users: list) -> None:
    """`count` chained events after the current head, written with COPY."""
    from django.db import connection

    from ims_portal.audit import chain
    from ims_portal.audit.models import Action, AuditEvent

    actions = [Action.EXPORT_REQUESTED, Action.EXPORT_SUBMITTING, Action.EXPORT_SUBMITTED]
    actions += [Action.EXPORT_SUCCEEDED, Action.SIGN_IN, Action.ACCESS_DENIED]
    head = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    prev = head or chain.GENESIS
    start = datetime.now(UTC) - timedelta(days=60)
    step = timedelta(days=60) / count
    rng = random.Random(7)
    columns = (*chain.FIELDS, "hash")
    with connection.cursor() as cursor:
        sql = f"COPY audit_event ({', '.join(columns)}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for n in range(count):
                user = users[n % len(users)]
                export = n // 4
                values = {
                    "at": start + step * n,
                    "actor_id": None if n % 4 in (1, 2, 3) else user.pk,
                    "actor_username": "system" if n % 4 in (1, 2, 3) else user.username,
                    "actor_email": "" if n % 4 else user.email,
                    "actor_roles": "system" if n % 4 else "exporter",
                    "ip": f"10.{n % 256}.{n // 256 % 256}.7" if n % 4 == 0 else "",
                    "user_agent": "Mozilla/5.0 (bench)" if n % 4 == 0 else "celery bench",
                    "request_id": f"{n:032x}",
                    "action": actions[n % 4] if rng.random() > 0.05 else actions[4 + n % 2],
                    "target_type": "export",
                    "target_id": str(export),
                    "target_label": f"image-{export % 700} → bucket-{export % 40}:e/{export}.qcow2",
                    "outcome": "success",
                    "details": {
                        "image_id": f"img-{export % 700}",
                        "image_name": f"image-{export % 700}",
                        "bucket": f"bucket-{export % 40}",
                        "bucket_url": f"bucket-{export % 40}:e/{export}.qcow2",
                        "file_format": "qcow2",
                        "fast_export": False,
                    },
                    "prev_hash": prev,
                }
                values["hash"] = prev = chain.digest(values)
                row = [values[c] for c in columns]
                row[columns.index("details")] = chain.canonical_json(values["details"])
                copy.write_row(row)
        cursor.execute("ANALYZE audit_event")


def timed_get(client, url: str, repeat: int) -> tuple[float, float]:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    timings.sort()
    return statistics.median(timings), timings[max(int(len(timings) * 0.95) - 1, 0)]


def stream(client, url: str, trace: bool) -> tuple[int, int, float, float]:
    """Rows, bytes, seconds and (when traced) Python's peak memory in MB of one export."""
    if trace:
        tracemalloc.start()
    began = time.perf_counter()
    response = client.get(url)
    rows = size = 0
    for piece in response.streaming_content:
        size += len(piece)
        rows += piece.count(b"\n")
    seconds = time.perf_counter() - began
    peak = 0.0
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    return rows - 2, size, seconds, peak  # less the metadata and column lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--records", type=int, default=2_000, help="timed record() calls")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    django_on_scratch_database(DB)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from ims_portal.accounts.roles import AUDITOR, EXPORTER, set_roles
    from ims_portal.audit.models import Action
    from ims_portal.audit.trail import SYSTEM, Target, record

    User = get_user_model()
    users = [User.objects.create_user(f"user{i}", f"user{i}@example.com", "x") for i in range(50)]
    for user in users:
        set_roles(user, {EXPORTER})
    auditor = User.objects.create_user("auditor", "auditor@example.com", "x")
    set_roles(auditor, {AUDITOR})

    began = time.perf_counter()
    for n in range(args.records):
        record(SYSTEM, Action.EXPORT_RUNNING, Target("export", str(n)), job_id=f"job-{n}")
    took = time.perf_counter() - began
    print(
        f"record(): {args.records} events, one transaction each: {args.records / took:,.0f} events/s"
    )

    began = time.perf_counter()
    fill(args.events, users)
    total = args.events + args.records
    print(f"filled {args.events:,} chained events (COPY) in {time.perf_counter() - began:.1f} s")

    client = Client()
    client.force_login(auditor)
    month = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    print(f"\n{'audit page':40} {'median ms':>10} {'p95 ms':>8}")
    for name, url in [
        ("first page", "/audit/"),
        ("one export (target)", "/audit/?target=export:1234"),
        ("bucket", "/audit/?bucket=bucket-7"),
        ("image, last month", f"/audit/?image=image-42&since={month}"),
        ("actor + action", "/audit/?actor=user3&action=export.requested"),
        ("free text", "/audit/?q=e/4321.qcow2"),
        ("page 1000", "/audit/?page=1000"),
    ]:
        median, p95 = timed_get(client, url, args.repeat)
        print(f"{name:40} {median:10.1f} {p95:8.1f}")

    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT id FROM audit_event WHERE (details -> 'bucket') = '\"bucket-7\"'::jsonb"
        )
        plan = " / ".join(line for (line,) in cursor.fetchall()[:2])
    print(f"bucket filter plan: {plan}")

    print(f"\n{'CSV export':28} {'rows':>9} {'MB':>7} {'s':>6} {'rows/s':>9} {'peak MB':>8}")
    for name, url in [
        ("last month", f"/audit/export.csv?since={month}"),
        ("everything", "/audit/export.csv"),
    ]:
        rows, size, seconds, _ = stream(client, url, trace=False)
        _, _, _, peak = stream(client, url, trace=True)
        print(
            f"{name:28} {rows:9,d} {size / 1e6:7.1f} {seconds:6.1f} {rows / seconds:9,.0f} {peak:8.1f}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS over the whole run: {rss:.0f} MB")

    began = time.perf_counter()
    call_command("verify_audit", stdout=io.StringIO())
    took = time.perf_counter() - began
    print(f"\nverify_audit: {total:,}+ events in {took:.1f} s ({total / took:,.0f} events/s)")


if __name__ == "__main__":
    main()
