#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

A setting that is missing or malformed, or a database that cannot be reached, ends the
command with one line that says so (exit status 2); `--traceback` shows the whole story.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_portal.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    try:
        prepare_sqlite_folder()
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as error:
        # The settings' messages name the variable to set: a traceback would bury it.
        if "--traceback" in sys.argv:
            raise
        stop(str(error))
    except DatabaseError as error:
        if "--traceback" in sys.argv:
            raise
        stop(f"the database could not be used: {database_problem(error)}")


def stop(message: str) -> None:
    # Status 2, as for a usage error: 1 is a command's own verdict (verify_audit's broken chain).
    print(f"manage.py: {message}", file=sys.stderr)
    sys.exit(2)


def prepare_sqlite_folder() -> None:
    """Create the folder of a SQLite database (var/ in development) before anything opens it.

    The settings only read; the process that uses the file makes its place, as the Celery
    app does for the embedded broker's folders.
    """
    from pathlib import Path

    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and str(database["NAME"]) != ":memory:":
        Path(database["NAME"]).parent.mkdir(parents=True, exist_ok=True)


def database_problem(error: Exception) -> str:
    """The database's own first line, with the usual remedy when the tables are missing."""
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if "no such table" in first_line or "does not exist" in first_line:
        return f"{first_line} (run `manage.py migrate` first)"
    return first_line


if __name__ == "__main__":
    main()
