"""What a process decides when it starts, so that the settings only have to read.

- `make run` (bin/run) runs `python -m ims_portal.startup` once, before it starts the web
  app, the worker and beat, and exports what it prints. It picks the broker for all of them:
  CELERY_BROKER_URL if given, else Redis at REDIS_URL if it answers, else, in development
  only, the broker embedded in the file system. Deciding once in the parent matters: the
  web app and the worker only meet on the same broker, and processes probing on their own
  could split across two if Redis came or went between their starts. The cache follows the
  broker in the settings.
- It also makes the audit signing key of a development run, var/audit-signing-key.pem, when
  none is set (the settings only name a key; they never make one).
- Each process then logs one line naming the broker and the cloud it uses
  (`log_services`, called by `wsgi.py` and by the Celery app's worker and beat hooks).
"""

from __future__ import annotations

import logging
import os
import shlex
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

EMBEDDED_BROKER_URL = "filesystem://"
DEVELOPMENT_KEY_NAME = "audit-signing-key.pem"
REDIS_PROBE_SECONDS = 0.3

logger = logging.getLogger(__name__)


class NoBroker(Exception):
    """No broker to be had, and no fallback allowed."""


def redis_answers(url: str, timeout: float = REDIS_PROBE_SECONDS) -> bool:
    """Whether something accepts connections at the Redis URL's address."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout):
            return True
    except OSError:
        return False


def choose_broker(environ: Mapping[str, str], *, debug: bool, redis_url: str) -> str:
    """The broker of every process of this run: the given one, Redis, or the embedded one.

    The embedded broker stands in only in development (DEBUG on): in production a Redis
    that does not answer is a fault to report, never a reason to quietly carry tasks
    elsewhere.
    """
    given = environ.get("CELERY_BROKER_URL", "").strip()
    if given:
        return given
    if redis_answers(redis_url):
        return redis_url
    if debug:
        return EMBEDDED_BROKER_URL
    raise NoBroker(
        f"Redis at REDIS_URL={masked(redis_url)} does not answer, and the file-system broker "
        "is for development (DEBUG on) only: start Redis or set CELERY_BROKER_URL."
    )


def masked(url: str) -> str:
    """`url` with any password replaced, fit for a log line."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:**@{host}"))


def describe_broker(url: str) -> str:
    """How the log line names a broker: its masked URL and what it is."""
    if url.startswith(EMBEDDED_BROKER_URL):
        return f"{url} (embedded in the file system, development only)"
    if urlsplit(url).scheme in ("redis", "rediss"):
        return f"{masked(url)} (Redis)"
    return masked(url)


def log_services(process: str) -> None:
    """Log which broker and which cloud this process uses; once per process, at its start."""
    from django.conf import settings

    from ims_portal.exports.cloud_access import describe_cloud

    logger.info(
        "%s: broker: %s; cloud: %s",
        process,
        describe_broker(settings.CELERY_BROKER_URL),
        describe_cloud(),
    )


def main() -> int:
    """Print the shell `export` lines of this run's broker (bin/run evaluates them)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_portal.settings")
    from django.conf import settings

    try:
        broker = choose_broker(os.environ, debug=settings.DEBUG, redis_url=settings.REDIS_URL)
    except NoBroker as error:
        print(f"make run: {error}", file=sys.stderr)
        return 1
    if broker == EMBEDDED_BROKER_URL:
        print(
            f"make run: no Redis answers at {masked(settings.REDIS_URL)}; tasks go through "
            f"the file-system broker in {settings.VAR_DIR} (development only)",
            file=sys.stderr,
        )
    print(f"export CELERY_BROKER_URL={shlex.quote(broker)}")
    key_file = development_signing_key(os.environ, debug=settings.DEBUG, var_dir=settings.VAR_DIR)
    if key_file:
        print(f"export AUDIT_SIGNING_KEY_FILE={shlex.quote(str(key_file))}")
    return 0


def development_signing_key(
    environ: Mapping[str, str], *, debug: bool, var_dir: Path
) -> Path | None:
    """The audit signing key of a development run with none set: var/audit-signing-key.pem,
    made on the first run and kept after. None when a key is set, or outside development
    (production brings its own key: `manage.py audit_keygen`)."""
    if not debug or environ.get("AUDIT_SIGNING_KEY_FILE") or environ.get("AUDIT_SIGNING_KEY"):
        return None
    from ims_portal.audit.keys import create_key_file

    path = var_dir / DEVELOPMENT_KEY_NAME
    if not path.exists():
        create_key_file(path)
        print(f"make run: made the audit signing key {path}", file=sys.stderr)
    return path


if __name__ == "__main__":
    sys.exit(main())
