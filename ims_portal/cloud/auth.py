"""The two ways the portal proves who it is to the cloud: an IAM token, or AK/SK signing.

Both strategies answer the same three questions for the client:

- `headers_for(...)`: which headers to add to this request;
- `invalidate(sent)`: the cloud answered 401 to a request carrying `sent`; will repeating the
  request with fresh credentials help? (yes for a token, which may have been revoked or have
  expired early; no for a signature, which would come out the same);
- `secrets()`: the strings to mask wherever text from the cloud is shown.

Secrets are held in `Secret` wrappers whose repr is a mask, so neither a repr, a log line, nor a
debugger or error reporter printing local variables shows them.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from ims_portal.cloud import signing
from ims_portal.cloud.errors import InvalidResponse
from ims_portal.cloud.transport import DEFAULT_TIMEOUT, TimeoutSpec, send

log = logging.getLogger("ims_portal.cloud")

TOKEN_HEADER = "X-Auth-Token"  # noqa: S105 - a header name, not a credential
SUBJECT_TOKEN_HEADER = "X-Subject-Token"  # noqa: S105 - a header name
PROJECT_HEADER = "X-Project-Id"

# Renew a token this long before IAM says it expires: a request that starts just before the
# deadline must not arrive with a dead token, and clocks drift.
REFRESH_MARGIN = 5 * 60.0
# When IAM's answer has no readable expiry, assume this much; IAM documents 24 h, so an hour is
# safely short.
FALLBACK_TOKEN_LIFETIME = 60 * 60.0


class Secret:
    """A string that does not show itself in reprs, str() or logs; call `reveal()` to use it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class Auth(Protocol):
    """What the client needs from an authentication strategy."""

    def headers_for(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """Headers to add to the request described by the arguments."""
        ...

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        """Forget credentials the cloud refused; True if a repeat with new ones may succeed."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be shown (to be masked in error texts)."""
        ...


class TokenAuth:
    """IAM password authentication, scoped to one project; the token is cached and shared.

    `POST {iam_endpoint}/v3/auth/tokens` returns the token in the `X-Subject-Token` header and
    its expiry in the body. The token is reused by every thread until `REFRESH_MARGIN` before it
    expires; a lock makes sure only one thread asks IAM for a new one at a time.
    """

    def __init__(
        self,
        iam_endpoint: str,
        username: str,
        password: str,
        domain: str,
        project_id: str,
        *,
        timeout: TimeoutSpec = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        self.iam_endpoint = iam_endpoint.rstrip("/")
        self.username = username
        self.domain = domain
        self.project_id = project_id
        self.timeout = timeout
        self.refresh_margin = refresh_margin
        self._password = Secret(password)
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._token: Secret | None = None
        self._renew_at = 0.0  # time.monotonic() value after which the token is renewed

    def __repr__(self) -> str:
        return (
            f"TokenAuth(iam_endpoint={self.iam_endpoint!r}, username={self.username!r}, "
            f"domain={self.domain!r}, project_id={self.project_id!r})"
        )

    def headers_for(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """`X-Auth-Token` with a valid token, asking IAM for one first if needed."""
        return {TOKEN_HEADER: self.token()}

    def token(self) -> str:
        """A token valid for at least `refresh_margin` more seconds (fetched if needed)."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._fetch()
            assert self._token is not None
            return self._token.reveal()

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        """Drop the token the cloud refused, unless another thread already replaced it."""
        refused = _get(sent, TOKEN_HEADER)
        with self._lock:
            if self._token is not None and self._token.reveal() == refused:
                self._token = None
        return True

    def secrets(self) -> tuple[str, ...]:
        """The password and the current token."""
        current = self._token
        return tuple(s.reveal() for s in (self._password, current) if s)

    def _fetch(self) -> None:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self.username,
                            "password": self._password.reveal(),
                            "domain": {"name": self.domain},
                        }
                    },
                },
                "scope": {"project": {"id": self.project_id}},
            }
        }
        url = f"{self.iam_endpoint}/v3/auth/tokens"
        asked_at = time.monotonic()
        response = send(
            self._session,
            "POST",
            url,
            headers={"Content-Type": "application/json;charset=utf8"},
            body=json.dumps(body).encode(),
            timeout=self.timeout,
            secrets=self.secrets(),
        )
        token = response.headers.get(SUBJECT_TOKEN_HEADER, "")
        if not token:
            raise InvalidResponse(
                f"IAM answered without an {SUBJECT_TOKEN_HEADER} header",
                status=response.status_code,
                method="POST",
                path="/v3/auth/tokens",
                request_id=response.headers.get("X-Request-Id", ""),
            )
        lifetime = _token_lifetime(response)
        self._token = Secret(token)
        # Measure from when we asked, on the monotonic clock: IAM's timestamps are in its clock,
        # and the local wall clock may jump.
        self._renew_at = asked_at + max(0.0, lifetime - self.refresh_margin)
        log.info("IAM token obtained for project %s, valid %.0f s", self.project_id, lifetime)


class AkSkAuth:
    """Access key / secret key signing (`SDK-HMAC-SHA256`), as the official SDKs do it."""

    def __init__(
        self, ak: str, sk: str, project_id: str, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._ak = Secret(ak)
        self._sk = Secret(sk)
        self.project_id = project_id
        # The signing time; replaceable so that tests can compare with the SDK at a fixed time.
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"AkSkAuth(project_id={self.project_id!r})"

    def headers_for(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """`X-Project-Id`, `X-Sdk-Date`, `Host` and `Authorization` for this exact request."""
        extra = {PROJECT_HEADER: self.project_id}
        signed = signing.sign(
            method,
            url,
            {**headers, **extra},
            body,
            self._ak.reveal(),
            self._sk.reveal(),
            when=self._clock(),
        )
        return {**extra, **signed}

    def invalidate(self, sent: Mapping[str, str]) -> bool:
        """A refused signature would be refused again: nothing to renew."""
        return False

    def secrets(self) -> tuple[str, ...]:
        """The access key and the secret key."""
        return (self._ak.reveal(), self._sk.reveal())

    def key_pair(self) -> tuple[Secret, Secret]:
        """The access key and secret key, still wrapped: OBS requests are signed with them too."""
        return self._ak, self._sk


def _token_lifetime(response: requests.Response) -> float:
    """Seconds the token lives, from IAM's `issued_at`/`expires_at` (both in IAM's clock)."""
    try:
        token: dict[str, Any] = response.json()["token"]
        expires = _parse_iam_time(token["expires_at"])
    except (ValueError, KeyError, TypeError):
        return FALLBACK_TOKEN_LIFETIME
    issued_text = token.get("issued_at")
    try:
        issued = _parse_iam_time(issued_text) if issued_text else None
    except ValueError:
        issued = None
    if issued is None:
        # No issue time: compare with our clock instead, accepting its drift.
        issued = datetime.now(expires.tzinfo)
    return (expires - issued).total_seconds()


def _parse_iam_time(value: str) -> datetime:
    # IAM writes e.g. "2024-05-02T10:00:00.000000Z".
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _get(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""
