"""AK/SK signing agrees with the official Huawei Cloud SDK, byte for byte, on both sides.

Each case is signed twice at the same fixed time: once by `huaweicloudsdkcore`'s own signer
(through `BasicCredentials.sign_request`, the path every official SDK client takes) and once by
our `AkSkAuth`/`signing.sign`; the `Authorization` headers must be identical.

The simulator's verifier (`ims_portal.simulator.signature`, written apart from the client's
signer) must accept what the SDK signs, as it arrives on the wire, and refuse it once any
signed part is changed; and the running simulator must let an SDK-signed call through.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from requests.structures import CaseInsensitiveDict

from ims_portal.cloud import signing
from ims_portal.cloud.auth import AkSkAuth
from ims_portal.simulator import seed
from ims_portal.simulator import signature as verifier

AK = "HPUAEXAMPLEAK0000001"
SK = "sdk-cross-check-secret-key"
PROJECT = "1a2b3c4d5e6f708192a3b4c5d6e7f809"
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
    pytest.param(
        "POST",
        "http://127.0.0.1:8780",
        "/v1/cloudimages/..%2F..%2Fv3%2Fauth%2Ftokens/file",
        [],
        EXPORT_BODY,
        id="post-encoded-slashes-in-a-segment",
    ),
]


def sdk_authorization(method: str, base: str, path: str, query, body: bytes, headers: dict) -> str:
    """Sign with the official SDK at WHEN and return its Authorization header."""
    _, sent = sdk_signed(method, base, path, query, body, headers)
    return sent["Authorization"]


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


# --- the simulator's verifier against the SDK ---------------------------------------------


def sdk_signed(method, base, path, query, body, headers, ak=AK, sk=SK, project=PROJECT, when=WHEN):
    """Sign with the official SDK; return (path and query as sent, every header as sent)."""
    parts = urlsplit(base)
    request = SdkRequest(
        method=method,
        schema=parts.scheme,
        host=parts.netloc,
        resource_path=path,
        query_params=list(query),
        header_params={**headers, "X-Sdk-Date": signing.format_date(when)},
        body=body,
    )
    BasicCredentials(ak, sk, project).sign_request(request)
    return request.uri, CaseInsensitiveDict(request.header_params)


def verifies(method, uri, headers, body, sk=SK) -> bool:
    """What the simulator's gateway concludes from a request as received."""
    path, _, query = uri.partition("?")
    credential = verifier.read_authorization(headers["Authorization"])
    expected = verifier.expected_signature(method, path, query, headers, credential, body, sk)
    return hmac.compare_digest(expected, credential.signature)


@pytest.mark.parametrize(("method", "base", "path", "query", "body"), CASES)
def test_the_simulator_verifier_accepts_what_the_sdk_signs(method, base, path, query, body):
    headers = {"Content-Type": "application/json"} if body else {}
    uri, sent = sdk_signed(method, base, path, query, body, headers)

    assert verifier.read_authorization(sent["Authorization"]).access_key == AK
    assert verifier.signing_time(sent) == WHEN.timestamp()
    assert verifies(method, uri, sent, body)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda r: {**r, "method": "DELETE"}, id="method"),
        pytest.param(lambda r: {**r, "uri": r["uri"].replace("cloudimages", "cloudimage")}, id="path"),
        pytest.param(lambda r: {**r, "uri": r["uri"] + "&limit=1"}, id="query-added"),
        pytest.param(lambda r: {**r, "uri": r["uri"].replace("100", "101")}, id="query-value"),
        pytest.param(lambda r: {**r, "body": b'{"x": 1}'}, id="body"),
        pytest.param(lambda r: {**r, "sk": "another-secret"}, id="secret-key"),
        pytest.param(lambda r: {**r, "headers": {**r["headers"], "Host": "evil.example.com"}}, id="host"),
        pytest.param(
            lambda r: {**r, "headers": {**r["headers"], "X-Project-Id": "0" * 32}}, id="project"
        ),
        pytest.param(
            lambda r: {**r, "headers": {**r["headers"], "X-Sdk-Date": "20240501T100001Z"}},
            id="date",
        ),
    ],
)  # fmt: skip
def test_the_simulator_verifier_refuses_a_tampered_sdk_request(tamper):
    query = [("__imagetype", "private"), ("limit", "100")]
    uri, sent = sdk_signed("GET", "https://ims.example.com", "/v2/cloudimages", query, b"", {})
    request = tamper({"method": "GET", "uri": uri, "headers": dict(sent), "body": b"", "sk": SK})

    assert not verifies(
        request["method"],
        request["uri"],
        CaseInsensitiveDict(request["headers"]),
        request["body"],
        request["sk"],
    )


