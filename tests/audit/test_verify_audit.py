"""`manage.py verify_audit` passes an intact chain and names the first event that was edited,
removed or slipped in behind the database's back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from ims_portal.audit import chain
from ims_portal.audit.models import Action, AuditEvent
from ims_portal.audit.trail import SYSTEM, Target, record
from tests.audit.helpers import verify
from tests.portal_fixtures import ROOT


def fill(count: int = 5) -> list[AuditEvent]:
    return [
        record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", str(n)), job_id=f"job-{n}")
        for n in range(count)
    ]


def as_attacker(statement: str, params: list | None = None) -> None:
    """What someone with the database's owner rights could do: switch the guard off."""
    with connection.cursor() as cursor:
        # The test transaction's deferred foreign-key checks first: PostgreSQL will not
        # alter a table with checks pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete")
        cursor.execute(statement, params)
        cursor.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_update_delete")


@pytest.mark.django_db
def test_an_intact_chain_passes_with_its_count_and_head():
    events = fill()
    passed, output = verify()
    assert passed, output
    assert "5 events checked: the audit chain is unbroken." in output
    assert f"Head: event #{events[-1].pk}, hash {events[-1].hash}" in output


@pytest.mark.django_db
def test_an_empty_trail_passes():
    passed, output = verify()
    assert passed and "The audit trail is empty." in output


@pytest.mark.django_db
def test_one_rows_details_edited_in_the_database_are_caught():
    events = fill()
    as_attacker(
        "UPDATE audit_event SET details = jsonb_set(details, '{job_id}', '\"job-forged\"') "
        "WHERE id = %s",
        [events[2].pk],
    )
    passed, output = verify()
    assert not passed
    assert f"BROKEN at event #{events[2].pk}: content does not match its hash" in output
    assert f"2 events before it are intact, up to #{events[1].pk}" in output


@pytest.mark.django_db
def test_an_edit_that_also_rewrites_the_rows_hash_breaks_the_next_link():
    events = fill()
    forged = chain.values_of(events[2]) | {"details": {"job_id": "job-forged"}}
    as_attacker(
        "UPDATE audit_event SET details = %s::jsonb, details_text = %s, hash = %s WHERE id = %s",
        [
            '{"job_id": "job-forged"}',
            chain.canonical_details(forged["details"]),
            chain.digest(forged),
            events[2].pk,
        ],
    )
    passed, output = verify()
    assert not passed
    assert f"BROKEN at event #{events[3].pk}: links to" in output


@pytest.mark.django_db
def test_details_spelled_otherwise_for_the_exports_are_caught():
    # The hashed details untouched, the text the CSV export copies edited: a file exported
    # now would not verify, so the trail does not either.
    events = fill()
    as_attacker(
        "UPDATE audit_event SET details_text = %s WHERE id = %s",
        ['{"job_id":"job-forged"}', events[3].pk],
    )
    passed, output = verify()
    assert not passed
    assert f"BROKEN at event #{events[3].pk}: its stored spelling of details" in output
    assert f"3 events before it are intact, up to #{events[2].pk}" in output


@pytest.mark.django_db
def test_a_removed_event_is_caught_at_the_one_after_it():
    events = fill()
    as_attacker("DELETE FROM audit_event WHERE id = %s", [events[1].pk])
    passed, output = verify()
    assert not passed
    assert f"BROKEN at event #{events[2].pk}: links to" in output
    assert "removed, inserted or reordered" in output


@pytest.mark.django_db(transaction=True)
def test_the_command_exits_non_zero_on_a_broken_chain():
    events = fill(3)
    with connection.cursor() as cursor:
        # A superuser's way round the trigger, for this session only.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            'UPDATE audit_event SET details = \'{"job_id": "x"}\' WHERE id = %s', [events[1].pk]
        )
        cursor.execute("RESET session_replication_role")
    database = connection.settings_dict["NAME"]
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"BROKEN at event #{events[1].pk}" in result.stderr
