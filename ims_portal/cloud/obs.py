"""The OBS calls the portal makes: list the account's buckets, read a bucket's metadata, read an
object's metadata. All are reads (GET or HEAD), so every one is retried on retryable failures
like the IMS GET calls, with the same timeouts, and every failure is the same `CloudError`.

Addressing: in virtual-host style (OBS's default, and the only one its docs use for bucket
calls) a bucket is reached at `https://<bucket>.obs.<region>...`; in path style at
`https://obs.<region>.../<bucket>`. The service call (the bucket list) goes to the endpoint
itself in both. An endpoint given as an IP address (a local simulator, a proxy) can only do
path style.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, get_args
from urllib.parse import quote, urlsplit
from xml.etree.ElementTree import Element

import requests

from ims_portal.cloud import obs_signing, obs_xml
from ims_portal.cloud.errors import CloudError, ConfigurationError, InvalidResponse, NotFound
from ims_portal.cloud.models import Bucket, BucketInfo, ObjectInfo, _parse_time
from ims_portal.cloud.obs_auth import STALE_KEY_CODES, KeySource
from ims_portal.cloud.transport import RetryPolicy, TimeoutSpec, call, send

log = logging.getLogger("ims_portal.cloud")

Addressing = Literal["virtual", "path"]
ADDRESSINGS: tuple[Addressing, ...] = get_args(Addressing)
DEFAULT_ADDRESSING: Addressing = "virtual"

# What may stand in a host label or a path segment without changing the URL's meaning. The
# bucket naming rules are the portal's (exports/rules.py) and OBS's; this only keeps a name
# from escaping the place it is put in.
_URL_SAFE_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
LOCATION_HEADER = "x-obs-location"


@dataclass(frozen=True, slots=True)
class ObsEndpoint:
    """Where OBS is (`scheme://host[:port]`, nothing after) and how buckets are addressed."""

    url: str
    addressing: Addressing = DEFAULT_ADDRESSING

    @property
    def path_style(self) -> bool:
        """Whether the bucket is the first path segment rather than part of the host name."""
        return self.addressing == "path"

    def bucket_url(self, bucket: str, key: str = "") -> str:
        """The URL of a bucket (or of an object in it), without a query."""
        parts = urlsplit(self.url)
        path = "/" + obs_signing.encode_key(key) if key else "/"
        if self.path_style:
            return f"{self.url}/{quote(bucket, safe='')}" + (path if key else "")
        return f"{parts.scheme}://{bucket}.{parts.netloc}{path}"


def endpoint(raw: str, addressing_raw: str) -> ObsEndpoint:
    """Check `OBS_ENDPOINT` and `OBS_ADDRESSING`; `ConfigurationError` names the variable."""
    addressing = addressing_setting(addressing_raw)
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError("OBS_ENDPOINT must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ConfigurationError("OBS_ENDPOINT must not contain credentials")
    if parts.path.strip("/") or parts.query or parts.fragment:
        # The signed resource is /<bucket>/<key>: a path in front of it would not be signed.
        raise ConfigurationError("OBS_ENDPOINT must be a bare address, without a path or query")
    if addressing == "virtual" and _is_ip_address(parts.hostname):
        raise ConfigurationError(
            "OBS_ENDPOINT is an IP address, which cannot carry bucket host names: "
            "set OBS_ADDRESSING=path"
        )
    return ObsEndpoint(f"{parts.scheme}://{parts.netloc}", addressing)


def addressing_setting(raw: str) -> Addressing:
    """`OBS_ADDRESSING` read (blank: the default, virtual)."""
    if not raw:
        return DEFAULT_ADDRESSING
    for addressing in ADDRESSINGS:
        if raw.lower() == addressing:
            return addressing
    raise ConfigurationError(
        f"OBS_ADDRESSING must be one of {', '.join(ADDRESSINGS)} (default {DEFAULT_ADDRESSING})"
    )


# Where each cloud puts OBS, by the domain its IMS endpoint is under: (IMS domain, OBS host).
_OBS_HOSTS = (
    (".otc.t-systems.com", "obs.{region}.otc.t-systems.com"),
    (".myhuaweicloud.com", "obs.{region}.myhuaweicloud.com"),
    (".myhuaweicloud.eu", "obs.{region}.myhuaweicloud.eu"),
)
# Regions whose name alone says which cloud they belong to.
_REGION_HOSTS = {
    "eu-de": "obs.eu-de.otc.t-systems.com",
    "eu-nl": "obs.eu-nl.otc.t-systems.com",
    "eu-west-101": "obs.eu-west-101.myhuaweicloud.eu",
}


def derived_endpoint(ims_endpoint: str, region: str) -> str | None:
    """OBS's address for a cloud and region, where their naming is known; else None.

    The cloud is known from the IMS endpoint's domain (`ims.<region>.otc.t-systems.com`:
    Open Telekom Cloud; `ims.<region>.myhuaweicloud.com` or `.eu`: Huawei Cloud), or failing
    that from a region only one cloud has (`eu-de`, `eu-nl`: Open Telekom Cloud;
    `eu-west-101`: Huawei Cloud's EU region). The region is `region`, else the label after
    `ims.` in the IMS host name.
    """
    host = (urlsplit(ims_endpoint).hostname or "").lower()
    if not region and host.startswith("ims."):
        region = host.split(".")[1]
    region = region.lower()
    if not re.fullmatch(r"[a-z0-9-]+", region):
        return None
    if region == "eu-west-101":
        return f"https://{_REGION_HOSTS[region]}"  # Huawei Cloud serves it under .eu only
    for domain, pattern in _OBS_HOSTS:
        if host.endswith(domain):
            return "https://" + pattern.format(region=region)
    if region in _REGION_HOSTS:
        return f"https://{_REGION_HOSTS[region]}"
    return None


class ObsApi:
    """The three OBS reads, signed with the keys of a `KeySource`."""

    def __init__(
        self,
        where: ObsEndpoint,
        keys: KeySource,
        *,
        session: requests.Session,
        timeout: TimeoutSpec,
        policy: RetryPolicy,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.endpoint = where
        self.keys = keys
        self._session = session
        self.timeout = timeout
        self.policy = policy
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"ObsApi(endpoint={self.endpoint!r}, keys={self.keys!r})"

    def list_buckets(self) -> list[Bucket]:
        """`GET /` on the endpoint: every bucket of the account, in every region.

        `x-obs-location: true` asks OBS to name each bucket's region, which it leaves out
        otherwise. The list is read as one page: OBS sends every bucket unless asked for
        fewer (an account holds at most 100 by default).
        """
        response = self._send("GET", "", "", (), {LOCATION_HEADER: "true"})
        root = _xml(response, "/")
        if obs_xml.local_name(root) != "ListAllMyBucketsResult":
            raise InvalidResponse(
                f"the bucket list is a {obs_xml.local_name(root)!r} document",
                status=response.status_code,
                method="GET",
                path="/",
                request_id=_request_id(response),
            )
        holder = obs_xml.child(root, "Buckets")
        buckets = []
        for entry in obs_xml.children(holder, "Bucket") if holder is not None else ():
            name = obs_xml.text(entry, "Name")
            if not name:
                continue
            created = _parse_time(obs_xml.text(entry, "CreationDate"))
            buckets.append(
                Bucket(
                    name=name,
                    region=obs_xml.text(entry, "Location"),
                    created=created or datetime.fromtimestamp(0, UTC),
                )
            )
        return buckets

    def bucket_info(self, name: str) -> BucketInfo | None:
        """`HEAD /` on the bucket: its region and storage class; None if it does not exist."""
        _check_bucket(name)
        try:
            response = self._send("HEAD", name, "", ())
        except NotFound:
            return None
        return BucketInfo(
            name=name,
            region=response.headers.get("x-obs-bucket-location", ""),
            storage_class=response.headers.get("x-obs-storage-class", ""),
            request_id=_request_id(response),
        )

    def object_info(self, bucket: str, key: str) -> ObjectInfo | None:
        """`HEAD /<key>` in the bucket: size, ETag, last modified; None if there is no such
        object (or bucket)."""
        _check_bucket(bucket)
        if not key:
            raise ValueError("an object key is needed")
        try:
            response = self._send("HEAD", bucket, key, ())
        except NotFound:
            return None
        path = "/" + obs_signing.encode_key(key)
        try:
            size = int(response.headers.get("Content-Length", ""))
        except ValueError:
            raise InvalidResponse(
                "object metadata without a Content-Length",
                status=response.status_code,
                method="HEAD",
                path=path,
                request_id=_request_id(response),
            ) from None
        return ObjectInfo(
            size=size,
            etag=response.headers.get("ETag", "").strip().strip('"'),
            last_modified=_http_time(response.headers.get("Last-Modified", "")),
            content_type=response.headers.get("Content-Type", ""),
            request_id=_request_id(response),
        )

    def _send(
        self,
        method: str,
        bucket: str,
        key: str,
        sub_resources: obs_signing.SubResources,
        extra_headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One signed OBS read, retried like any GET; fresh temporary keys once if OBS says
        the ones used are no good any more."""
        url = self.endpoint.bucket_url(bucket, key) if bucket else self.endpoint.url + "/"
        if sub_resources:
            url += "?" + "&".join(
                name if value is None else f"{name}={quote(value, safe='')}"
                for name, value in sub_resources
            )
        renewed = False

        def attempt() -> requests.Response:
            nonlocal renewed
            while True:
                try:
                    keys = self.keys.keys()
                except CloudError as error:
                    error.outcome_unknown = False  # IAM failed before OBS was asked
                    raise
                ak, sk, token = keys.reveal()
                headers = dict(extra_headers or {})
                headers |= obs_signing.sign(
                    method,
                    bucket,
                    key,
                    sub_resources,
                    headers,
                    ak,
                    sk,
                    path_style=self.endpoint.path_style,
                    security_token=token,
                    when=self._clock(),
                )
                try:
                    return send(
                        self._session,
                        method,
                        url,
                        headers=headers,
                        body=b"",
                        timeout=self.timeout,
                        secrets=self.keys.secrets(),
                    )
                except CloudError as error:
                    if renewed or not self.keys.temporary or not _stale_keys(method, error):
                        raise
                    renewed = True
                    self.keys.invalidate(keys)
                    log.info("%s %s: OBS refused the temporary keys, asking IAM again", method, url)

        return call(attempt, retry=True, policy=self.policy)


def _stale_keys(method: str, error: CloudError) -> bool:
    """Whether OBS refused the temporary keys themselves (expired, revoked, unknown)."""
    if error.code:
        return error.code in STALE_KEY_CODES
    # A HEAD answer has no body, so no code. Its 400 can only be about the request's
    # credentials (there is nothing else in a HEAD to be wrong): InvalidToken, ExpiredToken.
    # Its 403 may be a refusal of the bucket or OBS not knowing the keys (InvalidAccessKeyId,
    # as after IAM revoked them): one renewal tells the two apart, at one IAM call.
    return method == "HEAD" and error.status in (400, 403)


def _check_bucket(name: str) -> None:
    if not _URL_SAFE_BUCKET.fullmatch(name or ""):
        raise ValueError(f"{name!r} cannot be an OBS bucket name")


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _xml(response: requests.Response, path: str) -> Element:
    try:
        return obs_xml.parse(response.content)
    except obs_xml.XmlError as exc:
        raise InvalidResponse(
            f"the answer is not OBS XML ({exc})",
            status=response.status_code,
            method=response.request.method or "",
            path=path,
            request_id=_request_id(response),
        ) from None


def _request_id(response: requests.Response) -> str:
    return response.headers.get("x-obs-request-id", "")


def _http_time(value: str) -> datetime:
    """An HTTP date (`Last-Modified`), as an aware UTC time; the epoch if unreadable."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
