"""On PostgreSQL, trigram indexes for the history's text search.

The search (`ExportQuerySet.matching`) is `icontains` on the image name, the bucket and the
object name, which Django writes as `UPPER(column::text) LIKE UPPER('%text%')`; a GIN index
with pg_trgm's operator class on that same expression serves it, so a search reads the rows
it finds instead of every export. pg_trgm is a trusted extension: the portal's database user
needs CREATE on the database, not superuser rights. The indexes are built CONCURRENTLY, so
exports keep being written while they are built on a large table; the statement timeout
does not apply to the build. Other databases (SQLite in development) keep the plain filter.
"""

from django.db import migrations

COLUMNS = {"image_name": "export_image_name_trgm", "bucket": "export_bucket_trgm",
           "object_name": "export_object_name_trgm"}  # fmt: skip


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("SET statement_timeout = 0")
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column, name in COLUMNS.items():
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON exports_export "
            f"USING gin (UPPER({column}::text) gin_trgm_ops)"
        )
    schema_editor.execute("RESET statement_timeout")


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in COLUMNS.values():
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("exports", "0008_waiting_for_queue")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
