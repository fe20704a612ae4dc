"""Indexes for the audit page's free-text search.

The search (`AuditFilterForm.apply`) ORs `icontains` on the actor, the target label, the
action and the details as text with exact matches of the request id and the source IP.
PostgreSQL can combine one index per branch (a BitmapOr) only if every branch has one: the
source IP gets a plain index (on every database), and on PostgreSQL the `icontains` branches
get GIN trigram indexes on the very expressions Django writes for them,
`UPPER(column::text)`. Built CONCURRENTLY, so events keep being recorded during the build;
the statement timeout does not apply to it. SQLite keeps the plain filter.
"""

from django.db import migrations, models

EXPRESSIONS = {
    "audit_actor_trgm": "UPPER(actor_username::text)",
    "audit_target_label_trgm": "UPPER(target_label::text)",
    "audit_action_trgm": "UPPER(action::text)",
    "audit_details_trgm": "UPPER((details)::text)",
}


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("SET statement_timeout = 0")
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in EXPRESSIONS.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON audit_event "
            f"USING gin ({expression} gin_trgm_ops)"
        )
    schema_editor.execute("RESET statement_timeout")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in EXPRESSIONS:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("audit", "0007_token_actions")]

    operations = [
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["ip"], name="audit_ip"),
        ),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
