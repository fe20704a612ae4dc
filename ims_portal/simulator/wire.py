"""Plain request and response values passed between the HTTP server and the handlers.

Handlers never touch sockets or `http.server`; they take a `Request` and return a
`Response` (or raise `ApiError`). That keeps them easy to read and to call from tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl

from ims_portal.simulator import errors
from ims_portal.simulator.defaults import DEFAULT_HOST


class Headers(Protocol):
    """Request headers with case-insensitive lookup, as `http.server` hands them over."""

    def get(self, name: str, default: None = None) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, already read off the socket."""

    method: str
    path: str
    query: str  # raw query string, without "?"
    headers: Headers
    body: bytes
    request_id: str

    @property
    def host(self) -> str:
        """The Host header, which also decides the URLs the simulator hands out."""
        return self.headers.get("Host") or DEFAULT_HOST

    @property
    def url(self) -> str:
        """The full URL as the client addressed it (what an AK/SK signature covers)."""
        return f"http://{self.host}{self.path}" + (f"?{self.query}" if self.query else "")

    def params(self) -> dict[str, str]:
        """Query parameters; a repeated name keeps its last value."""
        return dict(parse_qsl(self.query, keep_blank_values=True))

    def json(self) -> Any:
        """The JSON body; an IMS-shaped 400 if it is empty or not JSON."""
        if not self.body.strip():
            raise errors.ims_error(400, errors.IMG_EMPTY_BODY, "The request has no body.")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise errors.ims_error(
                400, errors.IMG_BAD_REQUEST, f"The request body is not valid JSON: {exc}."
            ) from exc


@dataclass(slots=True)
class Response:
    """What to send back: a status, a JSON body (or none) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
