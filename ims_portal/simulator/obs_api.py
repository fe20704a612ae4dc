"""The OBS endpoints, on their own listener, speaking OBS's wire protocol (XML, `x-obs-*`).

- `GET  /`                      ListAllMyBucketsResult: the account's buckets in every region
                                (each one's Location only when `x-obs-location: true` asks)
- `HEAD /` on a bucket          x-obs-bucket-location, x-obs-storage-class, x-obs-version
- `GET  /?location` on a bucket     `<Location>`
- `GET  /?storageClass` on a bucket `<StorageClass>`
- `HEAD /<key>` in a bucket     Content-Length, ETag (quoted), Last-Modified, Content-Type

A bucket is addressed in path style (`/<bucket>/<key>` on the listener's address, what a
loopback address allows) or in virtual-host style, when the Host header names it as
`<bucket>.obs.<anything>` (a test can send that Host to the loopback address). The listener
plays every region at once: a bucket answers wherever it is.

Every request must be signed (`obs_signature`), with the simulator's permanent AK/SK or with
temporary keys that its IAM issued (`POST /v3.0/OS-CREDENTIAL/securitytokens`), whose
security token must come along as `x-obs-security-token`. Errors are OBS's XML `<Error>`
with Code, Message, RequestId and HostId; a HEAD gets the status and headers only. The codes
are the ones OBS shares with the S3 catalogue: `AccessDenied`, `InvalidAccessKeyId`,
`SignatureDoesNotMatch`, `RequestTimeTooSkewed`, `InvalidToken`, `ExpiredToken`,
`NoSuchBucket`, `NoSuchKey`, `MethodNotAllowed`, `NotImplemented`, `ServiceUnavailable`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import unquote
from xml.sax.saxutils import escape

from ims_portal.simulator import defaults, obs_signature
from ims_portal.simulator.buckets import BucketRecord, http_time, iso_time
from ims_portal.simulator.state import SimulatorState
from ims_portal.simulator.wire import Request, Response

XMLNS = "http://obs.otc.t-systems.com/doc/2016-01-01/"
XML_TYPE = "application/xml"
OBS_VERSION = "3.0"
MAX_CLOCK_SKEW_SECONDS = 15 * 60

PERMANENT, TEMPORARY = "aksk", "temporary"

_ERROR_MESSAGES = {
    400: ("InvalidRequest", "The request is not valid."),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    405: ("MethodNotAllowed", "The specified method is not allowed against this resource."),
    429: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    501: ("NotImplemented", "A header you provided implies functionality that is not implemented."),
    503: ("ServiceUnavailable", "Please reduce your request rate."),
}


@dataclass
class ObsError(Exception):
    """An OBS error answer."""

    status: int
    code: str
    message: str
    extra: dict[str, str] = field(default_factory=dict)  # e.g. BucketName, Key

    def response(self, request: Request) -> Response:
        """The XML error body (none for a HEAD), with OBS's request id headers."""
        if request.method == "HEAD":
            return Response(self.status, b"", {"Content-Type": XML_TYPE})
        parts = [f"<Code>{escape(self.code)}</Code>", f"<Message>{escape(self.message)}</Message>"]
        parts += [f"<{name}>{escape(value)}</{name}>" for name, value in self.extra.items()]
        parts += [
            f"<RequestId>{request.request_id}</RequestId>",
            f"<HostId>{host_id(request.request_id)}</HostId>",
        ]
        body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
        return Response(self.status, body.encode(), {"Content-Type": XML_TYPE})


def fault_error(status: int, code: str | None, message: str | None) -> ObsError:
    """The error an injected fault answers with, in OBS's words."""
    default_code, default_message = _ERROR_MESSAGES.get(
        status, ("InternalError", "Injected fault.")
    )
    return ObsError(status, code or default_code, message or default_message)


def host_id(request_id: str) -> str:
    """OBS's second request id (`x-obs-id-2`, `<HostId>`), derived from the first."""
    return request_id[::-1] + "+OBS"


@dataclass(frozen=True, slots=True)
class Addressed:
    """Which bucket and key a request names, and how it named the bucket."""

    bucket: str
    key: str
    virtual_host: bool


def addressed(request: Request) -> Addressed:
    """Read the bucket from the Host header (virtual-host style) or from the path."""
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else ""
    marker = ".obs."
    if marker in host:
        return Addressed(host.split(marker, 1)[0], unquote(request.path[1:]), True)
    bucket, _, key = request.path[1:].partition("/")
    return Addressed(unquote(bucket), unquote(key), False)


def handle(state: SimulatorState, request: Request) -> tuple[Response, str | None]:
    """Answer one OBS request; return the answer and the kind of keys it presented (for the
    log: `aksk`, `temporary`, or None when unsigned), whether or not they passed."""
    try:
        target = addressed(request)
        authenticate(state, request, target)
        response = route(state, request, target)
    except ObsError as error:
        response = error.response(request)
    return response, presented(request)


def presented(request: Request) -> str | None:
    """Which kind of keys a request was signed with, checked or not."""
    if not request.headers.get("Authorization"):
        return None
    return TEMPORARY if request.headers.get("x-obs-security-token") else PERMANENT


