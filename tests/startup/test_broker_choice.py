"""The broker of a development run is chosen once, at its start, and never silently in
production; the cache follows the choice."""

from __future__ import annotations

import json
import os
import shlex

import pytest
from django.conf import settings

from ims_portal import startup
from tests.startup.helpers import DEAD_REDIS, bare_env, run_module, run_python


def exported(stdout: str) -> dict[str, str]:
    """The variables of `export NAME=value` lines, as the shell would read them."""
    variables = {}
    for line in stdout.splitlines():
        command, assignment = shlex.split(line)
        assert command == "export"
        name, _, value = assignment.partition("=")
        variables[name] = value
    return variables


def run_startup(**env: str):
    return run_module("ims_portal.startup", bare_env(**env))


def test_a_redis_that_answers_carries_the_tasks():
    assert startup.redis_answers(settings.REDIS_URL)
    assert startup.choose_broker({}, debug=True, redis_url=settings.REDIS_URL) == settings.REDIS_URL


def test_without_redis_development_falls_back_to_the_embedded_broker():
    assert not startup.redis_answers(DEAD_REDIS)
    assert startup.choose_broker({}, debug=True, redis_url=DEAD_REDIS) == "filesystem://"


def test_without_redis_production_is_refused_naming_redis_but_not_its_password():
    with pytest.raises(startup.NoBroker) as refused:
        startup.choose_broker({}, debug=False, redis_url="redis://:hunter2@127.0.0.1:1/0")
    assert "REDIS_URL=redis://:**@127.0.0.1:1/0 does not answer" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_a_broker_given_by_hand_is_taken_as_it_is():
    given = {"CELERY_BROKER_URL": "redis://127.0.0.1:1/3"}
    assert (
        startup.choose_broker(given, debug=False, redis_url=DEAD_REDIS)
        == given["CELERY_BROKER_URL"]
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEBUG": "true", "REDIS_URL": DEAD_REDIS}, "filesystem://"),
        ({"DEBUG": "false", "SECRET_KEY": "x", "REDIS_URL": os.environ["REDIS_URL"]}, None),
        ({"DEBUG": "true", "REDIS_URL": DEAD_REDIS, "CELERY_BROKER_URL": "memory://"}, None),
    ],
)
def test_the_run_command_exports_its_choice(env, expected):
    result = run_startup(**env)
    assert result.returncode == 0, result.stderr
    broker = expected or env.get("CELERY_BROKER_URL") or env["REDIS_URL"]
    assert exported(result.stdout) == {"CELERY_BROKER_URL": broker}


def test_the_run_command_stops_without_a_broker_in_production():
    result = run_startup(DEBUG="false", SECRET_KEY="x", REDIS_URL=DEAD_REDIS)
    assert result.returncode == 1
    assert result.stdout == ""  # nothing to evaluate: bin/run stops there
    assert "does not answer" in result.stderr


def cache_of(**env: str) -> dict[str, str]:
    code = "import json, ims_portal.settings as s; print(json.dumps(s.CACHES['default']))"
    result = run_python(code, bare_env(SECRET_KEY="x", **env))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_cache_is_redis_when_the_tasks_go_through_redis():
    cache = cache_of(REDIS_URL="redis://127.0.0.1:6379/4")
    # Django's Redis backend, keeping its client (ims_portal/redis_cache.py).
    assert cache["BACKEND"] == "ims_portal.redis_cache.RedisCache"
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/4"


def test_the_cache_is_local_memory_with_the_embedded_broker():
    cache = cache_of(REDIS_URL="redis://127.0.0.1:6379/4", CELERY_BROKER_URL="filesystem://")
    assert cache["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def test_a_cache_url_given_by_hand_wins():
    cache = cache_of(CELERY_BROKER_URL="filesystem://", CACHE_URL="redis://127.0.0.1:6379/5")
    assert cache["LOCATION"] == "redis://127.0.0.1:6379/5"
