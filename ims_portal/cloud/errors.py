"""The one exception hierarchy of the cloud client, and how an error response becomes one.

Every failure the client raises is a `CloudError`, carrying what a person or a task needs to
decide what to do next:

- `status`, `code`, `message`, `request_id`: what the cloud said (code `IMG.xxxx` from IMS,
  `APIGW.xxxx`/`APIG.xxxx` from the API gateway in front of it, a word such as `NoSuchBucket`
  or `AccessDenied` from OBS), empty when it said nothing;
- `retryable`: whether asking again may give a different answer (timeouts, lost connections,
  429 and 5xx) or not (every other 4xx: the request itself is wrong or not allowed);
- `outcome_unknown`: whether the cloud may have acted on the request anyway. It matters only
  for a request that changes something (the export POST), where the portal must never send a
  second POST while the first one might have started an export.

```
CloudError
├── AuthenticationError   401  bad, expired or missing token / signature
├── PermissionDenied      403
├── NotFound              404
├── Throttled             429  retry_after (seconds) from the Retry-After header
├── RequestRejected       any other 4xx, e.g. 400 with an IMS rule code
├── ServerError           5xx
├── InvalidResponse       2xx we cannot read (not JSON, a field missing)
└── TransportError        no HTTP answer at all
    ├── Timeout
    └── ConnectionFailed
ConfigurationError (a ValueError, not a CloudError): bad or missing settings
```

Nothing here depends on an HTTP library: responses come in as status, headers and bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

from ims_portal.cloud import obs_xml
from ims_portal.cloud.catalogue import Explanation, explain

# OBS names its request id differently from the API gateway's X-Request-Id.
OBS_REQUEST_ID_HEADER = "x-obs-request-id"

# Statuses after which the cloud surely did not act on the request. 429 and 503 are answered
# by the gateway or the service's admission control before the request reaches the code that
# would act on it, and 501 means the operation does not exist. Every other 5xx (500, 502, 504,
# and the ones we have never seen) can come after the backend started the work: a 504 is the
# gateway giving up while the backend keeps going, a 502/500 can be a crash halfway through.
_NOT_ACTED_STATUSES = frozenset({429, 501, 503})

_MAX_MESSAGE = 500  # keep an HTML error page from flooding logs and the UI


class ConfigurationError(ValueError):
    """A setting is missing, malformed or contradicts another; the message names the variable."""


class CloudError(Exception):
    """Base of every error the cloud client raises.

    The constructor takes the message first and everything else by keyword, so the exception
    pickles and survives a trip through a task queue's result backend.
    """

    # Class-level default for `retryable`; the transport subclasses and 429/5xx flip it.
    retryable_by_default: ClassVar[bool] = False

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: str = "",
        request_id: str = "",
        method: str = "",
        path: str = "",
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.method = method
        self.path = path
        # Whether the cloud may have acted although we saw an error. See _NOT_ACTED_STATUSES and
        # transport.py for how it is decided; only the export POST acts on it.
        self.outcome_unknown = outcome_unknown

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed if sent again later."""
        return self.retryable_by_default

    @property
    def explanation(self) -> Explanation:
        """A person-readable message and remedy for `code` (a generic one for unknown codes)."""
        return explain(self.code, status=self.status)

    def __str__(self) -> str:
        head = " ".join(part for part in (str(self.status or ""), self.code) if part)
        text = f"{head}: {self.message}" if head else self.message
        extras = [" ".join(part for part in (self.method, self.path) if part)]
        if self.request_id:
            extras.append(f"request id {self.request_id}")
        extras = [part for part in extras if part]
        return f"{text} ({', '.join(extras)})" if extras else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class AuthenticationError(CloudError):
    """401: the token or signature was refused (or IAM refused the user's credentials)."""


class PermissionDenied(CloudError):
    """403: authenticated, but not allowed to do this."""


class NotFound(CloudError):
    """404, or an image id that the list call does not know."""


