"""The three error shapes the real cloud answers with, and an exception that carries one.

- IMS itself: `{"error": {"code": "IMG.0070", "message": "..."}}`
- the API gateway in front of every service (authentication, throttling, unknown paths,
  backend trouble): `{"error_code": "APIGW.0301", "error_msg": "...", "request_id": "..."}`
- IAM's Keystone-compatible token API: `{"error": {"code": 401, "message": "...",
  "title": "Unauthorized"}}`

Handlers raise `ApiError`; the server turns it into a response. The `request_id` of the
gateway shape is filled in by the server, which is the one that knows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

IMS, GATEWAY, IAM = "ims", "gateway", "iam"

# Gateway codes (the signing guide's table; the service name prefix is APIGW on the public
# endpoints).
APIGW_NOT_FOUND = "APIGW.0101"
APIGW_AUTH_FAILED = "APIGW.0301"
APIGW_TOKEN_EXPIRED = "APIGW.0307"  # noqa: S105 - an error code, not a secret
APIGW_THROTTLED = "APIGW.0308"
APIGW_BACKEND_UNAVAILABLE = "APIGW.0202"
APIGW_BACKEND_TIMEOUT = "APIGW.0203"

# IMS codes used outside the export rules (whose codes are in the `export_rules` table).
IMG_BAD_REQUEST = "IMG.0001"
IMG_EMPTY_BODY = "IMG.0007"
IMG_PROJECT_MISMATCH = "IMG.0030"
IMG_JOB_QUERY_FAILED = "IMG.0023"
IMG_NO_SUCH_IMAGE = "IMG.0027"
IMG_SYSTEM_ERROR = "IMG.0061"


@dataclass
class ApiError(Exception):
    """An error response: HTTP status, body shape, code and message, and extra headers."""

    status: int
    shape: str
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def body(self, request_id: str) -> dict[str, Any]:
        """The JSON body in this error's shape."""
        if self.shape == GATEWAY:
            return {"error_code": self.code, "error_msg": self.message, "request_id": request_id}
        if self.shape == IAM:
            title = HTTPStatus(self.status).phrase
            return {"error": {"code": self.status, "message": self.message, "title": title}}
        return {"error": {"code": self.code, "message": self.message}}


def ims_error(status: int, code: str, message: str) -> ApiError:
    """An error in IMS's own shape."""
    return ApiError(status, IMS, code, message)


def gateway_error(status: int, code: str, message: str, **headers: str) -> ApiError:
    """An error in the API gateway's shape."""
    return ApiError(status, GATEWAY, code, message, dict(headers))


def auth_failed(reason: str) -> ApiError:
    """The gateway's 401 for a missing, unknown, expired or badly signed credential."""
    return gateway_error(
        401, APIGW_AUTH_FAILED, f"Incorrect IAM authentication information: {reason}"
    )


def token_expired() -> ApiError:
    """The gateway's 401 for a token past its `expires_at` (or expired via the control API)."""
    return gateway_error(401, APIGW_TOKEN_EXPIRED, "The token has expired; get a new one.")


def api_not_found(method_known: bool = False) -> ApiError:
    """The gateway's 404 for a path (or a method on a path) that no API is published at."""
    if method_known:
        return gateway_error(404, APIGW_NOT_FOUND, "No API is published for this method here.")
    return gateway_error(404, APIGW_NOT_FOUND, "No API matches this path in this environment.")


def fault_error(status: int, iam: bool, code: str | None, message: str | None) -> ApiError:
    """The error an injected fault answers with.

    401, 429, 502 and 504 come from the gateway in real life; other statuses from the service
    behind it (IMS, or IAM for the token API).
    """
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    if status == 429:
        return gateway_error(
            429, code or APIGW_THROTTLED, message or "Request throttled: the rate limit was hit."
        )
    if status == 502:
        return gateway_error(
            502,
            code or APIGW_BACKEND_UNAVAILABLE,
            message or "The service behind the gateway is unavailable.",
        )
    if status == 504:
        return gateway_error(
            504,
            code or APIGW_BACKEND_TIMEOUT,
            message or "The service behind the gateway timed out.",
        )
    if status == 401:
        return auth_failed(message or "injected fault")
    if iam:
        return ApiError(status, IAM, str(status), message or f"Injected fault: {phrase}.")
    return ims_error(status, code or IMG_SYSTEM_ERROR, message or f"Injected fault: {phrase}.")