def authenticate(state: SimulatorState, request: Request, target: Addressed) -> str:
    """Check the signature; return `aksk` (permanent keys) or `temporary`. Raises `ObsError`."""
    authorization = request.headers.get("Authorization")
    if not authorization:
        raise ObsError(403, "AccessDenied", "Anonymous access is not allowed to this resource.")
    try:
        claim = obs_signature.read_authorization(authorization)
    except ValueError as exc:
        raise ObsError(
            403, "AccessDenied", f"The Authorization header is malformed: {exc}."
        ) from exc
    security_token = request.headers.get("x-obs-security-token")
    issued = None
    if claim.access_key == state.settings.ak:
        secret = state.settings.sk
    else:
        issued = state.temporary_key(claim.access_key)
        if issued is None or not security_token:
            raise ObsError(
                403,
                "InvalidAccessKeyId",
                "The access key Id you provided does not exist in our records.",
                {"AccessKeyId": claim.access_key},
            )
        secret = issued.secret
    canonical = obs_signature.resource(
        target.bucket, target.virtual_host, request.path, request.query
    )
    text = obs_signature.text_to_sign(request.method, request.headers, canonical)
    if not obs_signature.verifies(claim, text, secret):
        raise ObsError(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            {"AccessKeyId": claim.access_key},
        )
    if issued is not None:
        if security_token != issued.security_token:
            raise ObsError(
                400, "InvalidToken", "The provided token is malformed or otherwise invalid."
            )
        if issued.expires_at <= state.now():
            raise ObsError(400, "ExpiredToken", "The provided token has expired.")
    elif security_token:
        raise ObsError(400, "InvalidToken", "A security token goes only with temporary keys.")
    try:
        signed_at = obs_signature.signing_time(request.headers)
    except ValueError as exc:
        raise ObsError(403, "AccessDenied", f"The request is not dated: {exc}.") from exc
    if abs(state.now() - signed_at) > MAX_CLOCK_SKEW_SECONDS:
        raise ObsError(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large.",
        )
    return PERMANENT if issued is None else TEMPORARY


def route(state: SimulatorState, request: Request, target: Addressed) -> Response:
    """Dispatch an authenticated request."""
    method = request.method
    if not target.bucket:
        if method != "GET":
            raise _not_allowed(method)
        return list_buckets(state, request)
    record = _open_bucket(state, target.bucket)
    params = {item.partition("=")[0] for item in request.query.split("&") if item}
    if not target.key:
        if method == "HEAD":
            return head_bucket(record)
        if method == "GET" and "location" in params:
            return _xml(f'<Location xmlns="{XMLNS}">{escape(record.region)}</Location>')
        if method == "GET" and "storageClass" in params:
            return _xml(f'<StorageClass xmlns="{XMLNS}">{record.storage_class}</StorageClass>')
        if method == "GET":
            raise ObsError(501, "NotImplemented", "This simulator does not list objects.")
        raise _not_allowed(method)
    if method != "HEAD":
        if method == "GET":
            raise ObsError(501, "NotImplemented", "This simulator keeps metadata, no content.")
        raise _not_allowed(method)
    return head_object(state, record, target.key)


def list_buckets(state: SimulatorState, request: Request) -> Response:
    """`GET /`: the buckets the account owns, in every region, by name; each one's region
    only when `x-obs-location: true` asks for it, as OBS does."""
    with_location = (request.headers.get("x-obs-location") or "").lower() == "true"
    entries = "".join(
        "<Bucket>"
        f"<Name>{escape(record.name)}</Name>"
        f"<CreationDate>{iso_time(record.created)}</CreationDate>"
        + (f"<Location>{escape(record.region)}</Location>" if with_location else "")
        + "<BucketType>OBJECT</BucketType>"
        "</Bucket>"
        for record in state.buckets()
        if record.listed
    )
    return _xml(
        f'<ListAllMyBucketsResult xmlns="{XMLNS}">'
        f"<Owner><ID>{defaults.DOMAIN_ID}</ID></Owner>"
        f"<Buckets>{entries}</Buckets>"
        "</ListAllMyBucketsResult>"
    )


def head_bucket(record: BucketRecord) -> Response:
    """`HEAD /` on a bucket: where it is and its default storage class."""
    return Response(
        200,
        b"",
        {
            "x-obs-bucket-location": record.region,
            "x-obs-storage-class": record.storage_class,
            "x-obs-version": OBS_VERSION,
            "Content-Type": XML_TYPE,
        },
    )


def head_object(state: SimulatorState, record: BucketRecord, key: str) -> Response:
    """`HEAD /<key>`: the object's metadata, or 404."""
    stored = state.object(record.name, key)
    if stored is None:
        raise ObsError(404, "NoSuchKey", "The specified key does not exist.", {"Key": key})
    return Response(
        200,
        b"",
        {
            "Content-Length": str(stored.size),
            "Content-Type": stored.content_type,
            "ETag": f'"{stored.etag}"',
            "Last-Modified": http_time(stored.last_modified),
        },
    )


def response_headers(request: Request) -> dict[str, str]:
    """The headers every OBS answer carries."""
    return {"x-obs-request-id": request.request_id, "x-obs-id-2": host_id(request.request_id)}


def new_request_id() -> str:
    """OBS request ids are 32 upper-case hex characters."""
    return secrets.token_hex(16).upper()


def _open_bucket(state: SimulatorState, name: str) -> BucketRecord:
    record = state.bucket(name)
    if record is None:
        raise ObsError(
            404, "NoSuchBucket", "The specified bucket does not exist.", {"BucketName": name}
        )
    if not record.accessible:
        raise ObsError(403, "AccessDenied", "Access Denied", {"BucketName": name})
    return record


def _not_allowed(method: str) -> ObsError:
    return ObsError(
        405,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
        {"Method": method},
    )


def _xml(document: str) -> Response:
    body = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + document
    return Response(200, body.encode(), {"Content-Type": XML_TYPE})
