"""One HTTP exchange with the cloud, and the one retry loop around it.

`send()` makes a single request with a timeout, logs it (method, path, status, duration, request
id; never headers or bodies, which carry tokens, signatures and passwords) and turns every
failure into a `CloudError`. `call()` repeats an attempt while the error is retryable, the
caller allowed it (`retry=True`; the export POST passes False) and the budget lasts.

Each exchange is also told to the observers registered with `observe()` (an `Exchange`:
method, route, status code or failure, seconds), so that whoever runs the client can count
and time its calls (the portal's metrics) without this package knowing of them.
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


def longest_exchange(timeout: TimeoutSpec) -> float:
    """The longest one exchange can wait on the cloud: connecting, then the answer."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return connect + read


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP exchange with the cloud, as observers see it (never a header or a body)."""

    method: str
    # The path with its ids left out (`/v1/cloudimages/{image_id}/file`): what was called,
    # in a form that does not grow with every image and job.
    route: str
    # The HTTP status code, or the name of the failure when no answer came (`Timeout`,
    # `ConnectionFailed`).
    code: str
    seconds: float


type Observer = Callable[[Exchange], None]
_observers: list[Observer] = []


def observe(observer: Observer) -> Callable[[], None]:
    """Have `observer` told of every exchange from now on; returns what stops it.

    Observers run in the caller's thread right after each exchange; one that raises is
    logged and ignored, so counting a call can never fail it.
    """
    _observers.append(observer)

    def stop() -> None:
        if observer in _observers:
            _observers.remove(observer)

    return stop


def _tell(exchange: Exchange) -> None:
    for observer in tuple(_observers):
        try:
            observer(exchange)
        except Exception:
            log.exception("a cloud exchange observer failed")


RETRY_AFTER_JITTER = 0.1  # a Retry-After is waited out up to this fraction longer


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
            return error.retry_after * (1 + RETRY_AFTER_JITTER * random.random())  # noqa: S311 - jitter, not a secret
        ceiling = min(self.max_backoff, self.backoff * 2**retries_done)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret

    def longest_wait(self) -> float:
        """The longest `delay` ever returns: the back-off's cap, or the longest Retry-After
        it waits for, with its jitter."""
        return max(self.max_backoff, self.max_retry_after * (1 + RETRY_AFTER_JITTER))


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
    route: str = "",
) -> requests.Response:
    """Make one request; return a 2xx response or raise the matching `CloudError`.

    `secrets` are masked in any error text built from the answer (some gateways echo the access
    key back in their message). `route` names the call for observers (the path without its
    ids); it defaults to the path.
    """
    path = urlsplit(url).path
    route = route or path
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
        _tell(Exchange(method, route, type(error).__name__, elapsed_ms / 1000))
        # `from None`: the requests exception holds the prepared request, headers and all.
        raise error from None
    elapsed_ms = (time.monotonic() - started) * 1000
    request_id = response.headers.get("X-Request-Id") or response.headers.get(
        OBS_REQUEST_ID_HEADER, ""
    )
    ok = 200 <= response.status_code < 300
    # A successful read is routine (every poll); a successful change (the export POST) is
    # logged like a failure, so the line that pairs the caller's request id (the log
    # line's own) with the cloud's answer id is there at the usual level.
    log.log(
        logging.DEBUG if ok and method == "GET" else logging.INFO,
        "%s %s %d %.0f ms request_id=%s",
        method,
        path,
        response.status_code,
        elapsed_ms,
        request_id or "-",
    )
    _tell(Exchange(method, route, str(response.status_code), elapsed_ms / 1000))
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


def reach(session: requests.Session, url: str, *, timeout: TimeoutSpec) -> float:
    """Seconds until `url` answered anything at all, or the `CloudError` of why it did not.

    A reachability probe: no credentials are sent and any HTTP status counts as an answer
    (an API root typically says 401 or 404), so it costs the cloud nothing and proves only
    that the network path and the endpoint's front door work.
    """
    path = urlsplit(url).path or "/"
    started = time.monotonic()
    try:
        with session.get(url, timeout=timeout, allow_redirects=False, stream=True):
            pass  # the status line is the answer; the body is not read
    except requests.RequestException as exc:
        raise error_for_exception(exc, method="GET", path=path) from None
    return time.monotonic() - started
