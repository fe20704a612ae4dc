"""Production's two database roles, end to end on a database of their own: `manage.py
migrate` runs as the owner (DATABASE_MIGRATE_URL) and grants the application role
(DATABASE_URL) its rights; the portal then works as that role, and the deploy check is
quiet about it but not about the owner."""

from __future__ import annotations

import subprocess
import uuid

import psycopg
import pytest

from tests.startup.helpers import DEAD_REDIS, ROOT, bare_env, run

pytestmark = pytest.mark.integration

SERVER = "127.0.0.1:5432"


def sql(statement: str, dbname: str = "postgres") -> None:
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=dbname, autocommit=True) as db:
        db.execute(statement)


@pytest.fixture
def two_roles():
    suffix = uuid.uuid4().hex[:10]
    owner, app, database = f"ims_owner_{suffix}", f"ims_app_{suffix}", f"ims_roles_{suffix}"
    sql(f'CREATE ROLE "{owner}" LOGIN')
    sql(f'CREATE ROLE "{app}" LOGIN')
    sql(f'CREATE DATABASE "{database}" OWNER "{owner}"')
    try:
        yield owner, app, database
    finally:
        sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        sql(f'DROP ROLE IF EXISTS "{app}"')
        sql(f'DROP ROLE IF EXISTS "{owner}"')


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run([str(ROOT / "manage.py"), *args], bare_env(**env), ROOT)


def test_migrate_runs_as_the_owner_and_the_portal_as_the_application_role(two_roles, tmp_path):
    owner, app, database = two_roles
    env = {
        "SECRET_KEY": "x",
        "REDIS_URL": DEAD_REDIS,
        "IMS_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"postgres://{app}@{SERVER}/{database}",
        "DATABASE_MIGRATE_URL": f"postgres://{owner}@{SERVER}/{database}",
    }
    migrated = manage("migrate", "--noinput", **env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"Granted {app} the portal's rights" in migrated.stdout
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=database) as db:
        owners = db.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
        ).fetchall()
        rights = db.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s AND table_name = 'audit_event' ORDER BY 1",
            [app],
        ).fetchall()
    assert owners == [(owner,)]
    assert rights == [("INSERT",), ("SELECT",)]

    # The portal at work as the application role: users written, events appended, verified.
    assert manage("create_demo_users", **env).returncode == 0
    verified = manage("verify_audit", **env)
    assert verified.returncode == 0, verified.stderr

    quiet = manage("check", "--deploy", **env)
    assert "audit.W003" not in quiet.stderr + quiet.stdout
    as_owner = manage("check", "--deploy", **{**env, "DATABASE_URL": env["DATABASE_MIGRATE_URL"]})
    assert f"as {owner}, the owner of audit_event" in as_owner.stderr
    assert "audit.W003" in as_owner.stderr


def test_without_a_migrate_url_migrate_uses_database_url_as_before(tmp_path):
    env = {"DEBUG": "true", "IMS_VAR_DIR": str(tmp_path), "REDIS_URL": DEAD_REDIS}
    migrated = manage("migrate", "--noinput", **env)
    assert migrated.returncode == 0, migrated.stderr
    assert "Granted" not in migrated.stdout
    assert (tmp_path / "db.sqlite3").is_file()
