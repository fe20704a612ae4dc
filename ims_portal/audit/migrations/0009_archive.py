"""The `audit.archived` action, and a trigger that lets the tables' owner remove the oldest
events an archive covers, and nothing else (see ims_portal/audit/retention.py for why).

The row trigger's function refuses UPDATE, and DELETE too, unless the transaction names a
recorded archive event (`SET LOCAL ims_portal.audit_archive = <its id>`) and the row is
covered by it: its id at most the archived run's last id, and older than the record. The
application role has no DELETE right at all, so for it nothing changes; TRUNCATE stays
refused for everyone.
"""

from django.db import migrations, models

GUARD = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named text;
    archived_through bigint;
BEGIN
    IF TG_OP = 'DELETE' AND TG_LEVEL = 'ROW' THEN
        named := current_setting('ims_portal.audit_archive', true);
        IF named ~ '^[0-9]{1,18}$' THEN
            SELECT (details -> 'archived' -> 'last' ->> 'id')::bigint INTO archived_through
              FROM audit_event
             WHERE id = named::bigint AND action = 'audit.archived';
            IF archived_through IS NOT NULL AND OLD.id <= archived_through
               AND OLD.id < named::bigint THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'audit_event is append-only: DELETE of event % refused', OLD.id
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Only events the named archive event covers can be removed.';
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are never updated or deleted.';
END;
$$;
"""

# Migration 0002's function, for going back.
REFUSE_ALL = """
CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events are never updated or deleted.';
END;
$$;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFUSE_ALL, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0008_search_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('auth.sign_in', 'Signed in'), ('auth.superuser_sign_in', 'Superuser signed in'), ('auth.sign_out', 'Signed out'), ('auth.sign_in_failed', 'Sign-in failed'), ('auth.sign_in_refused', 'Sign-in refused'), ('auth.no_access', 'No access (role missing)'), ('auth.roles_changed', 'Roles changed at sign-in'), ('export.requested', 'Export requested'), ('export.invalid', 'Export refused by validation'), ('export.submitting', 'Export being submitted'), ('export.submitted', 'Export submitted'), ('export.requeued', 'Export queued again'), ('export.running', 'Export running'), ('export.succeeded', 'Export succeeded'), ('export.failed', 'Export failed'), ('export.rejected', 'Export rejected by the cloud'), ('export.unknown', 'Export outcome unknown'), ('export.cancelled', 'Export cancelled'), ('export.abandoned', 'Export abandoned (no longer followed)'), ('export.verified', 'Exported object verified in OBS'), ('export.object_not_found', 'Exported object not found in OBS'), ('export.not_verified', 'Exported object not verified (OBS did not answer)'), ('access.denied', "Access denied (someone else's export)"), ('audit.searched', 'Audit trail searched'), ('audit.exported', 'Audit trail exported'), ('audit.evidence', 'Evidence pack of an export downloaded'), ('audit.archived', 'Oldest audit events archived to a signed file'), ('notify.subscribed', 'Notification subscription added'), ('notify.changed', 'Notification subscription changed'), ('notify.unsubscribed', 'Notification subscription removed'), ('notify.secret_revealed', 'Webhook signing secret shown'), ('notify.secret_rotated', 'Webhook signing secret replaced'), ('notify.test_sent', 'Test notification sent'), ('token.created', 'API token created'), ('token.revoked', 'API token revoked'), ('token.new_address', 'API token used from a new address'), ('admin.added', 'Added in the admin site'), ('admin.changed', 'Changed in the admin site'), ('admin.deleted', 'Deleted in the admin site')], editable=False, max_length=40),
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
