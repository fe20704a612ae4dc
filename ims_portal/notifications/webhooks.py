"""Sending one webhook: the signed POST, to the address that was checked.

Each request carries (documented in docs/notifications.md):

- `X-IMS-Portal-Timestamp`: Unix seconds when this attempt was signed;
- `X-IMS-Portal-Signature`: `sha256=` + hex HMAC-SHA256, keyed by the subscription's
  secret, over the timestamp, a `.`, and the exact body bytes (as Stripe signs);
- `X-IMS-Portal-Event` (the payload's `type`) and `X-IMS-Portal-Delivery` (its `id`, the
  same for every attempt, for the receiver to drop repeats).

The connection goes to an address `targets.check` just resolved and allowed, with the URL's
host as Host header and TLS server name (the certificate is checked against that name), so
the check and the request cannot see two different answers from DNS. Redirects are not
followed: they could point anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from ims_portal.notifications import targets

USER_AGENT = "ims-portal-webhooks/1"
SIGNATURE_HEADER = "X-IMS-Portal-Signature"
TIMESTAMP_HEADER = "X-IMS-Portal-Timestamp"
EVENT_HEADER = "X-IMS-Portal-Event"
DELIVERY_HEADER = "X-IMS-Portal-Delivery"
RESPONSE_READ_MAX = 64 * 1024  # bytes of a receiver's answer read (and thrown away)


def body_of(payload: dict[str, Any]) -> bytes:
    """The payload's bytes, as signed and sent: compact, keys in a stable order."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>." + body)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    latency_ms: int


class SendError(Exception):
    """The request did not get an answer (connection refused, timeout, TLS)."""

    def __init__(self, message: str, latency_ms: int) -> None:
        super().__init__(message)
        self.latency_ms = latency_ms


def post(url: str, payload: dict[str, Any], secret: str, *, timeout: float) -> Answer:
    """POST the signed payload to `url`; raise `targets.RefusedTarget`,
    `targets.UnresolvedTarget` or `SendError`."""
    target = targets.check(url)
    body = body_of(payload)
    timestamp = int(time.time())
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        EVENT_HEADER: str(payload["type"]),
        DELIVERY_HEADER: str(payload["id"]),
    }
    address = str(target.addresses[0])
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            address,
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            # The CA bundle the portal's other HTTPS clients (requests) use.
            ca_certs=os.environ.get("REQUESTS_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH,
            retries=False,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, retries=False)
    started = time.monotonic()
    try:
        with pool:
            response = pool.urlopen(
                "POST",
                target.path,
                body=body,
                headers=headers,
                redirect=False,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                preload_content=False,
                assert_same_host=False,
            )
            response.read(RESPONSE_READ_MAX)
            response.release_conn()
    except urllib3.exceptions.HTTPError as error:
        raise SendError(str(error), _ms_since(started)) from error
    return Answer(response.status, _ms_since(started))


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
