"""How the settings connect to the database, and what they keep in the cache, from the
environment: persistent connections, the statement timeout, cached sessions and users."""

from __future__ import annotations

import os

import pytest
from django.db import connection

from tests.startup.helpers import bare_env, run_python

PG = "postgres://postgres@127.0.0.1:5432/ims_portal"


def setting(expression: str, **env: str) -> str:
    code = f"import ims_portal.settings as s; print({expression})"
    result = run_python(code, bare_env(SECRET_KEY="x", **env))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_connections_persist_and_are_checked_before_reuse_by_default():
    assert setting("s.DATABASES['default']['CONN_MAX_AGE']", DATABASE_URL=PG) == "60"
    assert setting("s.DATABASES['default']['CONN_HEALTH_CHECKS']", DATABASE_URL=PG) == "True"
    assert setting("s.DATABASES['default']['CONN_MAX_AGE']", DATABASE_CONN_MAX_AGE="0") == "0"


def test_postgresql_connections_carry_the_statement_timeout():
    options = "s.DATABASES['default'].get('OPTIONS', {}).get('options')"
    assert setting(options, DATABASE_URL=PG) == "-c statement_timeout=10000"
    assert setting(options, DATABASE_URL=PG, DATABASE_STATEMENT_TIMEOUT_MS="0") == "None"
    given = f"{PG}?options=-c%20search_path%3Dportal"
    both = setting(options, DATABASE_URL=given, DATABASE_STATEMENT_TIMEOUT_MS="500")
    assert both == "-c search_path=portal -c statement_timeout=500"
    assert setting(options, DATABASE_URL="sqlite:////tmp/x.sqlite3") == "None"


def test_sessions_and_users_come_from_the_cache_only_when_every_process_shares_it():
    engine, seconds = "s.SESSION_ENGINE", "s.USER_CACHE_SECONDS"
    redis = {"REDIS_URL": "redis://127.0.0.1:6379/3"}
    assert setting(engine, **redis).endswith(".cached_db")
    assert setting(seconds, **redis) == "300"
    local = {**redis, "CACHE_URL": "locmemcache://"}
    assert setting(engine, **local).endswith(".db")
    assert setting(seconds, **local) == "0"


@pytest.mark.django_db
def test_the_statement_timeout_reaches_the_connection(settings):
    if connection.vendor != "postgresql":
        pytest.skip("statement_timeout is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == f"{settings.DATABASE_STATEMENT_TIMEOUT_MS // 1000}s"


def test_a_statement_past_the_timeout_is_cancelled():
    # The server's own `postgres` database: it is there on every machine, as the portal's
    # own database (unlike the tests' one) need not be.
    url = os.environ.get("DATABASE_URL", PG).rsplit("/", 1)[0] + "/postgres"
    if not url.startswith("postgres"):
        pytest.skip("statement_timeout is PostgreSQL's")
    code = (
        "import django; django.setup(); from django.db import connection; "
        "connection.cursor().execute('SELECT pg_sleep(1)'); print('finished')"
    )
    env = {"SECRET_KEY": "x", "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "ims_portal.settings"}
    stopped = run_python(code, bare_env(**env, DATABASE_STATEMENT_TIMEOUT_MS="100"))
    assert stopped.returncode != 0 and "statement timeout" in stopped.stderr
    unbounded = run_python(code, bare_env(**env, DATABASE_STATEMENT_TIMEOUT_MS="0"))
    assert unbounded.stdout.strip() == "finished", unbounded.stderr


def test_the_asgi_web_app_takes_its_postgresql_connections_from_a_bounded_pool():
    pool = "s.DATABASES['default'].get('OPTIONS', {}).get('pool', {}).get('max_size')"
    age = "s.DATABASES['default']['CONN_MAX_AGE']"
    assert setting(pool, DATABASE_URL=PG) == "None"  # WSGI, workers, commands: no pool
    assert setting(pool, DATABASE_URL=PG, DATABASE_POOL="true") == "10"
    assert setting(age, DATABASE_URL=PG, DATABASE_POOL="true") == "0"  # the pool keeps them
    assert setting(pool, DATABASE_URL=PG, DATABASE_POOL="true", DATABASE_POOL_SIZE="4") == "4"
    assert setting(pool, DATABASE_URL="sqlite:////tmp/x.sqlite3", DATABASE_POOL="true") == "None"
    code = "import ims_portal.asgi; from django.conf import settings as s; print(" + pool + ")"
    result = run_python(code, bare_env(SECRET_KEY="x", DATABASE_URL=PG))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "10"
