"""OBS signing agrees with the official OBS SDK (`esdk-obs-python`), byte for byte, on both sides.

Each call the portal makes (list buckets, bucket metadata, location, storage class, object
metadata) is signed twice at the same fixed time: once by the SDK's own `ObsClient`, whose
request is caught just before it would go on the wire, and once by our `obs_signing.sign`;
the `Authorization` headers must be identical. The SDK is given a host-name endpoint in
virtual-host style: with path style, or an endpoint that is an IP address, it falls back to
its AWS-compatible signature even when asked for OBS's.

Path style (which the SDK does not sign the OBS way) is cross-checked against the SDK's own
signer class (`obs.auth.Authentication`) called directly, with the OBS header dialect.

The simulator's verifier (`ims_portal.simulator.obs_signature`, written apart from the
client's signer) must accept what the SDK signs, and refuse it once a signed part changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from obs import ObsClient
from obs.auth import Authentication
from obs.convertor import Adapter
from requests.structures import CaseInsensitiveDict

from ims_portal.cloud import obs_signing
from ims_portal.simulator import obs_signature as verifier

AK = "OBSCROSSCHECKAK00001"
SK = "obs-cross-check-secret-key"
TOKEN = "gQpjbi1ub3J0aC00jTwW8M-temporary-security-token-example"
SERVER = "obs.eu-de.otc.t-systems.com"
WHEN = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
DATE = "Wed, 01 May 2024 10:00:00 GMT"

# The SDK builds a TLS context with a constant Python deprecates; nothing of ours.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")


class Caught(Exception):
    """Stops the SDK's request where it would be sent."""


def sdk_client(security_token: str | None = None) -> tuple[ObsClient, dict[str, Any]]:
    """An SDK client whose requests are caught before sending; returns it and the catch."""
    client = ObsClient(
        access_key_id=AK,
        secret_access_key=SK,
        security_token=security_token,
        server=f"https://{SERVER}",
        signature="obs",
        path_style=False,
        is_signature_negotiation=False,
        max_retry_count=0,
        security_providers=None,
    )
    caught: dict[str, Any] = {}

    def send(server, method, path, header, *args: Any, **kwargs: Any):
        caught.update(server=server, method=method, path=path, headers=dict(header))
        raise Caught

    client._send_request = send
    return client, caught


# (id, the SDK call, method, bucket, key, sub-resources, extra headers our client sends)
CALLS = [
    pytest.param(
        lambda c, h: c.listBuckets(extensionHeaders=h), "GET", "", "", (),
        {"x-obs-location": "true"}, id="list-buckets",
    ),
    pytest.param(
        lambda c, h: c.headBucket("ims-exports", extensionHeaders=h), "HEAD", "ims-exports",
        "", (), {}, id="head-bucket",
    ),
    pytest.param(
        lambda c, h: c.getBucketLocation("image-backups", extensionHeaders=h), "GET",
        "image-backups", "", (("location", None),), {}, id="bucket-location",
    ),
    pytest.param(
        lambda c, h: c.getBucketStoragePolicy("archive.eu-de.example", extensionHeaders=h),
        "GET", "archive.eu-de.example", "", (("storageClass", None),), {},
        id="bucket-storage-class",
    ),
    pytest.param(
        lambda c, h: c.getObjectMetadata("ims-exports", "web01.qcow2", extensionHeaders=h),
        "HEAD", "ims-exports", "web01.qcow2", (), {}, id="object-metadata",
    ),
    pytest.param(
        lambda c, h: c.getObjectMetadata(
            "ims-exports", "exports/2025/a b+c=d~ü.qcow2", extensionHeaders=h
        ),
        "HEAD", "ims-exports", "exports/2025/a b+c=d~ü.qcow2", (), {},
        id="object-key-needing-encoding",
    ),
]  # fmt: skip


def sdk_signed(call, security_token: str | None = None) -> dict[str, Any]:
    """What the SDK would send for `call`, dated WHEN."""
    client, caught = sdk_client(security_token)
    with pytest.raises(Caught):
        result = call(client, {"x-obs-date": DATE})
        raise AssertionError(f"the SDK did not reach the network layer: {result}")
    return caught


@pytest.mark.parametrize(("call", "method", "bucket", "key", "subs", "extra"), CALLS)
@pytest.mark.parametrize("token", [None, TOKEN], ids=["permanent-keys", "temporary-keys"])
def test_authorization_matches_the_official_sdk(call, method, bucket, key, subs, extra, token):
    sent = sdk_signed(call, token)
    headers = CaseInsensitiveDict(sent["headers"])

    ours = obs_signing.sign(
        method, bucket, key, subs, extra, AK, SK, path_style=False, security_token=token, when=WHEN
    )

    assert sent["method"] == method
    assert ours["Authorization"] == headers["Authorization"]
    assert ours["x-obs-date"] == headers["x-obs-date"] == DATE
    if token:
        assert ours["x-obs-security-token"] == headers["x-obs-security-token"] == token
    else:
        assert "x-obs-security-token" not in headers


@pytest.mark.parametrize(("call", "method", "bucket", "key", "subs", "extra"), CALLS)
def test_the_url_matches_the_sdk_in_virtual_host_style(call, method, bucket, key, subs, extra):
    from ims_portal.cloud.obs import ObsEndpoint

    sent = sdk_signed(call)
    endpoint = ObsEndpoint(f"https://{SERVER}", "virtual")
    url = endpoint.bucket_url(bucket, key) if bucket else endpoint.url + "/"

    assert url == f"https://{sent['server']}{sent['path'].split('?')[0]}"


