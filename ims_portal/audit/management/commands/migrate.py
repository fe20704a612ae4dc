"""`manage.py migrate`, run as the tables' owner when DATABASE_MIGRATE_URL is set.

With DATABASE_MIGRATE_URL set, the settings add it as the database alias `migrate`, and
this command migrates through it unless `--database` says otherwise; afterwards it grants
DATABASE_URL's role the portal's rights on every table (`manage.py audit_grants`), so a
table a migration adds is usable at once, and the audit trail stays read-and-append only.
Without it, this is Django's own `migrate`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.core.management.commands import migrate
from django.db import DEFAULT_DB_ALIAS, connections

from ims_portal.audit import db_roles


class Command(migrate.Command):
    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.set_defaults(database=db_roles.owner_alias())

    def handle(self, *args: Any, **options: Any) -> None:
        # DATABASE_STATEMENT_TIMEOUT_MS guards the portal's requests; a migration that builds
        # an index over a large table is meant to take its time.
        target = connections[options["database"]]
        if target.vendor == "postgresql":
            with target.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")
        super().handle(*args, **options)
        if options["database"] != settings.MIGRATE_DATABASE:
            return
        connection = connections[settings.MIGRATE_DATABASE]
        app_role = settings.DATABASES[DEFAULT_DB_ALIAS].get("USER")
        if connection.vendor != "postgresql" or not app_role:
            return
        if app_role == connection.settings_dict.get("USER"):
            self.stdout.write("DATABASE_URL and DATABASE_MIGRATE_URL use the same role: no grants.")
            return
        db_roles.apply(connection, db_roles.grant_statements(connection, app_role))
        self.stdout.write(f"Granted {app_role} the portal's rights (manage.py audit_grants).")
