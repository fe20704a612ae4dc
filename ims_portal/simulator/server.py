"""The HTTP side: read a request, route it, apply faults and authentication, answer, log.

One `ThreadingHTTPServer` serves both the cloud endpoints (`cloud_api.py`) and the control
API under `/_sim/` (`control_api.py`). For a cloud request the order is the one a real API
gateway follows:

1. injected faults (latency first, then possibly an error instead of an answer),
2. routing: a path or method that no API serves gets the gateway's 404 (so does the
   progress call while it is switched off),
3. authentication (every IMS call; the IAM token call is how one gets authenticated),
4. the handler.

Every response carries `X-Request-Id`; every request gets one line on stderr (through the
`ims_portal.simulator` logger) and, if it is a cloud request, an entry in the request log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ims_portal.simulator import auth, cloud_api, control_api, errors
from ims_portal.simulator.defaults import DEFAULT_HOST
from ims_portal.simulator.errors import ApiError
from ims_portal.simulator.state import SimulatorState
from ims_portal.simulator.wire import Request, Response

logger = logging.getLogger("ims_portal.simulator")

CONTROL_PREFIX = "/_sim/"
TOKEN_PATH = "/v3/auth/tokens"  # noqa: S105 - a URL path, not a secret


@dataclass(frozen=True, slots=True)
class Route:
    """One cloud API: method, path pattern (groups become handler arguments), handler."""

    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., Response]
    authenticated: bool = True
    progress_call: bool = False  # answers only while the progress API is switched on


ROUTES: tuple[Route, ...] = (
    Route("POST", re.compile(r"/v3/auth/tokens"), cloud_api.create_token, authenticated=False),
    Route("GET", re.compile(r"/v2/cloudimages"), cloud_api.list_images),
    # The export call under both versions: Huawei Cloud documents v2.1 next to v1 (same body,
    # same answer); Open Telekom Cloud only v1. The request log keeps the path that was used.
    Route("POST", re.compile(r"/v1/cloudimages/([^/]+)/file"), cloud_api.export_image),
    Route("POST", re.compile(r"/v2\.1/cloudimages/([^/]+)/file"), cloud_api.export_image),
    Route(
        "GET",
        re.compile(r"/v1/cloudimages/job/([^/]+)"),
        cloud_api.job_progress,
        progress_call=True,
    ),
    Route("GET", re.compile(r"/v1/([^/]+)/jobs/([^/]+)"), cloud_api.job_status),
)


def handle_cloud_request(state: SimulatorState, request: Request) -> Response:
    """Answer one IAM/IMS request (everything outside `/_sim/`)."""
    latency, fault = state.fire_faults(request.method, request.path)
    if latency:
        time.sleep(latency)
    try:
        if fault is not None and fault.status is not None:
            error = errors.fault_error(
                fault.status, request.path == TOKEN_PATH, fault.code, fault.message
            )
            if fault.retry_after is not None:
                error.headers["Retry-After"] = _seconds(fault.retry_after)
            raise error
        route, args = _route(state, request)
        if route.authenticated:
            auth.authenticate(state, request.method, request.url, request.headers, request.body)
        return route.handler(state, request, *args)
    except ApiError as error:
        return Response(error.status, error.body(request.request_id), dict(error.headers))


def _route(state: SimulatorState, request: Request) -> tuple[Route, tuple[str, ...]]:
    path_known = False
    for route in ROUTES:
        match = route.pattern.fullmatch(request.path)
        if match is None:
            continue
        if route.progress_call and not state.config.progress_api:
            continue  # switched off: as if this cloud never had the call
        path_known = True
        if route.method == request.method:
            return route, match.groups()
    raise errors.api_not_found(method_known=path_known)


def _presented_auth(request: Request) -> str | None:
    """Which kind of credential a request carried (checked or not), for the request log."""
    if request.path == TOKEN_PATH:
        return "password"
    if request.headers.get("X-Auth-Token"):
        return auth.TOKEN
    if request.headers.get("Authorization"):
        return auth.AKSK
    return None


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class SimulatorHandler(BaseHTTPRequestHandler):
    """Reads one request, hands it to the cloud or control handlers, writes the answer."""

    server: SimulatorServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoints
    # Headers and body go out in two writes; with Nagle's algorithm on, a keep-alive client
    # would wait ~40 ms for a delayed ACK on every response.
    disable_nagle_algorithm = True
    server_version = "ims-simulator"
    sys_version = ""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def _handle(self) -> None:
        started = time.monotonic()
        state = self.server.state
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers=self.headers,
            body=self._read_body(),
            request_id=secrets.token_hex(16),
        )
        if request.path.startswith(CONTROL_PREFIX):
            response = control_api.handle(state, request)
        else:
            response = handle_cloud_request(state, request)
            state.record_request(_log_entry(request, response))
        self._send(request, response)
        # `client_id` is the X-Request-Id the caller sent, if any: the caller's own name for
        # the request, logged beside ours as a gateway does, so both sides' logs meet.
        logger.info(
            '%s "%s %s" %d %.1fms auth=%s id=%s client_id=%s',
            self.client_address[0],
            request.method,
            self.path,
            response.status,
            (time.monotonic() - started) * 1000,
            _presented_auth(request) or "-",
            request.request_id,
            _client_request_id(request) or "-",
        )

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, request: Request, response: Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-Id", request.request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        # The client may have given up already (e.g. its timeout fired during injected latency).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if self.command != "HEAD":  # HEAD announces the length but sends no body
                self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silence http.server's own access line; `_handle` logs a richer one."""

    def log_error(self, format: str, *args: Any) -> None:
        """Route http.server's protocol errors through our logger."""
        logger.warning("%s %s", self.client_address[0], format % args)


class SimulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the simulator's state."""

    daemon_threads = True  # a hung client must not keep the process alive on shutdown
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: SimulatorState) -> None:
        self.state = state
        super().__init__(address, SimulatorHandler)


def make_server(state: SimulatorState, host: str = DEFAULT_HOST, port: int = 0) -> SimulatorServer:
    """Bind a server (port 0 = any free port; read it back from `server_address`)."""
    return SimulatorServer((host, port), state)


def _log_entry(request: Request, response: Response) -> dict[str, Any]:
    body: Any = None
    # Keep IMS request bodies so tests can check what the portal sent; never IAM's, which
    # hold the password.
    if request.body and request.path != TOKEN_PATH:
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = request.body.decode("utf-8", "replace")
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "params": request.params(),
        "status": response.status,
        "auth": _presented_auth(request),
        "request_id": request.request_id,
        "client_request_id": _client_request_id(request),
        "body": body,
    }


def _client_request_id(request: Request) -> str:
    """The caller's X-Request-Id, printable and bounded (it goes into a log line)."""
    value = request.headers.get("X-Request-Id") or ""
    return "".join(ch for ch in value if ch.isprintable() and not ch.isspace())[:128]
