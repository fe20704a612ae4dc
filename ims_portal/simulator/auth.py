"""Authentication of IMS calls, as the API gateway in front of IMS performs it.

A call is let through with either a valid, unexpired `X-Auth-Token`, or an AK/SK signature
that checks out: the simulator rebuilds the signature from the request as received, with its
own verifier (`signature.py`, written apart from the portal's signer so the two cannot share
a mistake), and refuses a `X-Sdk-Date` more than 15 minutes away from its own clock. Failures raise the
gateway's 401: `APIGW.0307` for an expired token, `APIGW.0301` for everything else.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from ims_portal.simulator import errors, signature
from ims_portal.simulator.state import SimulatorState
from ims_portal.simulator.wire import Headers

MAX_CLOCK_SKEW_SECONDS = 15 * 60

TOKEN, AKSK = "token", "aksk"


def authenticate(
    state: SimulatorState,
    method: str,
    url: str,
    headers: Headers,
    body: bytes,
) -> str:
    """Check the credentials of an IMS request; return how it authenticated.

    Raises `ApiError` (401) if the request may not pass.
    """
    token = headers.get("X-Auth-Token")
    if token:
        _check_token(state, token)
        return TOKEN
    authorization = headers.get("Authorization")
    if authorization:
        _check_signature(state, method, url, headers, body, authorization)
        _check_project(state, headers)
        return AKSK
    raise errors.auth_failed("no X-Auth-Token header and no AK/SK signature")


def _check_token(state: SimulatorState, value: str) -> None:
    token = state.find_token(value)
    if token is None:
        raise errors.auth_failed("decrypt token fail")
    if token.expires_at <= state.now():
        raise errors.token_expired()


def _check_project(state: SimulatorState, headers: Headers) -> None:
    # Without X-Project-Id an AK/SK call acts in the region's default project, which is ours;
    # with it, the project must belong to the AK's account.
    project_id = headers.get("X-Project-Id")
    if project_id and project_id != state.settings.project_id:
        raise errors.auth_failed(f"project {project_id} does not belong to this AK's account")


def _check_signature(
    state: SimulatorState,
    method: str,
    url: str,
    headers: Headers,
    body: bytes,
    authorization: str,
) -> None:
    try:
        credential = signature.read_authorization(authorization)
    except ValueError as exc:
        raise errors.auth_failed(f"malformed Authorization header ({exc})") from exc
    if credential.access_key != state.settings.ak:
        raise errors.auth_failed(
            f"Get secretKey failed, ak:{credential.access_key}, err:ak not exist"
        )
    if signature.DATE_HEADER not in credential.signed_headers:
        raise errors.auth_failed("the X-Sdk-Date header must be signed")
    try:
        signed_at = signature.signing_time(headers)
    except ValueError as exc:
        raise errors.auth_failed("missing or malformed X-Sdk-Date") from exc
    if abs(state.now() - signed_at) > MAX_CLOCK_SKEW_SECONDS:
        raise errors.auth_failed("verify aksk signature fail: signature expired")

    parts = urlsplit(url)
    try:
        expected = signature.expected_signature(
            method, parts.path, parts.query, headers, credential, body, state.settings.sk
        )
    except ValueError as exc:
        raise errors.auth_failed(f"verify aksk signature fail ({exc})") from exc
    if not hmac.compare_digest(expected, credential.signature):
        raise errors.auth_failed("verify aksk signature fail")
