"""`manage.py audit_grants --role ROLE [--apply]`: the SQL that gives the portal's
application role exactly what it needs (SELECT and INSERT on the audit trail, nothing more
there), printed, or applied as the tables' owner.

Run as the owner: with DATABASE_MIGRATE_URL set it connects with that (as `migrate` does),
else with DATABASE_URL. `--role` defaults to DATABASE_URL's user. Re-run it after every
migration that adds a table (`manage.py migrate` does so itself when it runs as the owner).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from ims_portal.audit import db_roles


class Command(BaseCommand):
    help = "Print (or --apply) the grants of the portal's application database role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", help="the application role (default: DATABASE_URL's user)")
        parser.add_argument("--apply", action="store_true", help="run the statements")

    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[db_roles.owner_alias()]
        if connection.vendor != "postgresql":
            raise CommandError("Database roles and grants are PostgreSQL's: nothing to do here.")
        role = options["role"] or settings.DATABASES[DEFAULT_DB_ALIAS].get("USER")
        if not role:
            raise CommandError("Name the application role: --role ROLE.")
        statements = db_roles.grant_statements(connection, role)
        if not options["apply"]:
            self.stdout.write("\n".join(f"{statement};" for statement in statements))
            return
        db_roles.apply(connection, statements)
        self.stdout.write(f"Granted {role} the portal's rights ({len(statements)} statements).")
