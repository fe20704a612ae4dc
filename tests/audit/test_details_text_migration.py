"""Migration 0010 gives every event recorded before it the hashed spelling of its details,
through the append-only trigger (switched off for its own transaction only), so that the
trail still verifies and its CSV export is the plain path's byte for byte."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from ims_portal.audit import chain, csv_copy, exporting
from ims_portal.audit.models import AuditEvent
from tests.audit.helpers import verify

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("audit", "0009_archive")]
AFTER = [("audit", "0010_details_text")]
DETAILS = [
    {"text": 'é, "quoted"', "nested": {"b": [1.5, None, True], "a": -7}, "big": 10**22},
    {},
    {"=": "-1", "tiny": 1e-7},
]


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


def insert_as_before(details: dict) -> None:
    """An event as `trail.record` wrote it before the column existed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1")
        head = cursor.fetchone()
        values = {
            **dict.fromkeys(chain.FIELDS, ""),
            "at": "2026-01-02T03:04:05.678901+00:00",
            "actor_id": None,
            "action": "export.running",
            "outcome": "success",
            "details": details,
            "prev_hash": head[0] if head else chain.GENESIS,
        }
        columns = [*chain.FIELDS, "hash"]
        row = {**values, "details": chain.canonical_json(details), "hash": chain.digest(values)}
        cursor.execute(
            f"INSERT INTO audit_event ({', '.join(columns)}) "  # noqa: S608 - fixed names
            f"VALUES ({', '.join(['%s'] * len(columns))})",
            [row[column] for column in columns],
        )


@pytest.fixture
def before_the_column():
    migrate(BEFORE)
    try:
        yield
    finally:
        migrate(AFTER)  # the schema every other test expects, however this one ends


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_older_events_get_their_hashed_spelling_and_the_guard_stays_on(before_the_column):
    for details in DETAILS:
        insert_as_before(details)
    migrate(AFTER)

    spelled = list(AuditEvent.objects.order_by("id").values_list("details", "details_text"))
    assert spelled == [(d, chain.canonical_details(d)) for d in DETAILS]
    passed, output = verify()
    assert passed, output
    events = AuditEvent.objects.all()
    plain = exporting.stream(
        "csv", {"filter": {}}, events.order_by("id").values_list(*exporting.COLUMNS)
    )
    assert "".join(csv_copy.stream({"filter": {}}, events)) == "".join(plain)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'audit_event_no_update_delete'"
        )
        assert cursor.fetchone() == ("O",)  # on again: fires in every ordinary session