class Throttled(CloudError):
    """429: too many requests; `retry_after` says how long the cloud asked us to wait."""

    retryable_by_default = True

    def __init__(
        self, message: str = "", *, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RequestRejected(CloudError):
    """Any other 4xx: the request is wrong or breaks a rule; sending it again will not help."""


class ServerError(CloudError):
    """5xx: the cloud failed; it may work later."""

    retryable_by_default = True


class InvalidResponse(CloudError):
    """A success status with a body we cannot read; asking again is unlikely to help."""


class TransportError(CloudError):
    """No HTTP answer at all: the network, DNS, TLS or the clock got in the way."""

    retryable_by_default = True


class Timeout(TransportError):
    """The connection or the answer took longer than the client's timeout."""


class ConnectionFailed(TransportError):
    """The connection could not be made, or broke before the answer arrived."""


def status_leaves_outcome_unknown(status: int) -> bool:
    """Whether a cloud that answered `status` may still have acted on the request."""
    return status >= 500 and status not in _NOT_ACTED_STATUSES


def error_for_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str = "",
    path: str = "",
    redact: Iterable[str] = (),
) -> CloudError:
    """Build the right `CloudError` subclass for an HTTP error answer.

    Reads every error shape (IMS's `{"error": {"code", "message"}}`, the gateway's
    `{"error_code", "error_msg", "request_id"}`, OBS's XML `<Error>`) and plain-text bodies;
    the request id comes from `X-Request-Id` or OBS's `x-obs-request-id` (a HEAD answer
    has no body, so its header is all there is). Strings in `redact`
    (secrets the caller holds) are masked in the message: some gateways echo the access key.
    """
    code, message, body_request_id = parse_error_body(body)
    message = _redact(message or _default_message(status), redact)
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "request_id": _header(headers, "X-Request-Id")
        or _header(headers, OBS_REQUEST_ID_HEADER)
        or body_request_id,
        "method": method,
        "path": path,
        "outcome_unknown": status_leaves_outcome_unknown(status),
    }
    if status == 401:
        return AuthenticationError(message, **common)
    if status == 403:
        return PermissionDenied(message, **common)
    if status == 404:
        return NotFound(message, **common)
    if status == 429:
        retry_after = parse_retry_after(_header(headers, "Retry-After"))
        return Throttled(message, retry_after=retry_after, **common)
    if status >= 500:
        return ServerError(message, **common)
    return RequestRejected(message, **common)


def parse_error_body(body: bytes) -> tuple[str, str, str]:
    """Return (code, message, request_id) from an error body of any shape; blanks if absent."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return "", "", ""
    if text.startswith("<"):
        return _parse_xml_error(body, text)
    try:
        data = json.loads(text)
    except ValueError:
        return "", _shorten(text), ""
    if not isinstance(data, dict):
        return "", _shorten(text), ""
    request_id = _text(data.get("request_id"))
    inner = data.get("error")
    if isinstance(inner, dict):
        # IMS: {"error": {"code": "IMG.0070", "message": "..."}}. Keystone-style IAM errors use
        # the same envelope with a numeric code (the HTTP status), which is no error code.
        code = inner.get("code")
        return (
            code if isinstance(code, str) else "",
            _shorten(_text(inner.get("message")) or _text(inner.get("title"))),
            request_id or _text(inner.get("request_id")),
        )
    if "error_code" in data or "error_msg" in data:
        # API gateway (and newer IAM): {"error_code": "APIGW.0301", "error_msg": "...", ...}
        return _text(data.get("error_code")), _shorten(_text(data.get("error_msg"))), request_id
    if isinstance(data.get("code"), str):
        return data["code"], _shorten(_text(data.get("message"))), request_id
    return "", _shorten(text), request_id


def _parse_xml_error(body: bytes, text: str) -> tuple[str, str, str]:
    # OBS: <Error><Code>NoSuchBucket</Code><Message>...</Message><RequestId>...</RequestId>
    try:
        root = obs_xml.parse(body)
    except obs_xml.XmlError:
        return "", _shorten(text), ""
    if obs_xml.local_name(root) != "Error":
        return "", _shorten(text), ""
    return (
        obs_xml.text(root, "Code"),
        _shorten(obs_xml.text(root, "Message")),
        obs_xml.text(root, "RequestId"),
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value (seconds or an HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Mask every occurrence of each secret (ignoring very short ones) in `text`."""
    return _redact(text, secrets)


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        # A one- to three-character "secret" would mask ordinary words; real keys and tokens are long.
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _default_message(status: int) -> str:
    return f"HTTP {status} with no error description"


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
