"""The cloud client: list images, export one, follow the export job (IMS); list buckets and
read bucket and object metadata (OBS, through `obs.ObsApi`).

A `Client` speaks the documented wire protocol over `requests` and nothing else: no Django, no
export rules (those live in `ims_portal.exports.rules` and, authoritatively, in IMS). Request
bodies carry only what is set, as the official SDK's do.

Retries: GET calls repeat retryable failures (see `transport.RetryPolicy`). The export POST is
never repeated by the client; the only second attempt it ever gets is after a 401 with a token,
when the cloud has refused the request before acting on it.

One `Client` may be shared by threads: its token cache is locked, and what it learns about the
job APIs is a single flag whose races are harmless.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self
from urllib.parse import quote

import requests

from ims_portal.cloud import config
from ims_portal.cloud.auth import Auth, TokenAuth
from ims_portal.cloud.errors import (
    AuthenticationError,
    CloudError,
    ConfigurationError,
    InvalidResponse,
    NotFound,
)
from ims_portal.cloud.models import Bucket, BucketInfo, Image, Job, ObjectInfo
from ims_portal.cloud.obs import ObsApi, ObsEndpoint
from ims_portal.cloud.obs_auth import key_source
from ims_portal.cloud.signing import encode_query
from ims_portal.cloud.transport import (
    DEFAULT_TIMEOUT,
    RetryPolicy,
    TimeoutSpec,
    call,
    longest_exchange,
    reach,
    send,
)

log = logging.getLogger("ims_portal.cloud")

# Page size for listing. IMS's default is 500; we ask for an explicit size so that a short page
# reliably means "last page".
DEFAULT_PAGE_SIZE = 100

# The header that carries the caller's correlation id to the cloud. The IMS reference names
# no request header for one; the API gateway answers with its own `X-Request-Id`, and an
# unknown request header is ignored there. It is sent outside the AK/SK signature, so a
# proxy that rewrites it cannot break a request.
REQUEST_ID_HEADER = "X-Request-Id"


class Client:
    """IMS (and OBS) over HTTP for one project, authenticated by a `TokenAuth` or an
    `AkSkAuth`. `obs` says where OBS is; without it the OBS calls raise `ConfigurationError`."""

    def __init__(
        self,
        endpoint: str,
        project_id: str,
        auth: Auth,
        *,
        timeout: TimeoutSpec = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 30.0,
        session: requests.Session | None = None,
        export_api_version: config.ExportApiVersion = config.DEFAULT_EXPORT_API_VERSION,
        obs: ObsEndpoint | None = None,
        request_id: Callable[[], str] | None = None,
    ) -> None:
        """`request_id`, when given, is asked before each call for the id to send as
        `X-Request-Id` (the caller's correlation id; blank: none is sent)."""
        self.request_id = request_id
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self.auth = auth
        self.timeout = timeout
        self.retry_policy = RetryPolicy(
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
        )
        if export_api_version not in config.EXPORT_API_VERSIONS:
            # Checked here too: an unknown version would post to a path no cloud serves.
            raise ConfigurationError(
                f"export_api_version must be one of {', '.join(config.EXPORT_API_VERSIONS)}"
            )
        self.export_api_version = export_api_version
        self._session = session or requests.Session()
        keys = key_source(auth, timeout=timeout, policy=self.retry_policy, session=self._session)
        self._obs = (
            ObsApi(obs, keys, session=self._session, timeout=timeout, policy=self.retry_policy)
            if obs is not None and keys is not None
            else None
        )
        self.obs_endpoint = obs
        # Which job API this endpoint offers: None until the first get_job finds out, then True
        # for the progress call, False for the status call only.
        self._progress_api: bool | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Self:
        """A client configured from `IMS_*`/`IAM_*` variables (see `config.from_env`).

        `options` are passed to the constructor (timeout, retries, ...); an
        `export_api_version` or `obs` among them wins over `IMS_EXPORT_API_VERSION` or
        `OBS_ENDPOINT`/`OBS_ADDRESSING`.
        """
        settings = config.from_env(environ)
        options.setdefault("export_api_version", settings.export_api_version)
        options.setdefault("obs", settings.obs)
        options.setdefault("timeout", settings.timeout)
        return cls(settings.endpoint, settings.project_id, settings.auth, **options)

    def __repr__(self) -> str:
        return (
            f"Client(endpoint={self.endpoint!r}, project_id={self.project_id!r}, "
            f"auth={self.auth!r}, obs={self.obs_endpoint!r})"
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def progress_api(self) -> bool | None:
        """Whether the job progress call is available (None: not known yet)."""
        return self._progress_api

    def reach(self, timeout: TimeoutSpec = 2.0) -> float:
        """Seconds the IMS endpoint took to answer an unauthenticated GET of its root.

        Any HTTP answer counts; a `CloudError` says why none came. For readiness checks:
        no credentials are used, no token is fetched.
        """
        return reach(self._session, self.endpoint + "/", timeout=timeout)

    # --- images -----------------------------------------------------------------------------

    def list_images(self, **filters: Any) -> Iterator[Image]:
        """Yield every image matching `filters`, following `marker` pagination.

        Filters are the query parameters of `GET /v2/cloudimages`, e.g. `__imagetype="private"`,
        `status="active"`, `__whole_image=False`, `name=...`; None values are left out and
        booleans are sent as `true`/`false`. `limit` sets the page size, `marker` where to start.
        Pages are fetched lazily, as the iterator is consumed. (Inside a class body, pass
        `**{"__imagetype": "private"}`: Python mangles `__names` written there.)
        """
        params = {key: value for key, value in filters.items() if value is not None}
        page_size = int(params.pop("limit", DEFAULT_PAGE_SIZE))
        marker = params.pop("marker", None)
        while True:
            query = {**params, "limit": page_size}
            if marker:
                query["marker"] = marker
            data = self._request(
                "GET", "/v2/cloudimages", params=query, retry=True, route="/v2/cloudimages"
            )
            page = data.get("images")
            if not isinstance(page, list):
                raise InvalidResponse(
                    "image list without an 'images' array", method="GET", path="/v2/cloudimages"
                )
            for raw in page:
                yield Image.from_api(raw)
            if len(page) < page_size or not page:
                return
            next_marker = page[-1].get("id")
            if not next_marker or next_marker == marker:
                return  # the cloud ignored the marker; stop rather than loop forever
            marker = next_marker

    def get_image(self, image_id: str) -> Image:
        """The image with this id; `NotFound` if the project has none."""
        data = self._request(
            "GET", "/v2/cloudimages", params={"id": image_id}, retry=True, route="/v2/cloudimages"
        )
        for raw in data.get("images") or []:
            if raw.get("id") == image_id:
                return Image.from_api(raw)
        raise NotFound(
            f"no image with id {image_id}",
            status=404,
            method="GET",
            path="/v2/cloudimages",
        )

    # --- export -----------------------------------------------------------------------------

    def export_image(
        self,
        image_id: str,
        bucket_url: str,
        file_format: str | None = None,
        quick: bool = False,
    ) -> str:
        """Ask IMS to export an image to `bucket_url` (`bucket:object`); return the job id.

        Posts to `/v1/cloudimages/{id}/file`, or `/v2.1/...` when the client's
        `export_api_version` says so; both take the same body and answer the same way.

        A fast export (`quick=True`) sends `bucket_url` and `is_quick_export: true` only; a normal
        one sends `bucket_url`, `file_format` and `is_quick_export: false`. An unset
        `file_format` is left out, never defaulted: IMS is the judge of the rules.

        Never retried. On failure, check `error.outcome_unknown`: when True the cloud may have
        started the export, and only a person (or a look at the job list) can tell.
        """
        body: dict[str, Any] = {"bucket_url": bucket_url}
        if file_format is not None:
            body["file_format"] = file_format
        # Explicit `false` for a normal export: it is what the API reference's example sends, and
        # it makes the request log say which kind of export was asked for.
        body["is_quick_export"] = bool(quick)
        path = f"/{self.export_api_version}/cloudimages/{_segment(image_id)}/file"
        route = f"/{self.export_api_version}/cloudimages/{{image_id}}/file"
        data = self._request("POST", path, body=body, retry=False, route=route)
        job_id = data.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            # The cloud said yes but we cannot tell to what: it may well be exporting.
            raise InvalidResponse(
                "export accepted without a job_id", method="POST", path=path, outcome_unknown=True
            )
        return job_id

    def longest_export_seconds(self) -> float:
        """The longest `export_image` can take before it returns or raises.

        See `longest_export_seconds_with`; this client's timeouts and authentication.
        """
        timeout = self.timeout
        if isinstance(self.auth, TokenAuth):
            timeout = max(timeout, self.auth.timeout, key=longest_exchange)
        return self.longest_export_seconds_with(timeout, token=isinstance(self.auth, TokenAuth))

    @staticmethod
    def longest_export_seconds_with(timeout: TimeoutSpec, *, token: bool) -> float:
        """The longest an export POST can take with this timeout: each exchange waits at
        most connect + read; with IAM tokens an exchange with IAM may come first, and a 401
        repeats both once (the only repeat the POST ever gets)."""
        exchanges = 4 if token else 1
        return exchanges * longest_exchange(timeout)

    def longest_job_seconds(self) -> float:
        """The longest `get_job` can take before it returns or raises: two calls at most
        (the progress call, then the status call), each as long as `longest_call_seconds`."""
        return 2 * self.longest_call_seconds()

    def longest_object_seconds(self) -> float:
        """The longest `object_info` can take before it returns or raises: one call."""
        return self.longest_call_seconds()

    def longest_call_seconds(self) -> float:
        """The longest one retried GET can take: each attempt as long as an export POST can
        be (one exchange, or with IAM tokens up to four), repeated by the retry policy, which
        waits at most `RetryPolicy.longest_wait` between attempts."""
        timeout = self.timeout
        if isinstance(self.auth, TokenAuth):
            timeout = max(timeout, self.auth.timeout, key=longest_exchange)
        attempt = self.longest_export_seconds_with(timeout, token=isinstance(self.auth, TokenAuth))
        policy = self.retry_policy
        return (policy.retries + 1) * attempt + policy.retries * policy.longest_wait()

    # --- jobs -------------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job:
        """The current state of an asynchronous job.

        Asks the progress call (`GET /v1/cloudimages/job/{id}`, with percentage and step) first,
        and the status call (`GET /v1/{project_id}/jobs/{id}`) where the endpoint lacks it.

        A 404 from the progress call is read by its shape. From the API gateway (an `APIG`/
        `APIGW` code) or without any error code (a bare router answer), the path does not exist
        here: the client remembers that and goes straight to the status call from then on. With
        an IMS code, the path exists but does not know the job; the status call is asked once
        for this job (older jobs may be known only there) and nothing is remembered.
        """
        if self._progress_api is not False:
            try:
                data, request_id = self._answer(
                    "GET",
                    f"/v1/cloudimages/job/{_segment(job_id)}",
                    retry=True,
                    route="/v1/cloudimages/job/{job_id}",
                )
            except NotFound as error:
                if _route_missing(error):
                    self._progress_api = False
                    log.info(
                        "job progress call not offered by %s; using the status call", self.endpoint
                    )
                else:
                    self._progress_api = True
            else:
                self._progress_api = True
                return Job.from_api(data, request_id=request_id)
        data, request_id = self._answer(
            "GET",
            f"/v1/{_segment(self.project_id)}/jobs/{_segment(job_id)}",
            retry=True,
            route="/v1/{project_id}/jobs/{job_id}",
        )
        return Job.from_api(data, request_id=request_id)

    # --- OBS --------------------------------------------------------------------------------

    def list_buckets(self) -> list[Bucket]:
        """Every bucket of the account, in every region (OBS `GET /`), in OBS's order.

        Needs `obs:bucket:ListAllMyBuckets`; without it OBS answers 403 (`PermissionDenied`).
        """
        return self._obs_api().list_buckets()

    def bucket_info(self, name: str) -> BucketInfo | None:
        """A bucket's region and storage class (OBS `HEAD /` on the bucket); None if no
        bucket has this name. A bucket the account may not see raises `PermissionDenied`
        (status 403)."""
        return self._obs_api().bucket_info(name)

    def object_info(self, bucket: str, key: str) -> ObjectInfo | None:
        """An object's size, ETag and last-modified time (OBS `HEAD /<key>`); None if the
        object (or the bucket) does not exist. 403 raises `PermissionDenied`."""
        return self._obs_api().object_info(bucket, key)

    def _obs_api(self) -> ObsApi:
        if self._obs is None:
            if self.obs_endpoint is None:
                raise ConfigurationError(
                    "OBS_ENDPOINT is not set, and no OBS address follows from IMS_ENDPOINT "
                    "and IMS_REGION"
                )
            raise ConfigurationError("OBS requests need AK/SK or IAM user credentials")
        return self._obs

    # --- plumbing ---------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        retry: bool,
        route: str,
    ) -> dict[str, Any]:
        """Send one API call (with retries if allowed) and return its JSON object."""
        return self._answer(method, path, params=params, body=body, retry=retry, route=route)[0]

    def _answer(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        retry: bool,
        route: str,
    ) -> tuple[dict[str, Any], str]:
        """Send one API call (with retries if allowed); return its JSON object and the
        cloud's request id of the answer (`X-Request-Id`, blank if absent).

        `route` is the path without its ids, the name observers count the call under."""
        url = self.endpoint + path
        if params:
            # The canonical encoding on the wire, so the server reads exactly what was signed.
            url += "?" + encode_query(dict(params))
        payload = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        base_headers = {"Accept": "application/json"}
        if payload:
            base_headers["Content-Type"] = "application/json"
        correlation = self.request_id() if self.request_id else ""
        unsigned = {REQUEST_ID_HEADER: correlation} if correlation else {}
        reauthenticated = False

        def attempt() -> requests.Response:
            nonlocal reauthenticated
            while True:
                try:
                    auth_headers = self.auth.headers_for(method, url, base_headers, payload)
                except CloudError as error:
                    # IAM failed before our request was sent: whatever it was, IMS did nothing.
                    error.outcome_unknown = False
                    raise
                headers = {**base_headers, **auth_headers, **unsigned}
                try:
                    return send(
                        self._session,
                        method,
                        url,
                        headers=headers,
                        body=payload,
                        timeout=self.timeout,
                        secrets=self.auth.secrets(),
                        route=route,
                    )
                except AuthenticationError:
                    # A 401 is decided before the request is acted on, so one repeat with fresh
                    # credentials is safe even for the export POST. Only one: a second 401 means
                    # the credentials themselves are wrong.
                    if reauthenticated or not self.auth.invalidate(headers):
                        raise
                    reauthenticated = True
                    log.info("%s %s: credentials refused, authenticating again", method, path)

        response = call(attempt, retry=retry, policy=self.retry_policy)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise InvalidResponse(
                "the answer is not a JSON object",
                status=response.status_code,
                method=method,
                path=path,
                request_id=response.headers.get("X-Request-Id", ""),
                outcome_unknown=method != "GET",
            )
        return data, response.headers.get("X-Request-Id", "")


def _segment(value: str) -> str:
    """Encode an id as one path segment, so no id can change the path it is put in."""
    return quote(value, safe="")


def _route_missing(error: NotFound) -> bool:
    """Whether a 404 says "no such path here" rather than "no such job"."""
    code = error.code.upper()
    if code.startswith(("APIG.", "APIGW.")):
        return True
    # IMS itself always answers with an IMG code; a 404 without one comes from a router or
    # proxy that does not know the path.
    return not code
