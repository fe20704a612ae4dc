"""Which transport failures leave the export's outcome unknown.

The simulator can refuse a connection or be slow, but it cannot drop a connection halfway
through an answer; the classification of those failures is checked here on the exceptions
`requests` raises for them.
"""

from __future__ import annotations

from http.client import RemoteDisconnected

import pytest
import requests
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
)

from ims_portal.cloud.errors import ConnectionFailed, Timeout
from ims_portal.cloud.transport import error_for_exception

URL = "/v1/cloudimages/x/file"


def refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")
    return requests.ConnectionError(MaxRetryError(None, URL, reason))


def unresolvable() -> requests.ConnectionError:
    reason = NameResolutionError("ims.invalid", None, OSError("Name or service not known"))
    return requests.ConnectionError(MaxRetryError(None, URL, reason))


def dropped() -> requests.ConnectionError:
    reason = ProtocolError("Connection aborted.", RemoteDisconnected("closed without response"))
    return requests.ConnectionError(reason)


@pytest.mark.parametrize(
    ("exc", "kind", "outcome_unknown"),
    [
        (refused(), ConnectionFailed, False),
        (unresolvable(), ConnectionFailed, False),
        (requests.ConnectTimeout(MaxRetryError(None, URL, ConnectTimeoutError())), Timeout, False),
        (dropped(), ConnectionFailed, True),
        (requests.ReadTimeout("read timed out"), Timeout, True),
        (requests.exceptions.ChunkedEncodingError("cut short"), ConnectionFailed, True),
        (requests.exceptions.InvalidURL("bad"), ConnectionFailed, False),
    ],
)
def test_failures_before_sending_are_known_and_after_sending_unknown(exc, kind, outcome_unknown):
    error = error_for_exception(exc, method="POST", path=URL)

    assert type(error) is kind
    assert error.outcome_unknown is outcome_unknown
    assert error.retryable
    assert error.status is None
    assert (error.method, error.path) == ("POST", URL)


def test_secrets_in_exception_text_are_masked():
    exc = requests.ConnectionError("failed for token MIIsecret-token-value")
    error = error_for_exception(exc, method="GET", path="/", secrets=["MIIsecret-token-value"])
    assert "MIIsecret-token-value" not in str(error)
