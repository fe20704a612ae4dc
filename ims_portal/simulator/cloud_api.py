"""The IAM and IMS endpoints, speaking the documented wire protocol.

- `POST /v3/auth/tokens`                 IAM: password login scoped to a project -> token
- `POST /v3.0/OS-CREDENTIAL/securitytokens` IAM: a token -> temporary AK/SK + security token
  (for OBS, whose requests are signed, never token-authenticated)
- `GET  /v2/cloudimages`                 IMS: list images (filters, sorting, marker paging)
- `POST /v1/cloudimages/{image_id}/file` IMS: export an image to OBS -> job id
  (also as `POST /v2.1/cloudimages/{image_id}/file`, same body and answer)
- `GET  /v1/{project_id}/jobs/{job_id}`  IMS: job status (the call Open Telekom Cloud documents)
- `GET  /v1/cloudimages/job/{job_id}`    IMS: job progress (Huawei Cloud's newer call)

Authentication of the IMS calls and the routing happen in `server.py`; these functions get
an already-authenticated request.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from ims_portal.simulator import defaults, errors
from ims_portal.simulator.errors import IAM, ApiError
from ims_portal.simulator.export_rules import ExportRequest
from ims_portal.simulator.state import FILTER_KEYS, SORT_KEYS, SimulatorState
from ims_portal.simulator.wire import Request, Response

DEFAULT_LIMIT = 500  # the documented default page size of GET /v2/cloudimages


# --- IAM ---------------------------------------------------------------------------------------


def create_token(state: SimulatorState, request: Request) -> Response:
    """`POST /v3/auth/tokens`: check the password and project, answer 201 with a token."""
    settings = state.settings
    try:
        body = request.json()
    except ApiError as exc:
        raise _iam_error(400, exc.message) from exc
    try:
        auth = body["auth"]
        identity = auth["identity"]
        methods = identity["methods"]
        user = identity["password"]["user"]
        domain = user["domain"]
        project = auth["scope"]["project"]
        user_name, password = user.get("name"), user.get("password")
        domain_name, domain_id = domain.get("name"), domain.get("id")
        project_name, project_id = project.get("name"), project.get("id")
    except (KeyError, TypeError, AttributeError) as exc:
        raise _iam_error(
            400, f"The authentication request is incomplete or malformed ({exc!r})."
        ) from exc
    if not isinstance(methods, list) or "password" not in methods:
        raise _iam_error(400, "Only the password method is supported here.")
    if not project_id and not project_name:
        raise _iam_error(400, "Scope the token to a project, by id or by name.")

    right_user = user_name == settings.username and password == settings.password
    right_domain = domain_name == settings.domain or domain_id == defaults.DOMAIN_ID
    if not (right_user and right_domain):
        raise _iam_error(401, "The user name, password or account name is wrong.")
    # Either or both of id and name may be given; whatever is given must be ours.
    our_project = project_id in (None, settings.project_id) and project_name in (
        None,
        settings.project_name,
    )
    if not our_project:
        raise _iam_error(401, "The requested project does not exist or is not this user's.")

    token = state.issue_token()
    domain_ref = {"id": defaults.DOMAIN_ID, "name": settings.domain}
    token_body: dict[str, Any] = {
        "methods": ["password"],
        "issued_at": _iam_time(token.issued_at),
        "expires_at": _iam_time(token.expires_at),
        "user": {
            "id": defaults.USER_ID,
            "name": settings.username,
            "domain": domain_ref,
            "password_expires_at": "",
        },
        "project": {"id": settings.project_id, "name": settings.project_name, "domain": domain_ref},
        "roles": [{"id": "0", "name": "te_admin"}, {"id": "0", "name": "ims_adm"}],
    }
    if "nocatalog" not in request.params():
        token_body["catalog"] = _catalog(state, request)
    return Response(201, {"token": token_body}, {"X-Subject-Token": token.value})


TEMPORARY_KEY_SECONDS = range(900, 86400 + 1)  # IAM issues them for 15 minutes to 24 hours
DEFAULT_TEMPORARY_KEY_SECONDS = 900


def create_temporary_keys(state: SimulatorState, request: Request) -> Response:
    """`POST /v3.0/OS-CREDENTIAL/securitytokens`: trade a valid token (the `X-Auth-Token`
    header, or `auth.identity.token.id` in the body) for temporary keys, answer 201."""
    try:
        body = request.json()
    except ApiError as exc:
        raise _iam_error(400, exc.message) from exc
    try:
        identity = body["auth"]["identity"]
        methods = identity["methods"]
        token_part = identity.get("token") or {}
        if not isinstance(token_part, dict):
            raise TypeError("token must be an object")
    except (KeyError, TypeError, AttributeError) as exc:
        raise _iam_error(400, f"The request is incomplete or malformed ({exc!r}).") from exc
    if not isinstance(methods, list) or methods != ["token"]:
        raise _iam_error(400, 'methods must be ["token"].')
    raw_duration = token_part.get("duration_seconds", DEFAULT_TEMPORARY_KEY_SECONDS)
    try:
        duration = int(raw_duration)  # the reference shows it as a string, "900"
    except (TypeError, ValueError):
        raise _iam_error(400, "duration_seconds must be a whole number.") from None
    if isinstance(raw_duration, bool) or duration not in TEMPORARY_KEY_SECONDS:
        raise _iam_error(400, "duration_seconds must be from 900 to 86400.")
    value = request.headers.get("X-Auth-Token") or token_part.get("id")
    token = state.find_token(value) if isinstance(value, str) and value else None
    if token is None:
        raise _iam_error(401, "The request you have made requires authentication.")
    if token.expires_at <= state.now():
        raise _iam_error(401, "The token has expired.")
    # Never beyond the token it was made from.
    lifetime = min(float(duration), token.expires_at - state.now())
    key = state.issue_temporary_key(lifetime)
    return Response(
        201,
        {
            "credential": {
                "access": key.access,
                "secret": key.secret,
                "securitytoken": key.security_token,
                "expires_at": _iam_time(key.expires_at),
            }
        },
    )


def _catalog(state: SimulatorState, request: Request) -> list[dict[str, Any]]:
    # The simulator plays both IAM and IMS on one address, so both entries point here.
    url = f"http://{request.host}"
    region = state.settings.region

    def entry(service_type: str, name: str) -> dict[str, Any]:
        return {
            "type": service_type,
            "name": name,
            "id": secrets.token_hex(16),
            "endpoints": [
                {
                    "id": secrets.token_hex(16),
                    "interface": "public",
                    "region": region,
                    "region_id": region,
                    "url": url,
                }
            ],
        }

    return [entry("identity", "iam"), entry("image", "ims")]


def _iam_error(status: int, message: str) -> ApiError:
    return ApiError(status, IAM, str(status), message)


def _iam_time(epoch: float) -> str:
    # IAM writes token times with microseconds: 2024-05-02T10:00:00.000000Z
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --- IMS: images -------------------------------------------------------------------------------


def list_images(state: SimulatorState, request: Request) -> Response:
    """`GET /v2/cloudimages`: filter, sort and page the images."""
    params = request.params()
    limit = _int_param(params, "limit", DEFAULT_LIMIT)
    sort_key = params.get("sort_key", "created_at")
    sort_dir = params.get("sort_dir", "desc")
    if sort_key not in SORT_KEYS:
        raise _bad_request(f"sort_key must be one of {', '.join(SORT_KEYS)}.")
    if sort_dir not in ("asc", "desc"):
        raise _bad_request("sort_dir must be asc or desc.")
    filters = {key: params[key] for key in FILTER_KEYS if key in params}
    images = state.list_images(filters, sort_key, sort_dir, limit, params.get("marker") or None)
    return Response(200, {"images": images})


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    if name not in params:
        return default
    try:
        value = int(params[name])
    except ValueError:
        raise _bad_request(f"{name} must be a whole number.") from None
    if value < 0:
        raise _bad_request(f"{name} must not be negative.")
    return value


# --- IMS: export -------------------------------------------------------------------------------


def export_image(state: SimulatorState, request: Request, image_id: str) -> Response:
    """`POST /v1/cloudimages/{image_id}/file` (or `/v2.1/...`): check the body, then every
    export rule, then start a job (see `export_rules`)."""
    body = request.json()
    if not isinstance(body, dict):
        raise _bad_request("The request body must be a JSON object.")
    bucket_url = body.get("bucket_url")
    file_format = body.get("file_format")
    quick = body.get("is_quick_export", False)
    if not isinstance(bucket_url, str):
        raise _bad_request("bucket_url is required and must be a string.")
    if file_format is not None and not isinstance(file_format, str):
        raise _bad_request("file_format must be a string.")
    if not isinstance(quick, bool):
        raise _bad_request("is_quick_export must be true or false.")

    job = state.start_export(image_id, ExportRequest.from_body(bucket_url, file_format, quick))
    return Response(200, {"job_id": job.id})


# --- IMS: jobs ---------------------------------------------------------------------------------


def job_status(state: SimulatorState, request: Request, project_id: str, job_id: str) -> Response:
    """`GET /v1/{project_id}/jobs/{job_id}`: the documented status call."""
    if project_id != state.settings.project_id:
        raise errors.ims_error(
            400, errors.IMG_PROJECT_MISMATCH, "The project in the path is not the caller's project."
        )
    job = state.job(job_id)
    if job is None:
        raise _no_such_job()
    return Response(200, job.status_body(state.now()))


def job_progress(state: SimulatorState, request: Request, job_id: str) -> Response:
    """`GET /v1/cloudimages/job/{job_id}`: the progress call, with percentage and step."""
    job = state.job(job_id)
    if job is None:
        raise _no_such_job()
    return Response(200, job.progress_body(state.now()))


def _no_such_job() -> ApiError:
    # IMS shape, not the gateway's APIGW.0101: the API exists, the job does not. A client
    # can tell "this cloud has no progress call" from "no such job" by the body.
    return errors.ims_error(404, errors.IMG_JOB_QUERY_FAILED, "No job has this id.")


def _bad_request(message: str) -> ApiError:
    return errors.ims_error(400, errors.IMG_BAD_REQUEST, message)
