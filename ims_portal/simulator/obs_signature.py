"""Checking an OBS signature (`Authorization: OBS <AK>:<signature>`) as OBS does.

Like the gateway's AK/SK check (`signature.py`), this is the cloud's side, written apart from
the portal's signer: it rebuilds the string to sign from the request as it arrived.

    VERB \\n Content-MD5 \\n Content-Type \\n Date \\n CanonicalizedHeaders CanonicalizedResource

- Date is the `Date` header, or empty when an `x-obs-date` header is present (which then
  takes part as one of the x-obs headers);
- CanonicalizedHeaders: every header whose name starts with `x-obs-`, the name lower case,
  sorted by name, one `name:value` line each (repeated headers joined with commas);
- CanonicalizedResource: the path as sent, with the bucket in front of it when the bucket was
  in the host name (so `/bucket/` for a bucket-level call in virtual-host style, `/bucket` in
  path style), then the sub-resources OBS signs (`location`, `storageClass`, `acl`, ...)
  from the query, sorted by name, `name` or `name=value`, after a `?`.

The signature is the Base64 of HMAC-SHA1 of that text, keyed with the secret key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from ims_portal.simulator.wire import Headers

# The query parameters OBS treats as sub-resources, from the signing guide's list; any other
# parameter is left out of the signature.
SUB_RESOURCES = frozenset(
    name.lower()
    for name in (
        "CDNNotifyConfiguration", "acl", "append", "attname", "backtosource", "cors",
        "customdomain", "delete", "deletebucket", "directcoldaccess", "encryption",
        "inventory", "length", "lifecycle", "location", "logging", "metadata", "modify",
        "name", "notification", "partNumber", "policy", "position", "quota", "rename",
        "replication", "requestPayment", "response-cache-control",
        "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires", "restore",
        "storageClass", "storagePolicy", "storageinfo", "tagging", "torrent", "truncate",
        "uploadId", "uploads", "versionId", "versioning", "versions", "website",
        "x-image-process", "x-image-save-bucket", "x-image-save-object",
        "x-obs-security-token",
    )
)  # fmt: skip

_AUTHORIZATION = re.compile(r"OBS (?P<access>[^:\s]+):(?P<signature>[A-Za-z0-9+/]+={0,2})")


@dataclass(frozen=True, slots=True)
class Claim:
    """What an `Authorization: OBS ...` header claims: who signed, and the signature."""

    access_key: str
    signature: str


def read_authorization(value: str) -> Claim:
    """Read `OBS <AK>:<Base64 signature>`; `ValueError` for anything else."""
    match = _AUTHORIZATION.fullmatch(value.strip())
    if match is None:
        raise ValueError("not of the form 'OBS <access key>:<signature>'")
    return Claim(match["access"], match["signature"])


def signing_time(headers: Headers) -> float:
    """When the request says it was signed (`x-obs-date`, else `Date`), in epoch seconds;
    `ValueError` if neither is there or readable."""
    value = headers.get("x-obs-date") or headers.get("Date")
    if not value:
        raise ValueError("neither x-obs-date nor Date is set")
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"unreadable date {value!r}") from exc
    return moment.timestamp()


def resource(bucket: str, virtual_host: bool, path: str, query: str) -> str:
    """The CanonicalizedResource of a request: `path` and `query` as received."""
    base = f"/{bucket}{path}" if virtual_host and bucket else path or "/"
    signed = []
    for item in query.split("&"):
        if not item:
            continue
        name, equals, value = item.partition("=")
        name = unquote(name)
        if name.lower() in SUB_RESOURCES:
            signed.append((name, unquote(value) if equals else None))
    if not signed:
        return base
    signed.sort(key=lambda pair: pair[0])
    return (
        base
        + "?"
        + "&".join(name if value is None else f"{name}={value}" for name, value in signed)
    )


def text_to_sign(method: str, headers: Headers, canonical_resource: str) -> str:
    """The string to sign, rebuilt from the received headers."""
    obs_headers: dict[str, list[str]] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("x-obs-"):
            obs_headers.setdefault(lowered, []).append(value.strip())
    date = "" if "x-obs-date" in obs_headers else (headers.get("Date") or "")
    lines = "".join(f"{name}:{','.join(obs_headers[name])}\n" for name in sorted(obs_headers))
    return (
        f"{method.upper()}\n{headers.get('Content-MD5') or ''}\n"
        f"{headers.get('Content-Type') or ''}\n{date}\n{lines}{canonical_resource}"
    )


def expected_signature(text: str, secret_key: str) -> str:
    """The signature `text` must carry when signed with `secret_key`."""
    digest = hmac.new(secret_key.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verifies(claim: Claim, text: str, secret_key: str) -> bool:
    """Whether the claimed signature is the one `secret_key` gives for `text`."""
    return hmac.compare_digest(expected_signature(text, secret_key), claim.signature)
