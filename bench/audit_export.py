"""Benchmark: the audit trail at size — writing, searching, exporting, verifying.

Run on demand (not a test):  .venv/bin/python bench/audit_export.py [--events 200000]

It creates a scratch PostgreSQL database (`ims_portal_bench_audit`, dropped and re-created),
times `trail.record` (one writer, one transaction per event), then fills the trail with
chained events over 60 days (COPY, hashes computed as `record` computes them), and reports:
the audit page's latency (first page, filtered pages), the CSV export streamed through the
view side by side with PostgreSQL's own `COPY (SELECT ...) TO STDOUT WITH CSV` of the same
rows (alternating, `--rounds` times; the median of the ratios portal/COPY in rows per second
is the figure), the peak memory (RSS) of a fresh process streaming a small and the full
export (flat means it does not grow with the rows), and `verify_audit` over the whole chain.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    columns = (*chain.FIELDS, "hash", "details_text")
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")  # one COPY of every row: longer than a page
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
                values["details_text"] = chain.canonical_details(values["details"])
                row = [values[c] for c in columns]
                row[columns.index("details")] = values["details_text"]
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


def stream(client, url: str) -> tuple[dict, int, int, float]:
    """The metadata, rows, bytes and seconds of one export through the view."""
    began = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    rows = size = 0
    first = b""
    for piece in response.streaming_content:
        if not first:
            first = piece.split(b"\n", 1)[0]
        size += len(piece)
        rows += piece.count(b"\n")
    seconds = time.perf_counter() - began
    header = json.loads(first.decode()[2:])  # past the "# " that marks the metadata line
    return header, rows - 2, size, seconds  # less the metadata and column lines


def copy_csv(first: int, last: int) -> tuple[int, int, float]:
    """Rows, bytes and seconds of PostgreSQL's own CSV of the same rows: the baseline."""
    from django.db import connection

    from ims_portal.audit import exporting

    columns = ", ".join(exporting.COLUMNS)
    # Column names from the code and two integers are formatted in.
    sql = (
        f"COPY (SELECT {columns} FROM audit_event WHERE id BETWEEN {first} AND {last} ORDER BY id)"  # noqa: S608
    )
    sql += " TO STDOUT WITH (FORMAT csv, HEADER)"
    began = time.perf_counter()
    size = rows = 0
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
        with cursor.cursor.copy(sql) as copy:
            for block in copy:
                size += len(block)
                rows += bytes(block).count(b"\n")
    return rows - 1, size, time.perf_counter() - began


def vm_kb(field: str) -> int:
    """This process's VmRSS or VmHWM (peak RSS), in kB, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def measure_rss(database: str, url: str) -> None:
    """In a fresh process: stream one export through the view, print RSS before and peak."""
    from scratch import django_on_scratch_database

    django_on_scratch_database(database, fresh=False)
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="auditor"))
    client.get("/audit/?page=1")  # everything a first request loads, before the baseline
    before = vm_kb("VmRSS")
    _, rows, _, _ = stream(client, url)
    print(json.dumps({"rows": rows, "before_mb": before / 1024, "peak_mb": vm_kb("VmHWM") / 1024}))


def rss_of(database: str, url: str) -> dict:
    script = Path(__file__).resolve()
    command = [sys.executable, str(script), "--database", database, "--rss-of", url]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def csv_export_vs_copy(client, database: str, rounds: int, early: str) -> None:
    print(
        f"\n{'CSV export vs COPY ... CSV':26} {'rows':>9} {'MB':>6} {'portal s':>8} "
        f"{'COPY s':>7} {'portal/COPY':>11} {'RSS MB':>7} {'peak':>6}"
    )
    for name, url in [
        ("the first 6 of 60 days", f"/audit/export.csv?before={early}"),
        ("everything", "/audit/export.csv"),
    ]:
        ratios, portal_runs, copy_runs = [], [], []
        for _ in range(rounds):
            header, rows, size, seconds = stream(client, url)
            span = header["range"]
            copied, _, copy_seconds = copy_csv(span["first"]["id"], span["last"]["id"])
            assert copied == rows, (copied, rows)
            portal_runs.append(seconds)
            copy_runs.append(copy_seconds)
            ratios.append((rows / seconds) / (copied / copy_seconds))
        memory = rss_of(database, url)
        print(
            f"{name:26} {rows:9,d} {size / 1e6:6.1f} {statistics.median(portal_runs):8.2f} "
            f"{statistics.median(copy_runs):7.2f} {statistics.median(ratios):11.2f} "
            f"{memory['before_mb']:7.0f} {memory['peak_mb']:6.0f}"
        )
    print(
        "(medians of the rounds, this machine; portal/COPY in rows per second; RSS: a fresh "
        "process before the export and its peak while streaming it)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--records", type=int, default=2_000, help="timed record() calls")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="portal/COPY alternations")
    parser.add_argument("--database", default=DB, help="scratch database (dropped first)")
    parser.add_argument("--rss-of", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_of:
        measure_rss(args.database, args.rss_of)
        return

    django_on_scratch_database(args.database)
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

    early = (datetime.now(UTC) - timedelta(days=54)).strftime("%Y-%m-%dT%H:%M")
    csv_export_vs_copy(client, args.database, args.rounds, early)

    began = time.perf_counter()
    call_command("verify_audit", stdout=io.StringIO())
    took = time.perf_counter() - began
    print(f"\nverify_audit: {total:,}+ events in {took:.1f} s ({total / took:,.0f} events/s)")


if __name__ == "__main__":
    main()
