"""On PostgreSQL the database itself refuses to change or remove audit events."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    assert connection.vendor == "postgresql"
    return record(SYSTEM, Action.EXPORT_SUBMITTED, job_id="job-1")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET outcome = 'failure'",
        'UPDATE audit_event SET details = \'{"job_id": "job-2"}\'',
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
        "TRUNCATE audit_event CASCADE",
    ],
)
def test_raw_sql_cannot_change_or_remove_audit_events(event, statement):
    with connection.cursor() as cursor:
        # Run the test transaction's deferred foreign-key checks now: PostgreSQL refuses a
        # TRUNCATE with checks pending before any trigger is asked.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), min(details->>'job_id') FROM audit_event")
        assert cursor.fetchone() == (1, "job-1")


def test_inserting_stays_allowed(event):
    record(SYSTEM, Action.EXPORT_RUNNING)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_event")
        assert cursor.fetchone() == (2,)
