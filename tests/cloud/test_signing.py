"""AK/SK signing agrees with the official Huawei Cloud SDK, byte for byte.

Each case is signed twice at the same fixed time: once by `huaweicloudsdkcore`'s own signer
(through `BasicCredentials.sign_request`, the path every official SDK client takes) and once by
our `AkSkAuth`/`signing.sign`; the `Authorization` headers must be identical.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest

from ims_portal.cloud import signing
from ims_portal.cloud.auth import AkSkAuth

AK = "HPUAEXAMPLEAK0000001"
SK = "sdk-cross-check-secret-key"
PROJECT = "0605767e5a80d5762fb2c0142f5a4d6f"
WHEN = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
EXPORT_BODY = json.dumps({"bucket_url": "b:f.qcow2", "file_format": "qcow2"}).encode()

CASES = [
    pytest.param("GET", "https://ims.example.com", "/v2/cloudimages", [], b"", id="get-no-query"),
    pytest.param(
        "GET",
        "https://ims.example.com",
        "/v2/cloudimages",
        [("__imagetype", "private"), ("status", "active"), ("limit", "100")],
        b"",
        id="get-query",
    ),
    pytest.param(
        "GET",
        "http://127.0.0.1:8780",
        "/v2/cloudimages",
        [("name", "web 01+x/ü~"), ("marker", "a1b2"), ("__whole_image", "false"), ("id", "")],
        b"",
        id="get-query-needing-encoding-and-port",
    ),
    pytest.param(
        "POST",
        "https://ims.example.com",
        "/v1/cloudimages/d164b5df-1bc3-4c3f-893e-3e471fd16e64/file",
        [],
        EXPORT_BODY,
        id="post-body",
    ),
    pytest.param(
        "POST",
        "https://ims.example.com:8443",
        "/v1/cloudimages/d164b5df/file",
        [("dry_run", "true")],
        EXPORT_BODY,
        id="post-body-and-query",
    ),
    pytest.param(
        "GET",
        "https://ims.example.com",
        f"/v1/{PROJECT}/jobs/ff8080814dbd65d7014dbe0d84db0013",
        [],
        b"",
        id="get-status-call",
    ),
]


def sdk_authorization(method: str, base: str, path: str, query, body: bytes, headers: dict) -> str:
    """Sign with the official SDK at WHEN and return its Authorization header."""
    parts = urlsplit(base)
    request = SdkRequest(
        method=method,
        schema=parts.scheme,
        host=parts.netloc,
        resource_path=path,
        query_params=list(query),
        header_params={**headers, "X-Sdk-Date": signing.format_date(WHEN)},
        body=body,
    )
    BasicCredentials(AK, SK, PROJECT).sign_request(request)
    return request.header_params["Authorization"]


@pytest.mark.parametrize(("method", "base", "path", "query", "body"), CASES)
def test_auth_headers_match_the_official_sdk(method, base, path, query, body):
    headers = {"Content-Type": "application/json"} if body else {}
    url = base + path + ("?" + signing.encode_query(query) if query else "")

    ours = AkSkAuth(AK, SK, PROJECT, clock=lambda: WHEN).headers_for(method, url, headers, body)

    assert ours["Authorization"] == sdk_authorization(method, base, path, query, body, headers)
    assert ours["X-Sdk-Date"] == "20240501T100000Z"
    assert ours["X-Project-Id"] == PROJECT
    assert ours["Host"] == urlsplit(base).netloc


@pytest.mark.parametrize(("method", "base", "path", "query", "body"), CASES)
def test_sign_matches_the_sdk_with_extra_headers(method, base, path, query, body):
    headers = {"Content-Type": "application/json;charset=UTF-8", "X-Language": "en-us"}
    url = base + path + ("?" + signing.encode_query(query) if query else "")

    # The SDK adds X-Project-Id itself, so sign the same header set here.
    ours = signing.sign(method, url, {**headers, "X-Project-Id": PROJECT}, body, AK, SK, when=WHEN)

    assert ours["Authorization"] == sdk_authorization(method, base, path, query, body, headers)


def test_a_non_json_body_is_declared_unsigned_like_the_sdk_does():
    headers = {"Content-Type": "application/octet-stream", "X-Project-Id": PROJECT}

    ours = signing.sign("PUT", "https://obs.example.com/x", headers, b"\x00\x01", AK, SK, when=WHEN)

    assert ours[signing.CONTENT_SHA256_HEADER] == signing.UNSIGNED_PAYLOAD
    assert ours["Authorization"] == sdk_authorization(
        "PUT", "https://obs.example.com", "/x", [], b"\x00\x01", headers
    )


def test_a_verifier_recomputes_the_same_signature():
    url = "https://ims.example.com/v2/cloudimages?limit=10&__imagetype=private"
    added = signing.sign("GET", url, {"Accept": "application/json"}, b"", AK, SK)
    received = {"Accept": "application/json", "User-Agent": "python-requests", **added}

    access, signed_headers, signature = signing.parse_authorization(received["Authorization"])

    assert access == AK
    assert signed_headers == ["accept", "host", "x-sdk-date"]
    recomputed = signing.signature_for("GET", url, received, signed_headers, b"", SK)
    assert hmac.compare_digest(recomputed, signature)


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("method", "DELETE"),
        ("url", "https://ims.example.com/v2/cloudimages?limit=11"),
        ("body", b'{"x":1}'),
        ("sk", "another-secret"),
        ("host", "evil.example.com"),
    ],
)
def test_any_tampering_changes_the_signature(change, value):
    url = "https://ims.example.com/v2/cloudimages?limit=10"
    added = signing.sign("GET", url, {}, b"", AK, SK, when=WHEN)
    _, signed_headers, signature = signing.parse_authorization(added["Authorization"])
    request = {"method": "GET", "url": url, "body": b"", "sk": SK, "headers": dict(added)}
    if change == "host":
        request["headers"]["Host"] = value
    else:
        request[change] = value

    recomputed = signing.signature_for(
        request["method"],
        request["url"],
        request["headers"],
        signed_headers,
        request["body"],
        request["sk"],
    )

    assert recomputed != signature


def test_query_order_and_encoding_do_not_matter_to_the_signature():
    a = "https://h/v2/cloudimages?b=2&a=x%20y"
    b = "https://h/v2/cloudimages?a=x+y&b=2"
    headers = {"X-Sdk-Date": "20240501T100000Z", "Host": "h"}
    signed = ["host", "x-sdk-date"]

    assert signing.signature_for("GET", a, headers, signed, b"", SK) == signing.signature_for(
        "GET", b, headers, signed, b"", SK
    )


def test_canonical_uri_gets_a_trailing_slash_and_encoded_segments():
    assert signing.canonical_uri("/v2/cloudimages") == "/v2/cloudimages/"
    assert signing.canonical_uri("/v1/a%20b/file/") == "/v1/a%20b/file/"
    assert signing.canonical_uri("") == "/"


def test_dates_are_rendered_in_utc():
    cest = timezone(timedelta(hours=2))
    assert signing.format_date(datetime(2024, 5, 1, 12, 0, tzinfo=cest)) == "20240501T100000Z"
    assert signing.format_date(datetime(2024, 5, 1, 10, 0)) == "20240501T100000Z"
    assert signing.parse_date("20240501T100000Z") == WHEN


@pytest.mark.parametrize(
    "value",
    [
        "",
        "SDK-HMAC-SHA256",
        "SDK-HMAC-SM3 Access=AK, SignedHeaders=host, Signature=abcd",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=not-hex",
        "SDK-HMAC-SHA256 Access=AK, Signature=abcd",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x, Signature=abcd",
        "Bearer abc",
    ],
)
def test_malformed_authorization_is_refused(value):
    with pytest.raises(ValueError):
        signing.parse_authorization(value)


def test_signature_for_needs_the_date_and_every_signed_header():
    with pytest.raises(ValueError, match="X-Sdk-Date"):
        signing.signature_for("GET", "https://h/", {"Host": "h"}, ["host"], b"", SK)
    with pytest.raises(ValueError, match="x-project-id"):
        signing.signature_for(
            "GET",
            "https://h/",
            {"Host": "h", "X-Sdk-Date": "20240501T100000Z"},
            ["host", "x-project-id"],
            b"",
            SK,
        )
    with pytest.raises(ValueError):
        signing.signature_for("GET", "https://h/", {"X-Sdk-Date": "yesterday"}, [], b"", SK)
