"""AK/SK request signing (`SDK-HMAC-SHA256`), byte for byte as the official Huawei Cloud SDKs sign.

Used on both sides: the client signs its requests with `sign()`, the simulator checks them with
`parse_authorization()` and `signature_for()`. Keeping one implementation for both means a
difference between them can only come from the wire, never from two readings of the rules.

The canonical request, as `huaweicloudsdkcore.signer.Signer` builds it::

    METHOD
    /canonical/uri/            every path segment percent-encoded (only `~` kept), trailing `/`
    a=1&b=x%20y                query pairs sorted by (name, value), both percent-encoded
    host:ims.example.com       each signed header, lower-cased name, value stripped
    x-sdk-date:20240501T100000Z
    (empty line)
    host;x-sdk-date            the signed header names, lower-cased, sorted, `;`-joined
    <hex sha256 of the body>   (of b"" for an empty body)

The string to sign is `ALGORITHM \\n X-Sdk-Date \\n hex(sha256(canonical request))`, and the
signature is hex HMAC-SHA256 of it keyed with the SK.

This module knows nothing of HTTP libraries or Django: it takes and returns plain strings.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "X-Sdk-Date"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# A caller may declare the payload hash itself (the SDK sets "UNSIGNED-PAYLOAD" for bodies that
# are neither JSON nor BSON, e.g. file uploads); when present it replaces the body hash.
CONTENT_SHA256_HEADER = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()

_AUTH_PATTERN = re.compile(
    r"^(?P<algorithm>\S+) "
    r"Access=(?P<access>[^,\s]+), ?"
    r"SignedHeaders=(?P<signed>[^,\s]+), ?"
    r"Signature=(?P<signature>[0-9a-fA-F]+)$"
)


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    ak: str,
    sk: str,
    when: datetime | None = None,
) -> dict[str, str]:
    """Return the headers to add to a request so that it carries a valid signature.

    Every header in `headers` is signed (except names with `_`, which the SDK leaves out), plus
    `X-Sdk-Date` and `Host`. The result always holds `Authorization`; it also holds `X-Sdk-Date`
    (from `when`, default now, in UTC) unless `headers` already has one, and `Host` (the URL's
    host and port) unless `headers` already has one. Send the `Host` header exactly as returned:
    the signature covers it, and an HTTP library left to itself may spell it differently (e.g.
    drop a default port).
    """
    present = {name.lower() for name in headers}
    added: dict[str, str] = {}
    if DATE_HEADER.lower() not in present:
        added[DATE_HEADER] = format_date(when or datetime.now(UTC))
    if "host" not in present:
        added["Host"] = _host_of(url)
    content_type = _get(headers, "Content-Type")
    if (
        content_type
        and not content_type.startswith(("application/json", "application/bson"))
        and CONTENT_SHA256_HEADER.lower() not in present
    ):
        added[CONTENT_SHA256_HEADER] = UNSIGNED_PAYLOAD

    all_headers = {**headers, **added}
    signed_headers = sorted({name.lower() for name in all_headers if "_" not in name})
    signature = signature_for(method, url, all_headers, signed_headers, body, sk)
    added["Authorization"] = (
        f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
    )
    return added


def parse_authorization(value: str) -> tuple[str, list[str], str]:
    """Split an `Authorization` header into (access key, signed header names, signature).

    `'SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex'` gives
    `('AK', ['a', 'b'], 'hex')`. Raises `ValueError` for any other algorithm or shape.
    """
    match = _AUTH_PATTERN.match(value.strip())
    if match is None:
        raise ValueError("Authorization header is not of the form 'ALGORITHM Access=..., ...'")
    if match["algorithm"] != ALGORITHM:
        raise ValueError(f"unsupported signing algorithm (expected {ALGORITHM})")
    signed = match["signed"].split(";")
    if any(not name for name in signed):
        raise ValueError("SignedHeaders holds an empty header name")
    return match["access"], signed, match["signature"].lower()


def signature_for(
    method: str,
    url: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    body: bytes,
    sk: str,
) -> str:
    """Compute the hex signature of a request, using the `X-Sdk-Date` found in `headers`.

    `signed_headers` names the headers that take part (any case; the SDK sends them lower-cased
    and sorted, and they are used in the order given). Raises `ValueError` when `X-Sdk-Date` or a
    signed header is missing, or the date is malformed. Compare the result with the received
    signature using `hmac.compare_digest`.
    """
    date = _get(headers, DATE_HEADER)
    if date is None:
        raise ValueError(f"the {DATE_HEADER} header is missing")
    parse_date(date)  # reject a malformed date here, before it is hashed into a signature
    canonical = canonical_request(method, url, headers, signed_headers, body)
    string_to_sign = f"{ALGORITHM}\n{date}\n{_sha256_hex(canonical.encode())}"
    return hmac.new(sk.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    signed_headers: list[str],
    body: bytes,
) -> str:
    """Build the canonical request text that the signature covers (exposed for debugging)."""
    parts = urlsplit(url)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        lowered[name.lower()] = str(value).strip()
    names = [name.lower() for name in signed_headers]
    lines = []
    for name in names:
        if name not in lowered:
            raise ValueError(f"signed header {name!r} is not in the request")
        lines.append(f"{name}:{lowered[name]}")
    return "\n".join(
        [
            method.upper(),
            canonical_uri(parts.path),
            canonical_query(parts.query),
            "\n".join(lines) + "\n",
            ";".join(names),
            _payload_hash(headers, body),
        ]
    )


def canonical_uri(path: str) -> str:
    """Percent-encode each path segment the SDK's way and make sure the path ends with `/`."""
    encoded = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return encoded if encoded.endswith("/") else encoded + "/"


def canonical_query(query: str) -> str:
    """Sort the decoded (name, value) pairs of a query string and re-encode them the SDK's way.

    `+` is read as a space, as in any form-encoded query; callers that build URLs should encode
    a space as `%20` (see `encode_query`) so no server can read it differently.
    """
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{_encode(name)}={_encode(value)}" for name, value in pairs)


def encode_query(params: Mapping[str, object] | list[tuple[str, object]]) -> str:
    """Encode query parameters exactly as the canonical request does (booleans as true/false).

    Sending the canonical form on the wire, as the SDK does, leaves no room for a server to
    decode the query differently from how it was signed.
    """
    items = params.items() if isinstance(params, Mapping) else params
    pairs = [(str(name), _query_value(value)) for name, value in items]
    return "&".join(f"{_encode(name)}={_encode(value)}" for name, value in sorted(pairs))


def format_date(when: datetime) -> str:
    """Render a time as `X-Sdk-Date` wants it (UTC, basic ISO 8601); naive times count as UTC."""
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.strftime(DATE_FORMAT)


def parse_date(value: str) -> datetime:
    """Read an `X-Sdk-Date` value as an aware UTC datetime; `ValueError` if malformed."""
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC)


def _payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    if not body:
        return EMPTY_BODY_SHA256
    declared = _get(headers, CONTENT_SHA256_HEADER)
    if declared:
        return declared.strip()
    return _sha256_hex(body)


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _encode(text: str) -> str:
    # The SDK keeps only unreserved `~` (and letters, digits, `_.-`) and encodes everything else,
    # including `/`, `+`, `=`, `&` and spaces.
    return quote(text, safe="~")


def _host_of(url: str) -> str:
    netloc = urlsplit(url).netloc
    return netloc.rpartition("@")[2]  # never sign (or send) user:password@


def _get(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
