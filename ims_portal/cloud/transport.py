"""One HTTP exchange with the cloud, and the one retry loop around it.

`send()` makes a single request with a timeout, logs it (method, path, status, duration, request
id; never headers or bodies, which carry tokens, signatures and passwords) and turns every
failure into a `CloudError`. `call()` repeats an attempt while the error is retryable, the
caller allowed it (`retry=True`; the export POST passes False) and the budget lasts.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ims_portal.cloud.errors import (
    OBS_REQUEST_ID_HEADER,
    CloudError,
    ConnectionFailed,
    Throttled,
    Timeout,
    error_for_response,
    redact,
)

log = logging.getLogger("ims_portal.cloud")

# (connect, read) seconds. Connecting is quick or broken; IMS answers slowly under load, and an
# export POST that times out leaves an unknown outcome, so the read timeout is the generous one.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
type TimeoutSpec = float | tuple[float, float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to repeat a request that failed with a retryable error."""

    retries: int = 3  # extra attempts after the first
    backoff: float = 0.5  # seconds before the first retry; doubles each time
    max_backoff: float = 8.0
    # Wait at most this long for a Retry-After. If the cloud asks for longer, give up now and
    # let the caller (a task with its own schedule) come back later, rather than either
    # blocking a worker or knocking again before the cloud said we may.
    max_retry_after: float = 30.0

    def delay(self, retries_done: int, error: CloudError) -> float | None:
        """Seconds to wait before the next attempt, or None to stop and raise `error`."""
        if retries_done >= self.retries or not error.retryable:
            return None
        if isinstance(error, Throttled) and error.retry_after is not None:
            if error.retry_after > self.max_retry_after:
                return None
            # A little jitter on top, never below what was asked, so that workers told the
            # same Retry-After do not all come back in the same instant.
            return error.retry_after * (1 + 0.1 * random.random())  # noqa: S311 - jitter, not a secret
        ceiling = min(self.max_backoff, self.backoff * 2**retries_done)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def call[T](
    attempt: Callable[[], T],
    *,
    retry: bool,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `attempt`, repeating it on retryable errors when `retry` is True.

    Requests that change something pass `retry=False`: repeating them blindly after an unclear
    failure could do the work twice, and that decision belongs to the caller.
    """
    retries_done = 0
    while True:
        try:
            return attempt()
        except CloudError as error:
            wait = policy.delay(retries_done, error) if retry else None
            if wait is None:
                raise
            retries_done += 1
            log.info(
                "%s %s: %s, retry %d of %d in %.2f s",
                error.method,
                error.path,
                type(error).__name__,
                retries_done,
                policy.retries,
                wait,
            )
            sleep(wait)


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: bytes,
    timeout: TimeoutSpec,
    secrets: Iterable[str] = (),
) -> requests.Response:
    """Make one request; return a 2xx response or raise the matching `CloudError`.

    `secrets` are masked in any error text built from the answer (some gateways echo the access
    key back in their message).
    """
    path = urlsplit(url).path
    started = time.monotonic()
    try:
        response = session.request(
            method,
            url,
            headers=headers,
            data=body or None,
            timeout=timeout,
            # A redirect from an API is unexpected, and following it would replay our
            # credentials to wherever it points.
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        elapsed_ms = (time.monotonic() - started) * 1000
        error = error_for_exception(exc, method=method, path=path, secrets=secrets)
        log.info("%s %s failed after %.0f ms: %s", method, path, elapsed_ms, type(error).__name__)
        # `from None`: the requests exception holds the prepared request, headers and all.
        raise error from None
    elapsed_ms = (time.monotonic() - started) * 1000
    request_id = response.headers.get("X-Request-Id") or response.headers.get(
        OBS_REQUEST_ID_HEADER, ""
    )
    ok = 200 <= response.status_code < 300
    log.log(
        logging.DEBUG if ok else logging.INFO,
        "%s %s %d %.0f ms request_id=%s",
        method,
        path,
        response.status_code,
        elapsed_ms,
        request_id or "-",
    )
    if not ok:
        raise error_for_response(
            response.status_code,
            response.headers,
            response.content,
            method=method,
            path=path,
            redact=secrets,
        )
    return response


def error_for_exception(
    exc: requests.RequestException, *, method: str, path: str, secrets: Iterable[str] = ()
) -> CloudError:
    """Translate a transport failure, deciding whether the request may have reached the cloud.

    Only failures that happen before a byte of the request is sent (DNS, refused or timed-out
    connect, a certificate the client rejects) leave the outcome known. A read timeout or a
    connection dropped afterwards means the cloud may have received and acted on the request.
    """
    reason = redact(_short(str(exc)), secrets)
    if isinstance(exc, requests.ConnectTimeout):
        return Timeout(
            f"connecting timed out: {reason}", outcome_unknown=False, method=method, path=path
        )
    if isinstance(exc, requests.Timeout):
        return Timeout(
            f"no answer in time: {reason}", outcome_unknown=True, method=method, path=path
        )
    if isinstance(exc, requests.ConnectionError):
        return ConnectionFailed(
            f"connection failed: {reason}",
            outcome_unknown=not _never_sent(exc),
            method=method,
            path=path,
        )
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return ConnectionFailed(
            f"invalid URL: {reason}", outcome_unknown=False, method=method, path=path
        )
    return ConnectionFailed(
        f"request failed: {reason}", outcome_unknown=True, method=method, path=path
    )


def _never_sent(exc: BaseException) -> bool:
    """Whether the exception chain shows the connection was never established."""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen or current is None:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError | ConnectTimeoutError):
            return True  # includes NameResolutionError: no connection, nothing sent
        if isinstance(current, ssl.SSLCertVerificationError):
            return True  # the handshake failed before any request bytes
        if isinstance(current, BaseException):
            pending.extend([*current.args, current.__cause__, current.__context__])
            pending.append(getattr(current, "reason", None))
    return False


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
