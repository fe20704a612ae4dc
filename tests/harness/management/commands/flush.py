"""`flush` as the test harness runs it between transactional tests.

The audit table's trigger refuses TRUNCATE, for every role, in production as here. Triggers
do not fire in a session whose `session_replication_role` is `replica`, a setting only a
superuser may change (restores and replication use it). The tests connect as a superuser,
so this flush, and only this one, empties the tables that way; `manage.py flush` outside
the tests stays refused. Emptied tables start their ids again, so the users cached by id
are dropped too.
"""

from typing import Any

from django.core.management.commands import flush
from django.db import connections

from ims_portal.accounts.user_cache import forget_everyone


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        forget_everyone()
        connection = connections[options["database"]]
        if connection.vendor != "postgresql":
            return super().handle(**options)
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET session_replication_role")
