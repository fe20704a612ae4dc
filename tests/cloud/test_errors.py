"""Error answers of every shape become the right exception, with the right retry verdicts."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime

import pytest

from ims_portal.cloud import errors
from ims_portal.cloud.errors import (
    AuthenticationError,
    CloudError,
    ConnectionFailed,
    NotFound,
    PermissionDenied,
    RequestRejected,
    ServerError,
    Throttled,
    Timeout,
    error_for_response,
    parse_error_body,
    parse_retry_after,
)


def body(data: object) -> bytes:
    return json.dumps(data).encode()


def test_ims_error_shape_is_read():
    b = body({"error": {"code": "IMG.0070", "message": "The image file already exists."}})
    assert parse_error_body(b) == ("IMG.0070", "The image file already exists.", "")


def test_gateway_error_shape_is_read():
    b = body({"error_code": "APIGW.0301", "error_msg": "Incorrect IAM", "request_id": "r-1"})
    assert parse_error_body(b) == ("APIGW.0301", "Incorrect IAM", "r-1")


def test_keystone_error_shape_has_no_error_code():
    b = body({"error": {"code": 401, "message": "The request you have made requires auth."}})
    assert parse_error_body(b) == ("", "The request you have made requires auth.", "")


OBS_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist.</Message>"
    b"<BucketName>gone</BucketName><RequestId>0000018F2A3B</RequestId>"
    b"<HostId>abc+OBS</HostId></Error>"
)


def test_obs_xml_error_shape_is_read():
    assert parse_error_body(OBS_ERROR) == (
        "NoSuchBucket",
        "The specified bucket does not exist.",
        "0000018F2A3B",
    )


def test_an_obs_error_in_a_namespace_is_read_too():
    namespaced = OBS_ERROR.replace(b"<Error>", b'<Error xmlns="http://obs.example/doc/">')
    assert parse_error_body(namespaced)[0] == "NoSuchBucket"


def test_an_xml_body_with_a_document_type_is_not_parsed():
    hostile = (
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Error><Code>&b;</Code></Error>'
    )
    code, message, _ = parse_error_body(hostile)
    assert code == ""
    assert "DOCTYPE" in message  # kept as text, never expanded


def test_obs_request_id_header_is_read_for_a_body_less_head_answer():
    error = error_for_response(403, {"x-obs-request-id": "ABC123"}, b"", method="HEAD")
    assert isinstance(error, PermissionDenied)
    assert (error.status, error.code, error.request_id) == (403, "", "ABC123")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "<html><body>502 Bad Gateway</body></html>"),
        (b"", ""),
        (b"   \n", ""),
        (b"[1, 2]", "[1, 2]"),
        (b"\xff\xfe garbage", "\ufffd\ufffd garbage"),
    ],
)
def test_other_bodies_become_a_message_without_code(raw, message):
    assert parse_error_body(raw) == ("", message, "")


def test_a_huge_body_is_shortened():
    code, message, _ = parse_error_body(b"x" * 10_000)
    assert code == ""
    assert len(message) <= 500


@pytest.mark.parametrize(
    ("status", "kind", "retryable", "outcome_unknown"),
    [
        (400, RequestRejected, False, False),
        (401, AuthenticationError, False, False),
        (403, PermissionDenied, False, False),
        (404, NotFound, False, False),
        (409, RequestRejected, False, False),
        (429, Throttled, True, False),
        (500, ServerError, True, True),
        (501, ServerError, True, False),
        (502, ServerError, True, True),
        (503, ServerError, True, False),
        (504, ServerError, True, True),
        (599, ServerError, True, True),
    ],
)
def test_status_decides_class_retry_and_outcome(status, kind, retryable, outcome_unknown):
    error = error_for_response(status, {}, b"", method="POST", path="/v1/cloudimages/x/file")

    assert type(error) is kind
    assert error.status == status
    assert error.retryable is retryable
    assert error.outcome_unknown is outcome_unknown


def test_request_id_prefers_the_header_and_falls_back_to_the_body():
    b = body({"error_code": "APIGW.0308", "error_msg": "slow down", "request_id": "from-body"})
    assert error_for_response(429, {"x-request-id": "from-header"}, b).request_id == "from-header"
    assert error_for_response(429, {}, b).request_id == "from-body"


def test_throttled_carries_retry_after():
    error = error_for_response(429, {"Retry-After": "3"}, b"")
    assert isinstance(error, Throttled)
    assert error.retry_after == 3.0
    assert error_for_response(429, {}, b"").retry_after is None


def test_retry_after_reads_seconds_and_http_dates():
    now = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("Wed, 01 May 2024 10:00:07 GMT", now=now) == 7.0
    assert parse_retry_after("Wed, 01 May 2024 09:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after(None) is None


def test_transport_errors_are_retryable():
    assert Timeout("t").retryable
    assert ConnectionFailed("c").retryable


def test_secrets_are_masked_in_the_message():
    b = body({"error_code": "APIGW.0301", "error_msg": "Get secretKey failed,ak:MYAK1234,err:x"})
    error = error_for_response(401, {}, b, redact=["MYAK1234"])
    assert "MYAK1234" not in str(error)
    assert "MYAK1234" not in repr(error)
    assert "***" in error.message


def test_str_says_status_code_message_and_where():
    b = body({"error": {"code": "IMG.0148", "message": "The image is being exported."}})
    error = error_for_response(
        400, {"X-Request-Id": "req-9"}, b, method="POST", path="/v1/cloudimages/i/file"
    )
    assert str(error) == (
        "400 IMG.0148: The image is being exported. (POST /v1/cloudimages/i/file, request id req-9)"
    )
    assert error.explanation.remedy


def test_an_empty_error_still_reads_well():
    assert str(error_for_response(503, {}, b"")) == "503: HTTP 503 with no error description"


def test_errors_survive_pickling_for_task_queues():
    error = error_for_response(
        429, {"Retry-After": "2", "X-Request-Id": "r"}, body({"error_code": "APIGW.0308"})
    )
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert type(copy) is Throttled
    assert (copy.status, copy.code, copy.request_id, copy.retry_after) == (
        429,
        "APIGW.0308",
        "r",
        2,
    )


def test_every_error_is_a_cloud_error_and_configuration_is_a_value_error():
    for kind in (AuthenticationError, PermissionDenied, NotFound, Throttled, ServerError, Timeout):
        assert issubclass(kind, CloudError)
    assert issubclass(errors.ConfigurationError, ValueError)
    assert not issubclass(errors.ConfigurationError, CloudError)
