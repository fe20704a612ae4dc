"""Least privilege on PostgreSQL, with real roles: the application role `audit_grants` sets up
can read and append to the trail, and can neither change its rows nor switch its guard off;
the table's owner could, which is what the deploy check warns about."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from ims_portal.audit import db_roles
from ims_portal.audit.checks import app_role_cannot_disable_the_guard
from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, record
from tests.portal_fixtures import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

HOST = {"host": "127.0.0.1", "port": 5432}

# What someone holding the application role's password might try. The trigger is probed by
# name and as USER triggers: DISABLE TRIGGER ALL would be refused even to the owner (the
# foreign keys' system triggers need a superuser), so it would pass for the wrong reason.
ATTEMPTS = [
    "UPDATE audit_event SET outcome = 'failure'",
    "DELETE FROM audit_event",
    "TRUNCATE audit_event",
    "ALTER TABLE audit_event DISABLE TRIGGER USER",
    "ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update_delete",
    "ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_truncate",
    "DROP TRIGGER audit_event_no_update_delete ON audit_event",
    "CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END; $$",
    "SET session_replication_role = replica",
]
GUARD_OFF = ATTEMPTS[3:6]


def admin() -> psycopg.Connection:
    return psycopg.connect(
        **HOST, user="postgres", dbname=connection.settings_dict["NAME"], autocommit=True
    )


def as_role(role: str) -> psycopg.Connection:
    return psycopg.connect(
        **HOST, user=role, dbname=connection.settings_dict["NAME"], autocommit=True
    )


@pytest.fixture
def make_role() -> Iterator:
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with admin() as db:
            db.execute(f'CREATE ROLE "{name}" LOGIN')
        made.append(name)
        return name

    yield make
    with admin() as db:
        for name in made:
            db.execute(f'DROP OWNED BY "{name}"')
            db.execute(f'DROP ROLE "{name}"')


@pytest.fixture
def app_role(make_role) -> str:
    role = make_role("ims_app")
    out = StringIO()
    call_command("audit_grants", "--role", role, "--apply", stdout=out)
    assert f"Granted {role} the portal's rights" in out.getvalue()
    return role


@pytest.mark.parametrize("statement", ATTEMPTS)
def test_the_application_role_can_neither_change_rows_nor_switch_the_guard_off(app_role, statement):
    event = record(SYSTEM, Action.EXPORT_SUBMITTED, job_id="job-1")
    with as_role(app_role) as db, pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        db.execute(statement)
    # Refused for want of the right, not by the trigger: the role never gets that far.
    assert "append-only" not in str(refused.value)
    with admin() as db:
        assert db.execute("SELECT count(*), min(outcome) FROM audit_event").fetchone() == (
            1,
            event.outcome,
        )
        enabled = db.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'audit_event'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        ).fetchall()
    assert enabled == [("audit_event_no_truncate", "O"), ("audit_event_no_update_delete", "O")]


@pytest.mark.parametrize("statement", GUARD_OFF)
def test_the_tables_owner_could_switch_it_off_which_is_why_the_portal_must_not_be_it(
    make_role, statement
):
    owner = make_role("ims_owner")
    with admin() as db, db.transaction(force_rollback=True):
        db.execute(f'ALTER TABLE audit_event OWNER TO "{owner}"')
        db.execute(f'SET LOCAL ROLE "{owner}"')
        db.execute(statement)  # no superuser needed: owning the table is enough
        assert (
            db.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
            is False
        )


def test_the_application_role_reads_and_appends_through_the_portal(app_role):
    record(SYSTEM, Action.EXPORT_SUBMITTED, job_id="job-1")
    database = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{app_role}@127.0.0.1:5432/{database}",
    }
    append = (
        "import django; django.setup(); "
        "from ims_portal.audit.trail import SYSTEM, record; "
        "from ims_portal.audit.models import Action; "
        "print(record(SYSTEM, Action.EXPORT_RUNNING).pk)"
    )
    result = subprocess.run(
        [sys.executable, "-c", append], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    assert "2 events checked: the audit chain is unbroken." in verified.stdout


def test_the_deploy_check_warns_about_a_superuser_and_an_owner_but_not_the_app_role(
    app_role, make_role
):
    warnings = app_role_cannot_disable_the_guard()
    assert [w.id for w in warnings] == ["audit.W003"]
    assert "as postgres, a superuser: it could switch off" in warnings[0].msg

    with as_role(app_role) as db:
        assert db_roles.role_warnings(_Wrapped(db)) == []
    owner = make_role("ims_owner")
    with admin() as db, db.transaction(force_rollback=True):
        db.execute(f'ALTER TABLE audit_event OWNER TO "{owner}"')
        db.execute(f'SET LOCAL ROLE "{owner}"')
        assert db_roles.role_warnings(_Wrapped(db)) == [
            f"the portal connects to the database as {owner}, the owner of audit_event"
        ]


def test_the_deploy_check_is_not_among_the_everyday_checks():
    out = StringIO()
    call_command("check", stdout=out)  # the tests connect as a superuser: no warning here
    assert "audit.W003" not in out.getvalue()


def test_audit_grants_prints_the_sql_it_would_run(app_role):
    out = StringIO()
    call_command("audit_grants", "--role", app_role, stdout=out)
    sql = out.getvalue().splitlines()
    assert f'GRANT SELECT, INSERT ON TABLE "audit_event" TO "{app_role}";' in sql
    assert f'GRANT SELECT ON TABLE "django_migrations" TO "{app_role}";' in sql
    assert f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "exports_export" TO "{app_role}";' in sql
    assert not any("TRUNCATE" in line or "TRIGGER" in line for line in sql)


class _Wrapped:
    """A psycopg connection where `role_warnings` expects a Django one (vendor, cursor)."""

    vendor = "postgresql"

    def __init__(self, db: psycopg.Connection) -> None:
        self.db = db

    def cursor(self) -> psycopg.Cursor:
        return self.db.cursor()


def test_archiving_as_the_application_role_removes_nothing_and_the_owner_finishes_it(
    app_role, make_role, tmp_path, checkpoint_file
):
    events = [record(SYSTEM, Action.EXPORT_SUBMITTED, job_id=f"job-{n}") for n in range(4)]
    database = connection.settings_dict["NAME"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{app_role}@127.0.0.1:5432/{database}",
        "AUDIT_CHECKPOINT_PATH": str(checkpoint_file),
    }
    before = (events[1].at + timedelta(microseconds=1)).isoformat()
    command = [sys.executable, "manage.py", "audit_archive", "--to", str(tmp_path)]

    def run(**more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "--before", before],
            cwd=ROOT,
            env={**env, **more},
            capture_output=True,
            text=True,
        )

    as_app = run()
    assert as_app.returncode == 1
    assert "could not be removed (permission denied for table audit_event)" in as_app.stderr
    with admin() as db:
        (archive_id,) = db.execute(
            "SELECT id FROM audit_event WHERE action = 'audit.archived'"
        ).fetchone()
        assert db.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 5

    # Naming the archive record does not give the application role a right it lacks.
    name_it = "SELECT set_config('ims_portal.audit_archive', %s, true)"
    denied = pytest.raises(psycopg.errors.InsufficientPrivilege)
    with as_role(app_role) as db, denied as refused, db.transaction():
        db.execute(name_it, [str(archive_id)])
        db.execute("DELETE FROM audit_event WHERE id <= %s", [events[1].pk])
    assert "append-only" not in str(refused.value)

    # The owner may remove what the record covers, once it names it, and nothing else.
    owner = make_role("ims_owner")
    with admin() as db, db.transaction(force_rollback=True):
        db.execute(f'ALTER TABLE audit_event OWNER TO "{owner}"')
        db.execute(f'SET LOCAL ROLE "{owner}"')
        refused_by_trigger = psycopg.errors.InsufficientPrivilege
        with pytest.raises(refused_by_trigger, match="append-only"), db.transaction():
            db.execute("DELETE FROM audit_event WHERE id = %s", [events[0].pk])
        db.execute(name_it, [str(archive_id)])
        with pytest.raises(refused_by_trigger, match="append-only"), db.transaction():
            db.execute("DELETE FROM audit_event WHERE id = %s", [events[2].pk])
        deleted = db.execute("DELETE FROM audit_event WHERE id <= %s", [events[1].pk])
        assert deleted.rowcount == 2

    # Run where `migrate` runs, with the owner's connection, it finishes the removal.
    as_owner = run(DATABASE_MIGRATE_URL=f"postgres://postgres@127.0.0.1:5432/{database}")
    assert as_owner.returncode == 0, as_owner.stderr
    assert "Finishing the removal of chain positions 1 to 2" in as_owner.stdout
    with admin() as db:
        assert db.execute("SELECT count(*) FROM audit_event").fetchone()[0] == 3
    verified = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    assert "3 events checked: the audit chain is unbroken." in verified.stdout
    assert "The online trail starts at chain position 3" in verified.stdout
