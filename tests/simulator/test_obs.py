"""The simulator's OBS: its listener, wire format, signature check, temporary keys, faults,
control calls, and the one bucket/object store that IMS's checks read and exports write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

import pytest
import requests

from ims_portal.cloud import obs_signing
from ims_portal.simulator import seed
from tests.simulator.conftest import TIMEOUT, get_token

SECURITY_TOKENS = "/v3.0/OS-CREDENTIAL/securitytokens"
NS = "{http://obs.otc.t-systems.com/doc/2016-01-01/}"


def obs(
    sim,
    method: str,
    bucket: str = "",
    key: str = "",
    *,
    sub: tuple[tuple[str, str | None], ...] = (),
    headers: dict[str, str] | None = None,
    keys: tuple[str, str, str | None] | None = None,
    when: datetime | None = None,
    virtual: bool = False,
    signed: bool = True,
) -> requests.Response:
    """One OBS request to the simulator, signed as OBS wants (path style unless `virtual`)."""
    ak, sk, token = keys or (sim.ak, sim.sk, None)
    netloc = urlsplit(sim.obs_url).netloc
    path = ""
    if bucket and not virtual:
        path = "/" + quote(bucket, safe="")
    path += "/" + obs_signing.encode_key(key) if key else ("" if path else "/")
    query = "&".join(name if value is None else f"{name}={value}" for name, value in sub)
    url = sim.obs_url + path + (f"?{query}" if query else "")
    sent = dict(headers or {})
    if virtual:
        sent["Host"] = f"{bucket}.obs.sim.test:{urlsplit(sim.obs_url).port}" if bucket else netloc
    if signed:
        sent |= obs_signing.sign(
            method, bucket, key, sub, sent, ak, sk, path_style=not virtual,
            security_token=token, when=when,
        )  # fmt: skip
    return requests.request(method, url, headers=sent, timeout=TIMEOUT)


def xml(content: bytes) -> ElementTree.Element:
    return ElementTree.fromstring(content)  # noqa: S314 - our own simulator's answer


def error_of(response: requests.Response) -> dict[str, str]:
    root = xml(response.content)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


def temporary_keys(sim, **body_changes) -> dict[str, str]:
    token = get_token(sim)
    body = {"auth": {"identity": {"methods": ["token"], **body_changes}}}
    response = requests.post(
        sim.url + SECURITY_TOKENS, json=body, headers={"X-Auth-Token": token}, timeout=TIMEOUT
    )
    assert response.status_code == 201, response.text
    return response.json()["credential"]


# --- the wire format --------------------------------------------------------------------------


def test_the_bucket_list_is_obs_xml_naming_regions_when_asked(sim):
    plain = obs(sim, "GET")
    located = obs(sim, "GET", headers={"x-obs-location": "true"})

    assert located.status_code == 200, located.text
    assert located.headers["Content-Type"] == "application/xml"
    assert located.headers["Server"] == "OBS"
    assert len(located.headers["x-obs-request-id"]) == 32
    assert "x-obs-id-2" in located.headers and "X-Request-Id" not in located.headers
    root = xml(located.content)
    assert root.tag == f"{NS}ListAllMyBucketsResult"
    assert root.findtext(f"{NS}Owner/{NS}ID")
    entries = {
        entry.findtext(f"{NS}Name"): entry for entry in root.iterfind(f"{NS}Buckets/{NS}Bucket")
    }
    assert set(entries) == {spec.name for spec in seed.BUCKETS if spec.listed}
    assert entries["dr-replica-images"].findtext(f"{NS}Location") == "eu-nl"
    assert entries["ims-exports"].findtext(f"{NS}CreationDate") == "2023-11-02T08:14:51.000Z"
    assert entries["ims-exports"].findtext(f"{NS}BucketType") == "OBJECT"
    assert b"<Location>" not in plain.content  # as OBS: only with x-obs-location: true


@pytest.mark.parametrize(
    ("bucket", "region", "storage_class"),
    [
        ("ims-exports", "eu-de", "STANDARD"),
        ("warm-class-bucket", "eu-de", "WARM"),
        ("compliance-archive", "eu-de", "COLD"),
        ("dr-replica-images", "eu-nl", "STANDARD"),
    ],
)
def test_head_bucket_answers_with_obs_headers_and_no_body(sim, bucket, region, storage_class):
    response = obs(sim, "HEAD", bucket)

    assert response.status_code == 200
    assert response.headers["x-obs-bucket-location"] == region
    assert response.headers["x-obs-storage-class"] == storage_class
    assert response.headers["x-obs-version"] == "3.0"
    assert response.content == b""


@pytest.mark.parametrize(
    ("bucket", "status"),
    [(seed.NO_SUCH_BUCKET, 404), ("finance-restricted", 403), ("partner-shared-images", 403)],
)
def test_head_of_a_missing_or_closed_bucket_is_status_only(sim, bucket, status):
    response = obs(sim, "HEAD", bucket)

    assert response.status_code == status
    assert response.content == b""
    assert response.headers["x-obs-request-id"]


def test_location_and_storage_class_sub_resources(sim):
    location = obs(sim, "GET", "other-region-bucket", sub=(("location", None),))
    storage = obs(sim, "GET", "archive-class-bucket", sub=(("storageClass", None),))

    assert xml(location.content).text == "eu-nl"
    assert xml(storage.content).tag == f"{NS}StorageClass"
    assert xml(storage.content).text == "COLD"


def test_errors_with_a_body_are_obs_xml(sim):
    missing = obs(sim, "GET", seed.NO_SUCH_BUCKET, sub=(("location", None),))
    closed = obs(sim, "GET", "finance-restricted", sub=(("location", None),))

    assert missing.status_code == 404
    assert error_of(missing)["Code"] == "NoSuchBucket"
    assert error_of(missing)["BucketName"] == seed.NO_SUCH_BUCKET
    assert error_of(missing)["RequestId"] == missing.headers["x-obs-request-id"]
    assert closed.status_code == 403
    assert error_of(closed)["Code"] == "AccessDenied"


def test_head_object_gives_length_quoted_etag_and_dates(sim):
    response = obs(sim, "HEAD", "ims-exports", "existing.qcow2")

    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == seed.EXISTING_OBJECT_SIZE
    assert response.headers["ETag"].startswith('"') and response.headers["ETag"].endswith('"')
    assert parsedate_to_datetime(response.headers["Last-Modified"]) == datetime(
        2025, 1, 20, 14, 3, 27, tzinfo=UTC
    )
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.content == b""


def test_head_of_a_missing_object_is_404(sim):
    assert obs(sim, "HEAD", "ims-exports", "nothing-here.qcow2").status_code == 404
    assert obs(sim, "HEAD", seed.NO_SUCH_BUCKET, "x.qcow2").status_code == 404


def test_virtual_host_style_takes_the_bucket_from_the_host(sim):
    bucket = obs(sim, "HEAD", "warm-class-bucket", virtual=True)
    item = obs(sim, "HEAD", "ims-exports", "existing.qcow2", virtual=True)
    listing = obs(sim, "GET", virtual=True)

    assert bucket.headers["x-obs-storage-class"] == "WARM"
    assert item.status_code == 200
    assert listing.status_code == 200
    assert [entry["path"] for entry in sim.control.requests(service="obs")] == [
        "/",
        "/existing.qcow2",
        "/",
    ]


@pytest.mark.parametrize(
    ("method", "bucket", "key", "status", "code"),
    [
        ("PUT", "ims-exports", "new.qcow2", 405, "MethodNotAllowed"),
        ("DELETE", "ims-exports", "", 405, "MethodNotAllowed"),
        ("POST", "", "", 405, "MethodNotAllowed"),
        ("GET", "ims-exports", "existing.qcow2", 501, "NotImplemented"),
        ("GET", "ims-exports", "", 501, "NotImplemented"),
    ],
)
def test_calls_the_simulator_does_not_play_are_refused_in_obs_words(
    sim, method, bucket, key, status, code
):
    response = obs(sim, method, bucket, key)

    assert response.status_code == status
    assert error_of(response)["Code"] == code


# --- signatures ----------------------------------------------------------------------------------


def test_an_unsigned_request_is_refused(sim):
    response = obs(sim, "GET", signed=False)

    assert response.status_code == 403
    assert error_of(response)["Code"] == "AccessDenied"


def test_a_wrong_secret_key_does_not_match(sim):
    response = obs(sim, "GET", keys=(sim.ak, "wrong-secret-key", None))

    assert response.status_code == 403
    assert error_of(response)["Code"] == "SignatureDoesNotMatch"


def test_a_signature_for_another_bucket_does_not_match(sim):
    signed = obs_signing.sign("HEAD", "image-backups", "", (), {}, sim.ak, sim.sk, path_style=True)

    response = requests.head(sim.obs_url + "/ims-exports", headers=signed, timeout=TIMEOUT)

    assert response.status_code == 403  # a HEAD: no body to say why


def test_an_unknown_access_key_is_named_as_such(sim):
    response = obs(sim, "GET", keys=("NOSUCHACCESSKEY00000", sim.sk, None))

    assert response.status_code == 403
    assert error_of(response)["Code"] == "InvalidAccessKeyId"


@pytest.mark.parametrize(("minutes", "status"), [(14, 200), (-14, 200), (16, 403), (-16, 403)])
def test_a_request_dated_more_than_15_minutes_off_is_too_skewed(sim, minutes, status):
    response = obs(sim, "GET", when=datetime.now(UTC) + timedelta(minutes=minutes))

    assert response.status_code == status
    if status == 403:
        assert error_of(response)["Code"] == "RequestTimeTooSkewed"


def test_the_date_header_serves_when_x_obs_date_is_absent(sim):
    date = obs_signing.http_date(datetime.now(UTC))

    response = obs(sim, "GET", headers={"Date": date, "x-obs-date": date})
    with_date_only = requests.get(
        sim.obs_url + "/",
        headers={
            "Date": date,
            "Authorization": "OBS {}:{}".format(
                sim.ak,
                obs_signing.signature(
                    sim.sk, obs_signing.string_to_sign("GET", {"Date": date}, "/")
                ),
            ),
        },
        timeout=TIMEOUT,
    )

    assert response.status_code == 200
    assert with_date_only.status_code == 200, with_date_only.text


# --- temporary keys ----------------------------------------------------------------------------


def test_iam_trades_a_token_for_temporary_keys_that_obs_accepts(sim):
    credential = temporary_keys(sim, token={"duration_seconds": "1800"})
    keys = (credential["access"], credential["secret"], credential["securitytoken"])

    response = obs(sim, "HEAD", "ims-exports", keys=keys)

    assert response.status_code == 200
    expires = datetime.fromisoformat(credential["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    assert sim.control.requests(service="obs")[0]["auth"] == "temporary"


def test_temporary_keys_need_their_own_security_token(sim):
    credential = temporary_keys(sim)
    access, secret, token = credential["access"], credential["secret"], credential["securitytoken"]

    without = obs(sim, "GET", keys=(access, secret, None))
    wrong = obs(sim, "GET", keys=(access, secret, token[:-2] + "xx"))
    permanent_with_token = obs(sim, "GET", keys=(sim.ak, sim.sk, token))

    assert (without.status_code, error_of(without)["Code"]) == (403, "InvalidAccessKeyId")
    assert (wrong.status_code, error_of(wrong)["Code"]) == (400, "InvalidToken")
    assert permanent_with_token.status_code == 400


def test_expired_temporary_keys_are_refused(sim):
    credential = temporary_keys(sim)
    keys = (credential["access"], credential["secret"], credential["securitytoken"])
    sim.control.expire_tokens()

    response = obs(sim, "GET", keys=keys)

    assert (response.status_code, error_of(response)["Code"]) == (400, "ExpiredToken")


def test_the_token_can_come_in_the_body_instead_of_the_header(sim):
    token = get_token(sim)
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}

    response = requests.post(sim.url + SECURITY_TOKENS, json=body, timeout=TIMEOUT)

    assert response.status_code == 201
    assert set(response.json()["credential"]) == {"access", "secret", "securitytoken", "expires_at"}


@pytest.mark.parametrize(
    ("body", "token", "status"),
    [
        ({"auth": {"identity": {"methods": ["token"]}}}, None, 401),
        ({"auth": {"identity": {"methods": ["token"]}}}, "MIInot-a-token", 401),
        ({"auth": {"identity": {"methods": ["password"]}}}, "valid", 400),
        ({"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 899}}}}, "valid", 400),
        ({"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 86401}}}}, "valid", 400),
        ({"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": "x"}}}}, "valid", 400),
        ({"auth": {}}, "valid", 400),
    ],
)  # fmt: skip
def test_iam_refuses_bad_trades_in_its_own_shape(sim, body, token, status):
    headers = {}
    if token:
        headers["X-Auth-Token"] = get_token(sim) if token == "valid" else token

    response = requests.post(sim.url + SECURITY_TOKENS, json=body, headers=headers, timeout=TIMEOUT)

    assert response.status_code == status
    assert response.json()["error"]["code"] == status


def test_an_expired_token_buys_no_keys(sim):
    token = get_token(sim)
    sim.control.expire_tokens()
    body = {"auth": {"identity": {"methods": ["token"]}}}

    response = requests.post(
        sim.url + SECURITY_TOKENS, json=body, headers={"X-Auth-Token": token}, timeout=TIMEOUT
    )

    assert response.status_code == 401


# --- faults ------------------------------------------------------------------------------------


def test_obs_down_resets_connections_while_ims_answers(sim, ims):
    sim.control.obs_down()

    with pytest.raises(requests.ConnectionError):
        obs(sim, "GET")
    assert ims.get("/v2/cloudimages", limit=1).status_code == 200
    sim.control.clear_faults()
    assert obs(sim, "GET").status_code == 200


def test_obs_forbidden_answers_403_to_everything(sim):
    sim.control.obs_forbidden()

    listing, head = obs(sim, "GET"), obs(sim, "HEAD", "ims-exports")

    assert (listing.status_code, error_of(listing)["Code"]) == (403, "AccessDenied")
    assert head.status_code == 403 and head.content == b""


def test_an_obs_503_can_ask_to_come_back_later(sim):
    sim.control.obs_fault(503, count=1, retry_after=2)

    response = obs(sim, "GET")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert error_of(response)["Code"] == "ServiceUnavailable"
    assert obs(sim, "GET").status_code == 200  # count=1: spent


def test_an_ims_fault_can_drop_connections_too(sim, ims):
    sim.control.fault(drop=True, count=1, paths="/v2/cloudimages")

    with pytest.raises(requests.ConnectionError):
        ims.get("/v2/cloudimages", limit=1)
    assert ims.get("/v2/cloudimages", limit=1).status_code == 200
    assert obs(sim, "GET").status_code == 200


@pytest.mark.parametrize(
    "spec",
    [
        {"service": "s3", "status": 503},
        {"service": "obs", "drop": True, "status": 503},
        {"service": "obs", "drop": "yes"},
        {"service": "obs"},
    ],
)
def test_bad_faults_are_refused(sim, spec):
    response = requests.post(sim.url + "/_sim/faults", json=spec, timeout=TIMEOUT)

    assert response.status_code == 400


# --- control calls -----------------------------------------------------------------------------


def test_an_added_bucket_answers_until_the_next_reset(sim):
    sim.control.add_bucket("team-images", region="eu-nl", storage_class="WARM", listed=False)

    assert obs(sim, "HEAD", "team-images").headers["x-obs-storage-class"] == "WARM"
    assert b"team-images" not in obs(sim, "GET").content
    sim.control.reset()
    assert obs(sim, "HEAD", "team-images").status_code == 404


@pytest.mark.parametrize(
    "spec",
    [
        {"name": ""},
        {"region": "eu-de"},
        {"name": "b", "storage_class": "GLACIER"},
        {"name": "b", "listed": "no"},
        {"name": "b", "colour": "blue"},
        {"name": "b", "created": "yesterday"},
    ],
)
def test_bad_buckets_are_refused(sim, spec):
    assert requests.post(sim.url + "/_sim/buckets", json=spec, timeout=TIMEOUT).status_code == 400


def test_objects_can_be_put_listed_and_deleted(sim):
    sim.control.put_object("image-backups", "a/b.qcow2", 0, last_modified="2025-01-01T00:00:00Z")

    details = sim.control.object_details()["image-backups"]["a/b.qcow2"]
    assert details == {
        "size": 0,
        "etag": "d41d8cd98f00b204e9800998ecf8427e",  # the MD5 of nothing
        "last_modified": "2025-01-01T00:00:00.000Z",
        "content_type": "application/octet-stream",
    }
    assert sim.control.objects()["image-backups"] == ["a/b.qcow2"]
    assert obs(sim, "HEAD", "image-backups", "a/b.qcow2").headers["Content-Length"] == "0"
    assert sim.control.delete_object("image-backups", "a/b.qcow2") is True
    assert sim.control.delete_object("image-backups", "a/b.qcow2") is False
    assert obs(sim, "HEAD", "image-backups", "a/b.qcow2").status_code == 404


@pytest.mark.parametrize(
    "spec",
    [
        {"bucket": seed.NO_SUCH_BUCKET, "key": "x", "size": 1},
        {"bucket": "ims-exports", "key": "", "size": 1},
        {"bucket": "ims-exports", "key": "x", "size": -1},
        {"bucket": "ims-exports", "key": "x", "size": "big"},
    ],
)
def test_bad_objects_are_refused(sim, spec):
    assert requests.post(sim.url + "/_sim/objects", json=spec, timeout=TIMEOUT).status_code == 400


def test_the_seed_has_every_kind_of_bucket_a_picker_must_explain(sim):
    buckets = {bucket["name"]: bucket for bucket in sim.control.buckets()}
    usable = [
        b for b in buckets.values()
        if b["storage_class"] == "STANDARD" and b["region"] == sim.region and b["accessible"]
    ]  # fmt: skip

    assert len(usable) >= 3
    assert {b["storage_class"] for b in buckets.values()} == {"STANDARD", "WARM", "COLD"}
    assert any(b["region"] != sim.region for b in buckets.values())
    assert any(b["listed"] and not b["accessible"] for b in buckets.values())
    assert any(not b["listed"] for b in buckets.values())
    assert seed.NO_SUCH_BUCKET not in buckets


# --- one store for IMS and OBS -----------------------------------------------------------------


@pytest.mark.parametrize(
    "bucket",
    [seed.NO_SUCH_BUCKET, "any-name-not-in-obs", "finance-restricted", "partner-shared-images"],
)
def test_ims_refuses_a_bucket_obs_does_not_open(ims, bucket):
    response = ims.export(seed.SMALL_CENTOS, bucket_url=f"{bucket}:x.qcow2")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "IMG.0069"


def test_ims_writes_into_a_bucket_added_through_control(ims, sim):
    sim.control.add_bucket("fresh-bucket")

    job = ims.wait_until_finished(
        ims.start_export(seed.SMALL_CENTOS, bucket_url="fresh-bucket:f.qcow2")
    )

    assert job["status"] == "SUCCESS"
    assert obs(sim, "HEAD", "fresh-bucket", "f.qcow2").status_code == 200


def test_ims_refuses_an_object_put_through_control(ims, sim):
    sim.control.put_object("image-backups", "taken.vmdk", 5)

    response = ims.export(
        seed.SMALL_CENTOS, bucket_url="image-backups:taken.vmdk", file_format="vmdk"
    )

    assert response.json()["error"]["code"] == "IMG.0070"


@pytest.mark.parametrize(
    ("file_format", "quick", "low", "high"),
    [
        ("qcow2", None, 1.0, 1.3),
        ("vhd", None, 2.5, 3.0),
        ("vmdk", None, 1.2, 1.5),
        (None, True, 1.0, 1.0),
    ],
)
def test_a_successful_export_writes_an_object_sized_by_image_and_format(
    ims, sim, file_format, quick, low, high
):
    size = int(ims.images(id=seed.SMALL_UBUNTU)[0]["__image_size"])

    job_id = ims.start_export(
        seed.SMALL_UBUNTU, bucket_url="image-backups:disk", file_format=file_format, quick=quick
    )
    finished = ims.wait_until_finished(job_id)
    head = obs(sim, "HEAD", "image-backups", "disk")

    assert finished["status"] == "SUCCESS"
    written = int(head.headers["Content-Length"])
    assert low * size <= written <= high * size
    etag = head.headers["ETag"].strip('"')
    assert etag.rsplit("-", 1)[1] == str(-(-written // (100 * 1024**2)))
    end = datetime.fromisoformat(finished["end_time"].replace("Z", "+00:00"))
    assert abs(parsedate_to_datetime(head.headers["Last-Modified"]) - end) < timedelta(seconds=1)
    assert sim.control.object_details()["image-backups"]["disk"]["size"] == written


@pytest.mark.parametrize(
    ("outcome", "status", "length"), [("missing", 404, None), ("empty", 200, "0")]
)
def test_an_export_can_be_made_to_leave_no_object_or_an_empty_one(
    ims, sim, outcome, status, length
):
    sim.control.configure(export_object=outcome)

    job = ims.wait_until_finished(
        ims.start_export(seed.SMALL_CENTOS, bucket_url="ims-exports:o.qcow2")
    )
    head = obs(sim, "HEAD", "ims-exports", "o.qcow2")

    assert job["status"] == "SUCCESS"
    assert head.status_code == status
    if length is not None:
        assert head.headers["Content-Length"] == length


def test_export_object_must_be_a_known_outcome(sim):
    response = requests.post(
        sim.url + "/_sim/config", json={"export_object": "lost"}, timeout=TIMEOUT
    )

    assert response.status_code == 400