def test_the_simulator_verifier_refuses_a_dropped_signed_header():
    uri, sent = sdk_signed("GET", "https://ims.example.com", "/v2/cloudimages", [], b"", {})
    del sent["X-Project-Id"]

    with pytest.raises(ValueError, match="x-project-id"):
        verifies("GET", uri, sent, b"")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "SDK-HMAC-SM3 Access=AK, SignedHeaders=host, Signature=abcd",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=not-hex",
        "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x, Signature=abcd",
        "Bearer abc",
    ],
)
def test_the_simulator_verifier_refuses_a_malformed_authorization(value):
    with pytest.raises(ValueError):
        verifier.read_authorization(value)


def send_sdk_signed(sim, method, path, query=(), body=b"", tamper_body=None):
    """Sign a call with the official SDK, at the current time, and send it to the simulator."""
    headers = {"Content-Type": "application/json"} if body else {}
    uri, sent = sdk_signed(
        method, sim.url, path, query, body, headers, sim.ak, sim.sk, sim.project_id,
        datetime.now(UTC),
    )  # fmt: skip
    return requests.request(
        method,
        sim.url + uri,
        headers=dict(sent),
        data=body if tamper_body is None else tamper_body,
        timeout=10,
    )


def test_the_running_simulator_accepts_calls_the_sdk_signed(sim):
    listing = send_sdk_signed(
        sim, "GET", "/v2/cloudimages", [("name", "rescue-toolkit-iso"), ("limit", "2")]
    )
    body = json.dumps({"bucket_url": "ims-exports:sdk-signed.qcow2", "file_format": "qcow2"})
    export = send_sdk_signed(
        sim, "POST", f"/v1/cloudimages/{seed.SMALL_CENTOS}/file", body=body.encode()
    )

    assert listing.status_code == 200, listing.text
    assert [image["id"] for image in listing.json()["images"]] == [seed.ISO]
    assert export.status_code == 200, export.text
    assert [entry["auth"] for entry in sim.control.requests()] == ["aksk", "aksk"]


def test_the_running_simulator_refuses_an_sdk_signed_call_with_a_changed_body(sim):
    body = json.dumps({"bucket_url": "ims-exports:a.qcow2", "file_format": "qcow2"}).encode()
    changed = body.replace(b"a.qcow2", b"b.qcow2")

    response = send_sdk_signed(
        sim, "POST", f"/v1/cloudimages/{seed.SMALL_CENTOS}/file", body=body, tamper_body=changed
    )

    assert response.status_code == 401, response.text
    assert response.json()["error_code"] == "APIGW.0301"
    assert sim.control.jobs() == []


def test_the_running_simulator_accepts_an_sdk_signed_v2_1_export(sim):
    body = json.dumps({"bucket_url": "ims-exports:sdk-v21.qcow2", "file_format": "qcow2"})

    export = send_sdk_signed(
        sim, "POST", f"/v2.1/cloudimages/{seed.SMALL_CENTOS}/file", body=body.encode()
    )

    assert export.status_code == 200, export.text
    [post] = sim.control.requests(method="POST")
    assert post["path"] == f"/v2.1/cloudimages/{seed.SMALL_CENTOS}/file"
    assert post["auth"] == "aksk"
