"""Checking an AK/SK signature (`SDK-HMAC-SHA256`) as the API gateway in front of IMS does.

The gateway never trusts the client's idea of the request: it rebuilds the canonical request
from what arrived on the wire (method, the path and query as sent, the headers the client
says it signed, the body) and computes the HMAC with the secret key it holds for the access
key. This module is the cloud's side of that exchange and is written on its own, apart from
the portal's signer, so that a signing mistake on either side makes a test fail instead of
being repeated on both.

The canonical request is six lines joined by newlines:

1. the method, upper case;
2. the path, percent-decoded as a whole and only then split into segments (so an encoded
   `%2F` separates segments, as the official signers read it), every segment re-encoded
   keeping only the unreserved characters (letters, digits, `-`, `_`, `.`, `~`), always
   ending in `/`;
3. the query: (name, value) pairs decoded, sorted, re-encoded the same way, `&`-joined;
4. one `name:value` line per signed header (name lower case, value trimmed), then an empty
   line;
5. the signed header names, `;`-joined, as the `Authorization` header lists them;
6. the hex SHA-256 of the body (of nothing, for an empty body), or the value of
   `X-Sdk-Content-Sha256` when the client declared the payload unsigned.

The string to sign is `SDK-HMAC-SHA256`, the `X-Sdk-Date` value and the hex SHA-256 of the
canonical request, one per line; the signature is its hex HMAC-SHA256 keyed with the SK.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from calendar import timegm
from dataclasses import dataclass
from time import strptime
from urllib.parse import unquote, unquote_plus

from ims_portal.simulator.wire import Headers

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "x-sdk-date"
PAYLOAD_HASH_HEADER = "x-sdk-content-sha256"
_DATE_LAYOUT = "%Y%m%dT%H%M%SZ"  # basic ISO 8601 in UTC, e.g. 20240501T100000Z
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_AUTHORIZATION = re.compile(
    r"(?P<algorithm>[A-Z0-9-]+) +Access=(?P<access>[^,\s]+), *"
    r"SignedHeaders=(?P<signed>[a-z0-9!#$%&'*+.^_`|~;-]+), *Signature=(?P<signature>[0-9a-f]+)"
)


@dataclass(frozen=True, slots=True)
class Credential:
    """What an `Authorization` header claims: who signed, which headers, which signature."""

    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def read_authorization(value: str) -> Credential:
    """Read `SDK-HMAC-SHA256 Access=..., SignedHeaders=a;b, Signature=hex`.

    Raises `ValueError` for another algorithm, another shape, or an empty header name.
    """
    match = _AUTHORIZATION.fullmatch(value.strip())
    if match is None:
        raise ValueError("not of the form 'SDK-HMAC-SHA256 Access=, SignedHeaders=, Signature='")
    if match["algorithm"] != ALGORITHM:
        raise ValueError(f"the algorithm must be {ALGORITHM}")
    names = tuple(match["signed"].split(";"))
    if "" in names:
        raise ValueError("SignedHeaders names an empty header")
    return Credential(match["access"], names, match["signature"])


def signing_time(headers: Headers) -> float:
    """The `X-Sdk-Date` of a request, in epoch seconds; `ValueError` if absent or malformed."""
    value = headers.get(DATE_HEADER)
    if not value:
        raise ValueError("the X-Sdk-Date header is missing")
    return float(timegm(strptime(value.strip(), _DATE_LAYOUT)))


def expected_signature(
    method: str,
    path: str,
    query: str,
    headers: Headers,
    credential: Credential,
    body: bytes,
    secret_key: str,
) -> str:
    """The signature this request must carry if it was signed with `secret_key`.

    `path` and `query` are as received (still percent-encoded). Raises `ValueError` when a
    header the credential says it signed is not in the request.
    """
    date = headers.get(DATE_HEADER)
    if not date:
        raise ValueError("the X-Sdk-Date header is missing")
    canonical = "\n".join(
        [
            method.upper(),
            _canonical_path(path),
            _canonical_query(query),
            _canonical_headers(headers, credential.signed_headers),
            ";".join(credential.signed_headers),
            _payload_hash(headers, body),
        ]
    )
    string_to_sign = "\n".join([ALGORITHM, date.strip(), _sha256(canonical.encode())])
    return hmac.new(secret_key.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def _canonical_path(path: str) -> str:
    segments = [_escape(segment) for segment in unquote(path).split("/")]
    joined = "/".join(segments)
    return joined if joined.endswith("/") else joined + "/"


def _canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return "&".join(f"{_escape(name)}={_escape(value)}" for name, value in sorted(pairs))


def _canonical_headers(headers: Headers, names: tuple[str, ...]) -> str:
    lines = []
    for name in names:
        value = headers.get(name)
        if value is None:
            raise ValueError(f"the signed header {name!r} is not in the request")
        lines.append(f"{name.lower()}:{value.strip()}")
    return "\n".join(lines) + "\n"


def _payload_hash(headers: Headers, body: bytes) -> str:
    if not body:
        return _sha256(b"")
    declared = headers.get(PAYLOAD_HASH_HEADER)
    return declared.strip() if declared else _sha256(body)


def _escape(text: str) -> str:
    return "".join(
        chr(byte) if byte in _UNRESERVED else f"%{byte:02X}" for byte in text.encode("utf-8")
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
