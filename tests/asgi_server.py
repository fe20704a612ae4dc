"""The portal as an ASGI application served by uvicorn in a thread of the test process, on a
free port, against the test database: what the live stream needs and Django's live server
(WSGI) cannot give. `ims_portal.asgi` itself is not imported: it would set DATABASE_POOL in
the environment that the worker processes tests start inherit."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction


@contextmanager
def serving_asgi() -> Iterator[str]:
    """Serve the portal over ASGI until the block ends; yields its base URL."""
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.core.asgi import get_asgi_application

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # As under the pool the web server uses (asgi.py): no connection outlives its request,
    # whose thread ends with it.
    database = connections.settings[DEFAULT_DB_ALIAS]
    kept = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    config = uvicorn.Config(
        ASGIStaticFilesHandler(get_asgi_application()),  # the static files, as Django's live server
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        database["CONN_MAX_AGE"] = kept


def commit_elsewhere(work: Callable[[], object], timeout: float = 10.0) -> None:
    """Run `work` in a transaction of its own, in another thread with its own database
    connection, and commit it, as a worker's write reaches the database."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with transaction.atomic():
                work()
        except BaseException as error:  # handed back to the caller
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout)
    assert not failures, failures
