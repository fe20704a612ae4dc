"""Authentication of IMS calls, as the API gateway in front of IMS performs it.

A call is let through with either a valid, unexpired `X-Auth-Token`, or an AK/SK signature
that checks out: the simulator recomputes the signature with the shared signing code in
`ims_portal.cloud.signing` (so it can never agree with a wrong signature by accident), and
refuses a `X-Sdk-Date` more than 15 minutes away from its own clock. Failures raise the
gateway's 401: `APIGW.0307` for an expired token, `APIGW.0301` for everything else.
"""

from __future__ import annotations

import hmac

from ims_portal.cloud import signing
from ims_portal.simulator import errors
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
        access_key, signed_headers, signature = signing.parse_authorization(authorization)
    except ValueError as exc:
        raise errors.auth_failed(f"malformed Authorization header ({exc})") from exc
    if access_key != state.settings.ak:
        raise errors.auth_failed(f"Get secretKey failed, ak:{access_key}, err:ak not exist")
    if signing.DATE_HEADER.lower() not in {name.lower() for name in signed_headers}:
        raise errors.auth_failed(f"the {signing.DATE_HEADER} header must be signed")

    date_value = headers.get(signing.DATE_HEADER) or ""
    try:
        signed_at = signing.parse_date(date_value).timestamp()
    except ValueError as exc:
        raise errors.auth_failed(f"missing or malformed {signing.DATE_HEADER}") from exc
    if abs(state.now() - signed_at) > MAX_CLOCK_SKEW_SECONDS:
        raise errors.auth_failed("verify aksk signature fail: signature expired")

    # http.server's header object is not a plain dict; hand the signer the headers as sent.
    plain_headers = {name: value for name, value in headers.items()}
    try:
        expected = signing.signature_for(
            method, url, plain_headers, signed_headers, body, state.settings.sk
        )
    except ValueError as exc:
        raise errors.auth_failed(f"verify aksk signature fail ({exc})") from exc
    if not hmac.compare_digest(expected, signature):
        raise errors.auth_failed("verify aksk signature fail")
