"""`/readyz` of a real web process (gunicorn) when Redis stops, or the database cannot be
reached: 503, naming the part that failed, within the readiness timeout; `/healthz` still
answers, and `/metrics` still answers with that source marked down."""

from __future__ import annotations

import time

import pytest
import requests

from tests.monitoring.helpers import free_port, redis_server, samples, value, web_process

# The database mark makes the session's test database the one the web process is given.
pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.django_db(transaction=True)]

TOKEN = "scrape-token-for-tests"


@pytest.fixture
def web_env(worker_env) -> dict[str, str]:
    """What a web process of this test session needs (database, cloud), with a short
    readiness timeout and a metrics token."""
    return {**worker_env, "READINESS_TIMEOUT": "1.5", "METRICS_TOKEN": TOKEN}


def ready(url: str) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = requests.get(f"{url}/readyz", timeout=10)
    return response.status_code, response.json(), time.monotonic() - started


def failed(body: dict) -> set[str]:
    return {name for name, check in body["checks"].items() if not check["ok"]}


def test_with_redis_stopped_readyz_says_503_naming_the_broker_and_the_cache(web_env, tmp_path):
    with redis_server(tmp_path / "redis.log") as redis_process:
        redis_url = f"redis://127.0.0.1:{redis_process.port}/0"
        env = {**web_env, "REDIS_URL": redis_url, "CELERY_BROKER_URL": redis_url}
        env.pop("CACHE_URL", None)  # the cache follows the broker to this Redis
        with web_process(env, tmp_path / "web.log") as url:
            status, body, _ = ready(url)
            assert status == 200, body
            assert failed(body) == set()

            redis_process.terminate()
            redis_process.wait(10)

            status, body, took = ready(url)
            assert status == 503
            assert body["status"] == "not ready"
            assert failed(body) == {"broker", "cache"}
            assert body["checks"]["database"]["ok"] is True
            assert took < 5  # each check is bounded; none waits for a dead Redis
            assert requests.get(f"{url}/healthz", timeout=5).status_code == 200

            scrape = requests.get(
                f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
            )
            assert scrape.status_code == 200
            scraped = samples(scrape.text)
            assert value(scraped, "ims_portal_metrics_source_up", source="broker") == 0
            assert value(scraped, "ims_portal_metrics_source_up", source="database") == 1
        assert "readiness: broker failed" in (tmp_path / "web.log").read_text()


def test_with_the_database_unreachable_readyz_says_503_naming_the_database(web_env, tmp_path):
    closed = free_port()  # nothing listens there
    env = {**web_env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed}/ims_portal"}
    with web_process(env, tmp_path / "web.log") as url:
        status, body, took = ready(url)
        assert status == 503
        assert failed(body) == {"database"}
        assert body["checks"]["database"]["error"] == "OperationalError"
        assert {"broker", "cache", "cloud"} <= set(body["checks"])
        assert took < 5
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200

        scrape = requests.get(
            f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
        assert scrape.status_code == 200
        scraped = samples(scrape.text)
        assert value(scraped, "ims_portal_metrics_source_up", source="database") == 0
        assert ("ims_portal_exports", frozenset({("status", "queued")})) not in scraped
