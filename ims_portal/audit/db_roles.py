"""Least privilege in PostgreSQL: the role that owns the tables runs `migrate`; the role the
portal runs as may only use them, and may only read and append to the audit trail.

Why it matters: the append-only trigger refuses UPDATE, DELETE and TRUNCATE for every role,
but the table's owner may `ALTER TABLE audit_event DISABLE TRIGGER ...` without being a
superuser. A portal that connects as the owner (or a superuser) can therefore switch its own
guard off; one that connects as the application role cannot, and has no UPDATE or DELETE
right on the trail to begin with.

- `grant_statements(connection, role)`: the SQL that gives `role` what the portal needs:
  SELECT, INSERT, UPDATE, DELETE on every other table, SELECT and INSERT on `audit_event`,
  SELECT on `django_migrations`, USAGE on the sequences. `manage.py audit_grants` prints or
  applies it; `manage.py migrate` applies it by itself when it runs as the owner
  (DATABASE_MIGRATE_URL).
- `role_warnings(connection)`: why the connection's role could disable the guard, if it can
  (the deploy check audit.W003).
- `owner_alias()`: the database alias that connects as the owner.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction

AUDIT_TABLE = "audit_event"
MIGRATIONS_TABLE = "django_migrations"


def owner_alias() -> str:
    """The alias of the owner's connection: DATABASE_MIGRATE_URL's when it is set."""
    if settings.MIGRATE_DATABASE in settings.DATABASES:
        return str(settings.MIGRATE_DATABASE)
    return DEFAULT_DB_ALIAS


def grant_statements(connection: Any, role: str) -> list[str]:
    """The statements, run as the tables' owner, that give `role` exactly the portal's rights
    in the current schema. Re-runnable: each table's rights are revoked, then granted."""
    quote = connection.ops.quote_name
    who = quote(role)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'S') "
            "ORDER BY c.relkind, c.relname"
        )
        relations = cursor.fetchall()
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
    statements = [f"GRANT USAGE ON SCHEMA {quote(schema)} TO {who}"]
    for name, kind in relations:
        table = quote(name)
        if kind == "S":
            statements.append(f"GRANT USAGE, SELECT ON SEQUENCE {table} TO {who}")
            continue
        statements.append(f"REVOKE ALL ON TABLE {table} FROM {who}")
        if name == AUDIT_TABLE:
            rights = "SELECT, INSERT"  # the trail: read and append, never change
        elif name == MIGRATIONS_TABLE:
            rights = "SELECT"  # which migrations ran is the owner's to say
        else:
            rights = "SELECT, INSERT, UPDATE, DELETE"
        statements.append(f"GRANT {rights} ON TABLE {table} TO {who}")
    return statements


def apply(connection: Any, statements: list[str]) -> None:
    """Run the statements in one transaction: all of them, or none."""
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def role_warnings(connection: Any) -> list[str]:
    """Why the role this connection uses could switch the audit trail's guard off: it is a
    superuser, or it owns `audit_event` (or may act as its owner). Empty when it cannot, on
    a database without the table yet, or on another database than PostgreSQL."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, r.rolsuper, pg_get_userbyid(c.relowner), "
            "pg_has_role(current_user, c.relowner, 'MEMBER') "
            "FROM pg_roles r LEFT JOIN pg_class c ON c.oid = to_regclass(%s) "
            "WHERE r.rolname = current_user",
            [AUDIT_TABLE],
        )
        user, superuser, owner, acts_as_owner = cursor.fetchone()
    if superuser:
        return [f"the portal connects to the database as {user}, a superuser"]
    if owner is not None and acts_as_owner:
        as_what = "the owner" if owner == user else f"a member of its owner {owner}"
        return [f"the portal connects to the database as {user}, {as_what} of {AUDIT_TABLE}"]
    return []
