"""The HTTP side: read a request, route it, apply faults and authentication, answer, log.

One `ThreadingHTTPServer` serves the IAM and IMS endpoints (`cloud_api.py`) and the control
API under `/_sim/` (`control_api.py`); a second one, on its own port, serves OBS
(`obs_api.py`), sharing the same state. For an IAM/IMS request the order is the one a real
API gateway follows:

1. injected faults (latency first, then possibly an error instead of an answer),
2. routing: a path or method that no API serves gets the gateway's 404 (so does the
   progress call while it is switched off),
3. authentication (every IMS call; the IAM token call is how one gets authenticated),
4. the handler.

An OBS request meets its faults (`service: obs`), then the signature check, then the handler.

Every IAM/IMS response carries `X-Request-Id`, every OBS one `x-obs-request-id` and
`x-obs-id-2`; every request gets one line on stderr (through the `ims_portal.simulator`
logger) and, if it is a cloud request, an entry in the request log (with its `service`).
A fault that drops the connection resets it without a byte of answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ims_portal.simulator import auth, cloud_api, control_api, errors, obs_api
from ims_portal.simulator.defaults import DEFAULT_HOST
from ims_portal.simulator.errors import ApiError
from ims_portal.simulator.faults import IMS_SERVICE, OBS_SERVICE
from ims_portal.simulator.state import SimulatorState
from ims_portal.simulator.wire import Request, Response

logger = logging.getLogger("ims_portal.simulator")

CONTROL_PREFIX = "/_sim/"
TOKEN_PATH = "/v3/auth/tokens"  # noqa: S105 - a URL path, not a secret
SECURITY_TOKENS_PATH = "/v3.0/OS-CREDENTIAL/securitytokens"
# IAM calls whose bodies may hold a credential (a password, a token id): never logged.
SECRET_BODY_PATHS = frozenset({TOKEN_PATH, SECURITY_TOKENS_PATH})


class DropConnection(Exception):
    """An injected fault: reset the connection instead of answering."""


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
    # IAM checks the token itself (IAM-shaped errors), so the gateway lets it through.
    Route(
        "POST",
        re.compile(r"/v3\.0/OS-CREDENTIAL/securitytokens"),
        cloud_api.create_temporary_keys,
        authenticated=False,
    ),
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
    latency, fault = state.fire_faults(request.method, request.path, IMS_SERVICE)
    if latency:
        time.sleep(latency)
    if fault is not None and fault.drop:
        raise DropConnection
    try:
        if fault is not None and fault.status is not None:
            error = errors.fault_error(
                fault.status, request.path in SECRET_BODY_PATHS, fault.code, fault.message
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


def handle_obs_request(state: SimulatorState, request: Request) -> tuple[Response, str | None]:
    """Answer one OBS request; return the answer and how it authenticated."""
    latency, fault = state.fire_faults(request.method, request.path, OBS_SERVICE)
    if latency:
        time.sleep(latency)
    if fault is not None and fault.drop:
        raise DropConnection
    if fault is not None and fault.status is not None:
        response = obs_api.fault_error(fault.status, fault.code, fault.message).response(request)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = _seconds(fault.retry_after)
        return response, None
    return obs_api.handle(state, request)


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
        obs = self.server.service == OBS_SERVICE
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers=self.headers,
            body=self._read_body(),
            request_id=obs_api.new_request_id() if obs else secrets.token_hex(16),
        )
        try:
            if obs:
                response, how = handle_obs_request(state, request)
                state.record_request(_log_entry(request, response, OBS_SERVICE, how))
            elif request.path.startswith(CONTROL_PREFIX):
                response, how = control_api.handle(state, request), None
            else:
                response = handle_cloud_request(state, request)
                how = _presented_auth(request)
                state.record_request(_log_entry(request, response, IMS_SERVICE, how))
        except DropConnection:
            self._reset()
            logger.info('%s "%s %s" dropped', self.client_address[0], request.method, self.path)
            return
        self._send(request, response)
        logger.info(
            '%s "%s %s" %d %.1fms auth=%s id=%s',
            self.client_address[0],
            request.method,
            self.path,
            response.status,
            (time.monotonic() - started) * 1000,
            how or "-",
            request.request_id,
        )

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send a RST: the client sees its
        # connection reset, as when a load balancer in front of a dead service gives up.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, request: Request, response: Response) -> None:
        headers = dict(response.headers)
        if isinstance(response.body, bytes):
            payload = response.body  # already encoded (OBS's XML)
        else:
            payload = b"" if response.body is None else json.dumps(response.body).encode()
            headers.setdefault("Content-Type", "application/json")
        # A HEAD answer announces the length of what a GET would send (an object's size).
        headers.setdefault("Content-Length", str(len(payload)))
        if self.server.service == OBS_SERVICE:
            headers.update(obs_api.response_headers(request))
        else:
            headers["X-Request-Id"] = request.request_id
        self.send_response(response.status)
        for name, value in headers.items():
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


class ObsHandler(SimulatorHandler):
    """The same handling, introducing itself as OBS does."""

    server_version = "OBS"

    def version_string(self) -> str:
        """`Server: OBS`, as OBS writes it."""
        return self.server_version


class SimulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the simulator's state, for one service."""

    daemon_threads = True  # a hung client must not keep the process alive on shutdown
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], state: SimulatorState, service: str = IMS_SERVICE
    ) -> None:
        self.state = state
        self.service = service
        handler = ObsHandler if service == OBS_SERVICE else SimulatorHandler
        super().__init__(address, handler)


def make_server(state: SimulatorState, host: str = DEFAULT_HOST, port: int = 0) -> SimulatorServer:
    """Bind the IAM/IMS server (port 0 = any free port; read it back from `server_address`)."""
    return SimulatorServer((host, port), state)


def make_obs_server(
    state: SimulatorState, host: str = DEFAULT_HOST, port: int = 0
) -> SimulatorServer:
    """Bind the OBS server on its own port, sharing `state` with the IAM/IMS one."""
    return SimulatorServer((host, port), state, OBS_SERVICE)


def _log_entry(
    request: Request, response: Response, service: str, how: str | None
) -> dict[str, Any]:
    body: Any = None
    # Keep IMS request bodies so tests can check what the portal sent; never IAM's, which
    # hold the password or a token.
    if request.body and request.path not in SECRET_BODY_PATHS:
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
        "auth": how,
        "request_id": request.request_id,
        "body": body,
        "service": service,
    }
