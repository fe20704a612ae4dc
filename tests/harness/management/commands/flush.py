"""`flush` as the test harness runs it between transactional tests.

The audit table's trigger refuses TRUNCATE, for every role, in production as here. Triggers
do not fire in a session whose `session_replication_role` is `replica`, a setting only a
superuser may change (restores and replication use it). The tests connect as a superuser,
so this flush, and only this one, empties the tables that way; `manage.py flush` outside
the tests stays refused. Emptied tables start their ids again, so the users cached by id
are dropped too.
"""

import time
from typing import Any

from django.core.management.base import CommandError
from django.core.management.commands import flush
from django.db import OperationalError, connections

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
            # A worker or live server of the test that just ended may still hold a lock on
            # a table (a last poll, an object check): PostgreSQL then names one of the two a
            # deadlock's victim, and the flush, tried again a moment later, goes through.
            for attempt in range(5):
                try:
                    return super().handle(**options)
                except CommandError as error:
                    if attempt == 4 or not isinstance(error.__cause__, OperationalError):
                        raise
                    time.sleep(0.2 * (attempt + 1))
            return None
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET session_replication_role")
