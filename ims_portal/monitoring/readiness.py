"""Whether this process can do its work: the database, the broker, the cache and the cloud
answer, each timed.

The checks run side by side, each given `READINESS_TIMEOUT` seconds, so a dependency that
hangs makes the probe slow by that much and no more, and says which part it was. The
database, broker and cache make the portal ready or not; the cloud is reported with its
latency but decides readiness only with `READINESS_REQUIRES_CLOUD` (a cloud outage is not
cured by taking the portal out of its load balancer, and the pages still show history).
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connections

from ims_portal.celery import app as celery_app
from ims_portal.exports.cloud_access import get_client

log = logging.getLogger(__name__)

CACHE_PROBE_KEY = "monitoring:readiness-probe"


@dataclass(frozen=True, slots=True)
class Check:
    """One dependency's answer: whether it worked, how long it took, and why not."""

    name: str
    ok: bool
    ms: float
    required: bool
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"ok": self.ok, "ms": round(self.ms, 1)}
        if not self.required:
            answer["required"] = False
        if self.error:
            answer["error"] = self.error
        return answer


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks if check.required)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not ready",
            "checks": {check.name: check.as_json() for check in self.checks},
        }


def check_database(timeout: float) -> None:
    """A round trip to the default database, on a connection of this thread's own."""
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connections["default"].close()


def check_broker(timeout: float) -> None:
    """A Redis broker answers PING; any other (the embedded one) a kombu connection."""
    url = str(celery_app.conf.broker_url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=max(1, round(timeout)))


def check_cache(timeout: float) -> None:
    """A value written to the cache reads back (whatever backend is configured)."""
    token = uuid.uuid4().hex
    cache.set(CACHE_PROBE_KEY, token, timeout=max(1, int(timeout * 5)))
    if cache.get(CACHE_PROBE_KEY) != token:
        raise RuntimeError("a value written to the cache did not read back")


def check_cloud(timeout: float) -> None:
    """The IMS endpoint answers an unauthenticated request (no credentials, no token)."""
    get_client().reach(timeout=timeout)


CHECKS: tuple[tuple[str, Callable[[float], None]], ...] = (
    ("database", check_database),
    ("broker", check_broker),
    ("cache", check_cache),
    ("cloud", check_cloud),
)


def _timed(name: str, probe: Callable[[float], None], timeout: float) -> tuple[float, str]:
    """(milliseconds, error) of one check. The answer names only the kind of failure: the
    probe is unauthenticated, and the details (hosts, ports) go to the log."""
    started = time.monotonic()
    try:
        probe(timeout)
    except Exception as error:
        elapsed = (time.monotonic() - started) * 1000
        log.warning("readiness: %s failed after %.0f ms: %s", name, elapsed, _describe(error))
        return elapsed, type(error).__name__
    return (time.monotonic() - started) * 1000, ""


def _describe(error: Exception) -> str:
    text = " ".join(str(error).split())[:300]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def readiness() -> Readiness:
    """Run every check side by side and report each within the timeout."""
    timeout = settings.READINESS_TIMEOUT
    pool = ThreadPoolExecutor(max_workers=len(CHECKS), thread_name_prefix="readiness")
    try:
        # Each check runs in the request's context, so its log lines carry the request id.
        futures = [
            (name, pool.submit(contextvars.copy_context().run, _timed, name, probe, timeout))
            for name, probe in CHECKS
        ]
        deadline = time.monotonic() + timeout
        checks = []
        for name, future in futures:
            required = name != "cloud" or settings.READINESS_REQUIRES_CLOUD
            try:
                ms, error = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                ms, error = timeout * 1000, f"no answer within {timeout:g} s"
                log.warning("readiness: %s gave no answer within %g s", name, timeout)
            checks.append(Check(name, not error, ms, required, error))
    finally:
        # A check that hangs past its timeout is left to finish on its own thread.
        pool.shutdown(wait=False, cancel_futures=True)
    return Readiness(tuple(checks))