@pytest.mark.parametrize(
    ("bucket", "key", "subs"),
    [
        ("ims-exports", "", ()),
        ("ims-exports", "dir/web 01.qcow2", ()),
        ("image-backups", "", (("location", None),)),
        ("image-backups", "", (("storageClass", None), ("acl", None))),
        ("", "", ()),
    ],
)
@pytest.mark.parametrize("path_style", [True, False], ids=["path-style", "virtual-host"])
def test_the_resource_and_signature_match_the_sdk_signer(bucket, key, subs, path_style):
    headers = {"x-obs-date": DATE, "x-obs-security-token": TOKEN}
    sdk = Authentication(AK, SK, path_style, Adapter("obs"), SERVER, False)

    expected = sdk.doAuth("HEAD", bucket, key, dict(subs), headers)

    ours = obs_signing.sign(
        "HEAD", bucket, key, subs, headers, AK, SK, path_style=path_style, when=WHEN
    )
    assert ours["Authorization"] == expected["Authorization"]


def test_the_string_to_sign_is_the_documented_one():
    text = obs_signing.string_to_sign(
        "GET",
        {"x-obs-date": DATE, "X-OBS-Location": "true", "Content-Type": "", "Date": "ignored"},
        "/",
    )

    assert text == f"GET\n\n\n\nx-obs-date:{DATE}\nx-obs-location:true\n/"


def test_without_x_obs_date_the_date_header_is_signed():
    text = obs_signing.string_to_sign("HEAD", {"Date": DATE}, "/b/")

    assert text == f"HEAD\n\n\n{DATE}\n/b/"


# --- the simulator's verifier against the SDK ---------------------------------------------


def received(sent: dict[str, Any]) -> tuple[CaseInsensitiveDict[str], str, str, str, bool]:
    """A caught SDK request as the simulator would receive it: headers, bucket, path, query,
    and whether the bucket came in the host name."""
    headers = CaseInsensitiveDict(sent["headers"])
    host = headers["Host"]
    virtual = host != SERVER
    bucket = host.split(".obs.", 1)[0] if virtual else ""
    path, _, query = sent["path"].partition("?")
    return headers, bucket, path, query, virtual


def accepted(sent: dict[str, Any], sk: str = SK, method: str | None = None) -> bool:
    headers, bucket, path, query, virtual = received(sent)
    claim = verifier.read_authorization(headers["Authorization"])
    text = verifier.text_to_sign(
        method or sent["method"], headers, verifier.resource(bucket, virtual, path, query)
    )
    return verifier.verifies(claim, text, sk)


@pytest.mark.parametrize(("call", "method", "bucket", "key", "subs", "extra"), CALLS)
@pytest.mark.parametrize("token", [None, TOKEN], ids=["permanent-keys", "temporary-keys"])
def test_the_simulator_verifier_accepts_what_the_sdk_signs(
    call, method, bucket, key, subs, extra, token
):
    sent = sdk_signed(call, token)

    assert verifier.read_authorization(sent["headers"]["Authorization"]).access_key == AK
    assert verifier.signing_time(CaseInsensitiveDict(sent["headers"])) == WHEN.timestamp()
    assert accepted(sent)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda s: {**s, "method": "GET"}, id="method"),
        pytest.param(lambda s: {**s, "path": "/other.qcow2"}, id="key"),
        pytest.param(
            lambda s: {**s, "headers": {**s["headers"], "Host": "other.obs.eu-de.otc.t-systems.com"}},
            id="bucket-in-host",
        ),
        pytest.param(lambda s: {**s, "path": s["path"] + "?acl"}, id="sub-resource-added"),
        pytest.param(
            lambda s: {**s, "headers": {**s["headers"], "x-obs-date": "Wed, 01 May 2024 10:00:01 GMT"}},
            id="date",
        ),
        pytest.param(
            lambda s: {**s, "headers": {**s["headers"], "x-obs-security-token": TOKEN + "x"}},
            id="security-token",
        ),
        pytest.param(
            lambda s: {**s, "headers": {**s["headers"], "x-obs-acl": "public-read"}},
            id="x-obs-header-added",
        ),
    ],
)  # fmt: skip
def test_the_simulator_verifier_refuses_a_tampered_sdk_request(tamper):
    sent = sdk_signed(
        lambda c, h: c.getObjectMetadata("ims-exports", "web01.qcow2", extensionHeaders=h), TOKEN
    )

    assert accepted(sent)
    assert not accepted(tamper(sent))


def test_the_simulator_verifier_refuses_another_secret_key():
    sent = sdk_signed(lambda c, h: c.headBucket("ims-exports", extensionHeaders=h))

    assert not accepted(sent, sk="another-secret-key")


def test_query_parameters_that_are_no_sub_resource_are_not_signed():
    base = verifier.resource("b", True, "/", "location")

    assert (
        verifier.resource("b", True, "/", "location&marker=x&max-keys=5") == base == "/b/?location"
    )
    assert verifier.resource("", False, "/b", "storageClass&acl") == "/b?acl&storageClass"


@pytest.mark.parametrize(
    "value",
    ["", "OBS", "OBS AK", "OBS AK:", "OBS AK:not base64!", "AWS AK:abcd", "Bearer x", "OBS :abcd"],
)
def test_the_simulator_verifier_refuses_a_malformed_authorization(value):
    with pytest.raises(ValueError):
        verifier.read_authorization(value)
