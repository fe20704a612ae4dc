"""What the notification tests send to: a real SMTP server (aiosmtpd) and a real HTTP
receiver on loopback that checks every signature, both in this process, and a Celery worker
process whose mail goes to that SMTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.portal_fixtures import LASTING_WORKERS, start_worker, stop

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        self.messages.clear()
        self.envelopes.clear()


@dataclass
class SMTPServer:
    host: str
    port: int
    mailbox: Mailbox

    @property
    def mailers(self) -> dict[str, Any]:
        """A MAILERS setting that sends to this server."""
        options = {"host": self.host, "port": self.port, "timeout": 5}
        return {"default": {"BACKEND": SMTP_BACKEND, "OPTIONS": options}}

    def wait_for(self, count: int = 1, timeout: float = 20) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.mailbox.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.mailbox.messages) >= count, "the mail did not arrive"
        return list(self.mailbox.messages)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    """A real SMTP server on a free loopback port, for the whole session."""
    mailbox = Mailbox()
    # aiosmtpd connects to its own port to see that it is up, so it needs the number first.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SMTPServer("127.0.0.1", port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp(smtp_server: SMTPServer) -> SMTPServer:
    smtp_server.mailbox.clear()
    return smtp_server


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook receiver: answers with the scripted statuses in turn (then 200), and checks
    each request's signature with `secret` as the portal's documentation tells receivers."""

    port: int
    secret: str = ""
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/ims?source=portal"

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("x-ims-portal-timestamp", "")
        given = headers.get("x-ims-portal-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        mac = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest(given, "sha256=" + mac.hexdigest())

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.received.append(Received(headers, body, self.verify(headers, body)))
            return self.answers.pop(0) if self.answers else 200

    def wait_for(self, count: int = 1, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) >= count, f"{len(self.received)} of {count} requests arrived"
        return list(self.received)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on a free loopback port, in a thread of this process."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            headers[":path"] = self.path
            status = state["receiver"].answer(headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


# Retries a fifth of a second apart, so that three attempts take well under a second.
NOTIFY_FAST = {
    "NOTIFY_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on loopback
    "NOTIFY_RETRY_FIRST": "0.2",
    "NOTIFY_RETRY_MAX": "1",
    "NOTIFY_MAX_ATTEMPTS": "4",
    "NOTIFY_WEBHOOK_TIMEOUT": "5",
}


@pytest.fixture(scope="session")
def notify_queue() -> str:
    return f"ims-portal-notify-tests-{os.getpid()}"


@pytest.fixture(scope="session")
def notify_worker(worker_env, smtp_server, notify_queue, tmp_path_factory):
    """A real `celery worker` on a queue of its own, mailing through the test SMTP server
    and allowed to deliver webhooks to loopback."""
    env = {
        **worker_env,
        **NOTIFY_FAST,
        "CELERY_TASK_DEFAULT_QUEUE": notify_queue,
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_HOST": smtp_server.host,
        "EMAIL_PORT": str(smtp_server.port),
    }
    log = tmp_path_factory.mktemp("notify-worker") / "worker.log"
    process = start_worker(env, log)
    with LASTING_WORKERS.running("notify_worker", env):
        yield process
    stop(process)


@pytest.fixture
def on_notify_worker(notify_worker, notify_queue, settings, poll_chains_held):
    """Send this test's tasks to the notification worker, with its notification settings.
    The session's worker, if one runs, holds its poll chains meanwhile: otherwise it could
    follow this test's export to its end and send the mail with settings of its own."""
    from ims_portal.celery import app

    saved = app.conf.task_default_queue
    app.conf.task_default_queue = notify_queue
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = True
    yield notify_worker
    app.conf.task_default_queue = saved
