"""A scratch PostgreSQL database for a benchmark: made anew, migrated, Django set up on it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def django_on_scratch_database(name: str, *, fresh: bool = True) -> None:
    """Drop and re-create database `name` (with `fresh=False`, keep it if it exists),
    point Django's test settings at it, migrate."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if fresh or not exists:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
        IMS_ENDPOINT="http://127.0.0.1:9",  # benchmarks measure the portal, never the cloud
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
