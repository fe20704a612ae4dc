"""The OBS calls against the simulator over real HTTP, in both auth modes: the bucket list,
bucket and object metadata, their errors, retries, timeouts and faults, the temporary keys of
token mode, and both addressing styles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from requests.adapters import HTTPAdapter

from ims_portal.cloud import (
    Bucket,
    BucketInfo,
    ConfigurationError,
    ConnectionFailed,
    ObjectInfo,
    PermissionDenied,
    RequestRejected,
    ServerError,
    Timeout,
)
from ims_portal.cloud.obs import ObsEndpoint
from ims_portal.simulator import seed

from .conftest import AKSK, TOKEN, make_auth, wait_for_job, wait_for_log

SECURITY_TOKENS = "/v3.0/OS-CREDENTIAL/securitytokens"


def obs_requests(sim, method: str | None = None):
    return sim.control.requests(method=method, service="obs")


# --- the bucket list ----------------------------------------------------------------------


def test_the_list_names_every_bucket_of_the_account_in_every_region(client, sim, mode):
    buckets = client.list_buckets()

    listed = {spec.name for spec in seed.BUCKETS if spec.listed}
    assert {bucket.name for bucket in buckets} == listed
    by_name = {bucket.name: bucket for bucket in buckets}
    assert by_name["ims-exports"].region == sim.region
    assert by_name["other-region-bucket"].region == seed.other_region(sim.region)
    assert by_name["ims-exports"].created == datetime(2023, 11, 2, 8, 14, 51, tzinfo=UTC)
    assert all(isinstance(bucket, Bucket) for bucket in buckets)
    [call] = obs_requests(sim)
    assert (call["method"], call["path"], call["status"]) == ("GET", "/", 200)
    assert call["auth"] == ("temporary" if mode == TOKEN else "aksk")


def test_an_added_bucket_is_listed_and_a_hidden_one_is_not(client, sim):
    sim.control.add_bucket("team-images", region="eu-nl", storage_class="WARM")
    sim.control.add_bucket("someone-elses", listed=False)

    names = [bucket.name for bucket in client.list_buckets()]

    assert "team-images" in names
    assert "someone-elses" not in names
    assert "partner-shared-images" not in names


def test_a_listing_refused_by_obs_raises_permission_denied_with_its_xml_error(client, sim):
    sim.control.obs_forbidden()

    with pytest.raises(PermissionDenied) as caught:
        client.list_buckets()

    error = caught.value
    assert error.status == 403
    assert error.code == "AccessDenied"
    assert error.message == "Access Denied"
    [call] = obs_requests(sim)
    assert error.request_id == call["request_id"]  # from the XML body and x-obs-request-id
    assert not error.retryable


# --- bucket metadata ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "storage_class", "elsewhere"),
    [
        ("ims-exports", "STANDARD", False),
        ("warm-class-bucket", "WARM", False),
        ("archive-class-bucket", "COLD", False),
        ("other-region-bucket", "STANDARD", True),
    ],
)
def test_bucket_info_gives_region_and_storage_class(client, sim, name, storage_class, elsewhere):
    info = client.bucket_info(name)

    region = seed.other_region(sim.region) if elsewhere else sim.region
    assert info == BucketInfo(name, region, storage_class, request_id=info.request_id)
    assert len(info.request_id) == 32
    [call] = obs_requests(sim, "HEAD")
    assert call["path"] == f"/{name}"


def test_bucket_info_is_none_for_a_bucket_that_does_not_exist(client):
    assert client.bucket_info(seed.NO_SUCH_BUCKET) is None


@pytest.mark.parametrize("name", ["finance-restricted", "partner-shared-images"])
def test_a_bucket_closed_to_the_account_raises_permission_denied(client, sim, name):
    with pytest.raises(PermissionDenied) as caught:
        client.bucket_info(name)

    assert caught.value.status == 403
    assert caught.value.code == ""  # a HEAD answer has no body: the status is all there is
    # With temporary keys the 403 might have been OBS not knowing them: asked once more
    # with fresh ones, refused again.
    *_, call = obs_requests(sim, "HEAD")
    assert len(obs_requests(sim, "HEAD")) == (2 if call["auth"] == "temporary" else 1)
    assert caught.value.request_id == call["request_id"]  # read from x-obs-request-id


def test_temporary_keys_obs_no_longer_knows_are_renewed_on_a_head(new_client, sim):
    client = new_client(TOKEN)
    assert client.bucket_info("ims-exports") is not None
    sim.control.reset()  # the simulator forgets every key it issued, as IAM revoking them
    assert client.bucket_info("ims-exports") is not None
    statuses = [call["status"] for call in obs_requests(sim, "HEAD")]
    assert statuses == [403, 200]
    assert sim.control.requests(path_contains=SECURITY_TOKENS)  # fresh keys came from IAM


@pytest.mark.parametrize("name", ["", "a/b", "b?x", "bucket name", "..", "a@b"])
def test_a_name_that_could_leave_its_place_in_the_url_is_refused_before_sending(client, sim, name):
    with pytest.raises(ValueError, match="bucket name"):
        client.bucket_info(name)
    assert obs_requests(sim) == []


# --- object metadata -------------------------------------------------------------------------


def test_object_info_reads_size_etag_and_time(client, sim):
    sim.control.put_object(
        "ims-exports", "dir/web 01.qcow2", 123_456_789, etag="0a1b2c3d-7",
        last_modified="2025-03-04T05:06:07Z",
    )  # fmt: skip

    info = client.object_info("ims-exports", "dir/web 01.qcow2")

    assert info == ObjectInfo(
        size=123_456_789,
        etag="0a1b2c3d-7",
        last_modified=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        content_type="application/octet-stream",
        request_id=info.request_id,
    )
    [call] = obs_requests(sim, "HEAD")
    assert call["path"] == "/ims-exports/dir/web%2001.qcow2"


def test_object_info_is_none_for_a_missing_object_or_bucket(client):
    assert client.object_info("ims-exports", "not-there.qcow2") is None
    assert client.object_info(seed.NO_SUCH_BUCKET, "x.qcow2") is None


def test_object_info_in_a_closed_bucket_raises_permission_denied(client):
    with pytest.raises(PermissionDenied):
        client.object_info("finance-restricted", "x.qcow2")


def test_a_successful_export_leaves_an_object_of_plausible_size(client):
    image = client.get_image(seed.SMALL_CENTOS)
    job_id = client.export_image(image.id, "image-backups:web.vhd", "vhd")
    wait_for_job(client, job_id)

    info = client.object_info("image-backups", "web.vhd")

    assert info is not None
    assert image.size_bytes * 2 < info.size < image.size_bytes * 4  # VHD grows most
    assert info.etag.endswith(f"-{-(-info.size // (100 * 1024**2))}")  # a multipart upload
    assert abs(info.last_modified - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_same_object_is_what_ims_refuses_to_overwrite(client, sim):
    sim.control.put_object("image-backups", "taken.qcow2", 10)

    assert client.object_info("image-backups", "taken.qcow2") is not None
    with pytest.raises(RequestRejected) as caught:
        client.export_image(seed.SMALL_CENTOS, "image-backups:taken.qcow2", "qcow2")
    assert caught.value.code == "IMG.0070"


# --- retries, timeouts, faults -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_5xx_answers_are_retried(client, sim, method):
    sim.control.obs_fault(503, count=2, methods=method)

    if method == "GET":
        assert client.list_buckets()
    else:
        assert client.bucket_info("ims-exports") is not None

    assert [call["status"] for call in obs_requests(sim, method)] == [503, 503, 200]


def test_5xx_answers_that_last_raise_a_server_error_after_the_retries(client, sim):
    sim.control.obs_down(reset=False)

    with pytest.raises(ServerError) as caught:
        client.list_buckets()

    assert caught.value.code == "ServiceUnavailable"
    assert caught.value.retryable
    assert len(obs_requests(sim)) == 1 + client.retry_policy.retries


def test_obs_unreachable_raises_connection_failed_while_ims_still_works(client, sim):
    sim.control.obs_down()

    with pytest.raises(ConnectionFailed):
        client.bucket_info("ims-exports")
    with pytest.raises(ConnectionFailed):
        client.object_info("ims-exports", "existing.qcow2")

    assert client.get_image(seed.SMALL_CENTOS).id == seed.SMALL_CENTOS
    sim.control.clear_faults()
    assert client.bucket_info("ims-exports") is not None


def test_a_slow_obs_answer_times_out(new_client, sim, mode):
    client = new_client(mode, timeout=(2.0, 0.3), retries=0)
    client.list_buckets()  # temporary keys (token mode) fetched before OBS turns slow
    sim.control.obs_fault(latency=1.0)

    with pytest.raises(Timeout):
        client.bucket_info("ims-exports")
    wait_for_log(sim, "HEAD", "/ims-exports")  # let the late answer land in this test's log


def test_obs_faults_leave_ims_alone_and_ims_faults_leave_obs_alone(client, sim):
    sim.control.fault(503, paths="/v2/cloudimages")  # IMS only

    assert client.bucket_info("ims-exports") is not None
    sim.control.clear_faults()
    sim.control.obs_forbidden()
    assert client.get_image(seed.SMALL_UBUNTU).id == seed.SMALL_UBUNTU


# --- keys ----------------------------------------------------------------------------------------


def test_token_mode_trades_the_token_for_temporary_keys_once(new_client, sim):
    client = new_client(TOKEN)

    client.list_buckets()
    client.bucket_info("ims-exports")
    client.object_info("ims-exports", "existing.qcow2")

    assert len(sim.control.requests(method="POST", path_contains=SECURITY_TOKENS)) == 1
    assert {call["auth"] for call in obs_requests(sim)} == {"temporary"}


def test_expired_temporary_keys_are_replaced_once(new_client, sim):
    client = new_client(TOKEN)
    client.list_buckets()
    sim.control.expire_tokens()  # the IAM token and the temporary keys

    assert client.bucket_info("ims-exports") is not None

    statuses = [call["status"] for call in obs_requests(sim, "HEAD")]
    assert statuses == [400, 200]  # ExpiredToken, then signed with new keys
    assert len(sim.control.requests(method="POST", path_contains=SECURITY_TOKENS)) == 3
    # (the first trade, one refused with the expired token, one with a fresh token)


def test_aksk_mode_signs_with_the_permanent_pair_and_asks_iam_nothing(new_client, sim):
    client = new_client(AKSK)

    client.list_buckets()

    assert sim.control.requests(service="ims") == []
    assert [call["auth"] for call in obs_requests(sim)] == ["aksk"]


def test_a_wrong_secret_key_gets_signature_does_not_match(new_client, sim):
    client = new_client(auth=make_auth(sim, AKSK, sk="not-the-secret-key"))

    with pytest.raises(PermissionDenied) as caught:
        client.list_buckets()

    assert caught.value.code == "SignatureDoesNotMatch"
    assert len(obs_requests(sim)) == 1  # a permanent pair is not renewed, nor retried


def test_an_unknown_access_key_gets_invalid_access_key_id(new_client, sim):
    client = new_client(auth=make_auth(sim, AKSK, ak="UNKNOWNACCESSKEY0000"))

    with pytest.raises(PermissionDenied) as caught:
        client.list_buckets()

    assert caught.value.code == "InvalidAccessKeyId"


def test_iam_refusing_temporary_keys_raises_before_obs_is_asked(new_client, sim):
    client = new_client(TOKEN)
    sim.control.fault(403, paths="securitytokens")

    with pytest.raises(PermissionDenied) as caught:
        client.list_buckets()

    assert caught.value.path == SECURITY_TOKENS
    assert not caught.value.outcome_unknown
    assert obs_requests(sim) == []


# --- configuration and addressing ---------------------------------------------------------------


def test_a_client_without_an_obs_endpoint_says_which_setting_is_missing(new_client, mode):
    client = new_client(mode, obs=None)

    assert client.obs_endpoint is None
    with pytest.raises(ConfigurationError, match="OBS_ENDPOINT"):
        client.list_buckets()


class ToSimulator(HTTPAdapter):
    """Connects every request to the simulator's OBS port, keeping the Host it names: how a
    test reaches `<bucket>.obs.<host>` names without DNS."""

    def __init__(self, obs_url: str) -> None:
        super().__init__()
        self.netloc = urlsplit(obs_url).netloc

    def send(self, request, *args, **kwargs):
        parts = urlsplit(request.url)
        request.headers["Host"] = parts.netloc
        request.url = parts._replace(scheme="http", netloc=self.netloc).geturl()
        return super().send(request, *args, **kwargs)


def test_virtual_host_addressing_puts_the_bucket_in_the_host_name(new_client, sim, mode):
    port = urlsplit(sim.obs_url).port
    client = new_client(mode, obs=ObsEndpoint(f"http://obs.sim.test:{port}", "virtual"))
    client._session.mount("http://obs.sim.test", ToSimulator(sim.obs_url))
    client._session.mount("http://ims-exports.obs.sim.test", ToSimulator(sim.obs_url))

    assert client.list_buckets()
    assert client.bucket_info("ims-exports").storage_class == "STANDARD"
    assert client.object_info("ims-exports", "existing.qcow2") is not None

    paths = [call["path"] for call in obs_requests(sim)]
    assert paths == ["/", "/", "/existing.qcow2"]  # the bucket travelled in the Host header
