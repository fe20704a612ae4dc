"""`AuditEvent.details_text`: each event's details in the spelling they were hashed in, so
that the CSV export copies them as they are instead of decoding and re-encoding every
row's JSON.

Events recorded before this migration get theirs here, from their stored details, by the
very function `trail.record` uses (`chain.canonical_details`). Writing them is an UPDATE,
which the append-only trigger refuses to every role. The migration therefore switches the
row trigger off, fills the new column and switches it on again, all in its one transaction:
ALTER TABLE is transactional in PostgreSQL, and the column's ACCESS EXCLUSIVE lock, taken
first, keeps every other session off the table until the trigger is back, so nobody ever
sees it off. That takes the table's owner, which is who runs `migrate`
(DATABASE_MIGRATE_URL). Only the new column is written; `verify_audit` checks afterwards
that each event's spelling is that of its details.

Every row is rewritten with all its indexes, the trigram ones too: about 40 s per 200,000
events on a 2-core machine, during which whatever records an event waits for the lock. On a
large trail, run it when the portal is quiet.
"""

from django.db import migrations, models

from ims_portal.audit import chain

ROWS_PER_BATCH = 5000
ROW_TRIGGER = "audit_event_no_update_delete"  # migration 0002's


def backfill(apps, schema_editor):
    connection = schema_editor.connection
    postgresql = connection.vendor == "postgresql"
    details = "details::text" if postgresql else "details"
    with connection.cursor() as cursor:
        if postgresql:
            cursor.execute("SET LOCAL statement_timeout = 0")  # every row: longer than a page
            cursor.execute(f"ALTER TABLE audit_event DISABLE TRIGGER {ROW_TRIGGER}")
        last = 0
        while True:
            cursor.execute(
                f"SELECT id, {details} FROM audit_event WHERE id > %s ORDER BY id LIMIT %s",  # noqa: S608 - a fixed column expression
                [last, ROWS_PER_BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            spelled = [(chain.canonical_details(text), event_id) for event_id, text in rows]
            if postgresql:
                cursor.execute(
                    "UPDATE audit_event AS e SET details_text = v.spelled "
                    "FROM unnest(%s::bigint[], %s::text[]) AS v(id, spelled) WHERE e.id = v.id",
                    [[event_id for _, event_id in spelled], [text for text, _ in spelled]],
                )
            else:
                cursor.executemany(
                    "UPDATE audit_event SET details_text = %s WHERE id = %s", spelled
                )
            last = rows[-1][0]
        if postgresql:
            cursor.execute(f"ALTER TABLE audit_event ENABLE TRIGGER {ROW_TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0009_archive")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="details_text",
            field=models.TextField(editable=False, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="auditevent",
            name="details_text",
            field=models.TextField(editable=False),
        ),
    ]
