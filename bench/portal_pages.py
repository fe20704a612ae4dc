"""Benchmark: how fast the portal's busiest pages answer with a large history.

Run on demand (not a test):  .venv/bin/python bench/portal_pages.py [--exports 20000]

It creates a scratch PostgreSQL database (`ims_portal_bench`, dropped and re-created), fills
it with exports spread over 50 users, and times the history page (first page, a filtered
page, a deep page, the HTMX fragment) and an export's status fragment through Django's test
client, printing the median and 95th percentile latency and the queries per request.
"""

from __future__ import annotations

import argparse
import statistics
import time

from scratch import django_on_scratch_database  # bench/ is the script's folder

DB = "ims_portal_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    django_on_scratch_database(DB)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from ims_portal.accounts.roles import AUDITOR, EXPORTER, set_roles
    from ims_portal.exports.models import Export, Status

    setup_test_environment()
    from django.contrib.auth import get_user_model

    User = get_user_model()
    users = [User.objects.create_user(f"user{i}", f"user{i}@example.com", "x") for i in range(50)]
    for user in users:
        set_roles(user, {EXPORTER})
    auditor = User.objects.create_user("auditor", "a@example.com", "x")
    set_roles(auditor, {AUDITOR})

    started = time.perf_counter()
    statuses = [
        Status.SUCCEEDED,
        Status.SUCCEEDED,
        Status.SUCCEEDED,
        Status.FAILED,
        Status.REJECTED,
    ]
    Export.objects.bulk_create(
        (
            Export(
                owner=users[i % len(users)],
                image_id=f"img-{i}",
                image_name=f"image-{i % 700}-{'web' if i % 3 else 'db'}",
                image_size=(5 + i % 100) * 1024**3,
                bucket=f"bucket-{i % 40}",
                object_name=f"exports/{i}.qcow2",
                file_format="qcow2",
                status=statuses[i % len(statuses)],
            )
            for i in range(args.exports)
        ),
        batch_size=5000,
    )
    print(f"filled {args.exports} exports in {time.perf_counter() - started:.1f} s")

    exporter, viewer = Client(), Client()
    exporter.force_login(users[0])
    viewer.force_login(auditor)
    one = Export.objects.filter(owner=users[0]).first()
    cases = [
        ("history, exporter, page 1", exporter, "/exports/", {}),
        ("history, auditor, page 1", viewer, "/exports/", {}),
        ("history, auditor, text filter", viewer, "/exports/?q=web&status=succeeded", {}),
        ("history, auditor, page 300", viewer, "/exports/?page=300", {}),
        ("history fragment (HTMX)", viewer, "/exports/", {"HX-Request": "true"}),
        ("status fragment (HTMX)", exporter, f"/exports/{one.pk}/status/", {"HX-Request": "true"}),
    ]
    print(f"{'page':34} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for name, client, url, headers in cases:
        timings = []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.get(url, headers=headers)
                timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code in (200, 286), (url, response.status_code)
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(f"{name:34} {statistics.median(timings):10.1f} {p95:8.1f} {len(queries):8d}")


if __name__ == "__main__":
    main()
