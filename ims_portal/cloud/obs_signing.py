"""OBS's own request signature (`Authorization: OBS <AK>:<signature>`), as the OBS API reference
and the official `esdk-obs-python` compute it.

    StringToSign = VERB "\\n"
                   Content-MD5 "\\n"
                   Content-Type "\\n"
                   Date "\\n"                 empty when x-obs-date is sent (always, here)
                   CanonicalizedHeaders       x-obs-* headers: lower-cased, sorted, "name:value\\n"
                   CanonicalizedResource      "/" bucket "/" key, then signed sub-resources

    Signature = Base64(HMAC-SHA1(SK, StringToSign))

The resource depends on the addressing: a bucket-level request is `/<bucket>/` when the bucket
is in the host name (virtual-host style) and `/<bucket>` when it is the first path segment
(path style); an object is `/<bucket>/<key>` either way, with the key percent-encoded as in the
URL. Sub-resources such as `?location` or `?storageClass` are appended after a `?`, sorted by
name, a bare name where there is no value.

Temporary credentials add `x-obs-security-token`, which is signed like any `x-obs-*` header.

This module knows nothing of HTTP libraries: it takes and returns plain strings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import quote

AUTH_PREFIX = "OBS"
DATE_HEADER = "x-obs-date"
SECURITY_TOKEN_HEADER = "x-obs-security-token"  # noqa: S105 - a header name, not a credential
HEADER_PREFIX = "x-obs-"

type SubResources = Sequence[tuple[str, str | None]]


def http_date(when: datetime) -> str:
    """`x-obs-date` as OBS wants it: an RFC 1123 date in GMT; naive times count as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return format_datetime(when.astimezone(UTC), usegmt=True)


def encode_key(key: str) -> str:
    """An object key as it goes into the URL path and the signed resource (`/` and `~` kept)."""
    return quote(key, safe="/~")


def canonical_resource(
    bucket: str, key: str = "", sub_resources: SubResources = (), *, path_style: bool
) -> str:
    """The CanonicalizedResource of a request to `bucket` (blank: the service) and `key`."""
    if not bucket:
        resource = "/" + encode_key(key) if key else "/"
    elif key:
        resource = f"/{bucket}/{encode_key(key)}"
    else:
        resource = f"/{bucket}" if path_style else f"/{bucket}/"
    if sub_resources:
        parts = [
            name if value is None else f"{name}={value}"
            for name, value in sorted(sub_resources, key=lambda item: item[0])
        ]
        resource += "?" + "&".join(parts)
    return resource


def string_to_sign(method: str, headers: Mapping[str, str], resource: str) -> str:
    """The text the signature covers, for a request carrying `headers` (any case)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    # With x-obs-date sent, the Date line is signed empty (the date is among the x-obs-*).
    date = "" if DATE_HEADER in lowered else lowered.get("date", "")
    canonical_headers = "".join(
        f"{name}:{lowered[name]}\n" for name in sorted(lowered) if name.startswith(HEADER_PREFIX)
    )
    return "\n".join(
        [
            method.upper(),
            lowered.get("content-md5", ""),
            lowered.get("content-type", ""),
            date,
            canonical_headers + resource,
        ]
    )


def signature(sk: str, text: str) -> str:
    """Base64 of HMAC-SHA1 of `text` keyed with the secret key."""
    digest = hmac.new(sk.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sign(
    method: str,
    bucket: str,
    key: str,
    sub_resources: SubResources,
    headers: Mapping[str, str],
    ak: str,
    sk: str,
    *,
    path_style: bool,
    security_token: str | None = None,
    when: datetime | None = None,
) -> dict[str, str]:
    """The headers to add so the request carries a valid OBS signature.

    Always `x-obs-date` (from `when`, default now) unless `headers` has one, `Authorization`,
    and `x-obs-security-token` when temporary credentials are used.
    """
    added: dict[str, str] = {}
    present = {name.lower() for name in headers}
    if DATE_HEADER not in present:
        added[DATE_HEADER] = http_date(when or datetime.now(UTC))
    if security_token:
        added[SECURITY_TOKEN_HEADER] = security_token
    resource = canonical_resource(bucket, key, sub_resources, path_style=path_style)
    text = string_to_sign(method, {**headers, **added}, resource)
    added["Authorization"] = f"{AUTH_PREFIX} {ak}:{signature(sk, text)}"
    return added
