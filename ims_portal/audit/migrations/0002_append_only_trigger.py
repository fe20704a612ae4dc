"""On PostgreSQL, make the database itself refuse to change or remove audit events.

The model already refuses in code; this covers everything that bypasses the ORM: raw SQL,
a psql session with the application's credentials, a careless `manage.py flush`.

Triggers fire for every role except in `session_replication_role = replica`, which only a
superuser can set (as can disabling a trigger, which needs the table's owner). So the
test harness, which connects as a superuser, empties the table between transactional tests
that way (tests/harness), and an attacker with superuser rights can too: that is what the
hash chain and `verify_audit` are for. Other databases (SQLite in development) rely on the
model's refusal alone.
"""

from django.db import migrations

INSTALL = """
CREATE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are never updated or deleted.';
END;
$$;
CREATE TRIGGER audit_event_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change();
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_change();
"""

UNINSTALL = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event;
DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_event;
DROP FUNCTION IF EXISTS audit_event_refuse_change();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNINSTALL, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
