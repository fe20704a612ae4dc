"""Reading the cloud settings from the environment (12-factor), with errors that name the variable.

Operators script against these names, so they are fixed: `IMS_ENDPOINT`, `IMS_PROJECT_ID`, and
either `IMS_AK` + `IMS_SK` (request signing) or `IAM_ENDPOINT` + `IAM_USERNAME` +
`IAM_PASSWORD` + `IAM_DOMAIN` (IAM token). Blank values count as unset. Setting parts of both
schemes is refused rather than guessed at: a half-removed old configuration is a mistake the
operator wants to hear about, not have silently resolved.

`IMS_EXPORT_API_VERSION` picks the export call: `v1` (the default, and the only one Open
Telekom Cloud documents) or `v2.1` (documented by Huawei Cloud; same body, same answer).

`OBS_ENDPOINT` is where OBS is (e.g. `https://obs.eu-de.otc.t-systems.com`); unset, it is
derived from the cloud and region where their naming is known (`obs.derived_endpoint`:
`IMS_REGION`, else the region in the IMS host name), and left unknown otherwise: the IMS
calls work without it, the OBS calls then raise `ConfigurationError`. `OBS_ADDRESSING` is
`virtual` (the default) or `path`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import urlsplit

from ims_portal.cloud.auth import AkSkAuth, Auth, TokenAuth
from ims_portal.cloud.errors import ConfigurationError
from ims_portal.cloud.obs import ObsEndpoint, addressing_setting, derived_endpoint
from ims_portal.cloud.obs import endpoint as checked_obs_endpoint

AKSK_VARS = ("IMS_AK", "IMS_SK")
PASSWORD_VARS = ("IAM_USERNAME", "IAM_PASSWORD", "IAM_DOMAIN")

ExportApiVersion = Literal["v1", "v2.1"]
EXPORT_API_VERSIONS: tuple[ExportApiVersion, ...] = get_args(ExportApiVersion)
DEFAULT_EXPORT_API_VERSION: ExportApiVersion = "v1"


@dataclass(frozen=True, slots=True)
class CloudConfig:
    """Where the cloud is, which project, and how to authenticate."""

    endpoint: str
    project_id: str
    auth: Auth
    export_api_version: ExportApiVersion = DEFAULT_EXPORT_API_VERSION
    obs: ObsEndpoint | None = None  # None: unknown (OBS_ENDPOINT unset, not derivable)


def from_env(environ: Mapping[str, str] | None = None) -> CloudConfig:
    """Read and check the cloud settings; `ConfigurationError` names the offending variable.

    Error messages name variables only, never their values, since some of them are secrets.
    """
    env = os.environ if environ is None else environ

    def value(name: str) -> str:
        return (env.get(name) or "").strip()

    endpoint = _endpoint(value("IMS_ENDPOINT"), "IMS_ENDPOINT")
    project_id = value("IMS_PROJECT_ID")
    if not project_id:
        raise ConfigurationError(
            "IMS_PROJECT_ID is not set: the id of the project that owns the images"
        )

    aksk_set = [name for name in AKSK_VARS if value(name)]
    password_set = [name for name in PASSWORD_VARS if value(name)]
    if aksk_set and password_set:
        raise ConfigurationError(
            f"both AK/SK ({', '.join(aksk_set)}) and IAM password settings "
            f"({', '.join(password_set)}) are set: keep one scheme and unset the other"
        )
    if aksk_set:
        missing = [name for name in AKSK_VARS if name not in aksk_set]
        if missing:
            raise ConfigurationError(
                f"{missing[0]} is not set but {aksk_set[0]} is: AK/SK signing needs both"
            )
        auth: Auth = AkSkAuth(value("IMS_AK"), value("IMS_SK"), project_id)
    elif password_set:
        missing = [name for name in PASSWORD_VARS if name not in password_set]
        if missing:
            raise ConfigurationError(
                f"{', '.join(missing)} not set: IAM password authentication needs "
                f"{', '.join(PASSWORD_VARS)}"
            )
        iam_endpoint = _endpoint(value("IAM_ENDPOINT"), "IAM_ENDPOINT")
        auth = TokenAuth(
            iam_endpoint,
            value("IAM_USERNAME"),
            value("IAM_PASSWORD"),
            value("IAM_DOMAIN"),
            project_id,
        )
    else:
        raise ConfigurationError(
            "no cloud credentials: set IMS_AK and IMS_SK, or IAM_USERNAME, IAM_PASSWORD and "
            "IAM_DOMAIN (with IAM_ENDPOINT)"
        )
    return CloudConfig(
        endpoint=endpoint,
        project_id=project_id,
        auth=auth,
        export_api_version=export_api_version(value("IMS_EXPORT_API_VERSION")),
        obs=obs_endpoint(value("OBS_ENDPOINT"), value("OBS_ADDRESSING"), endpoint, value),
    )


def obs_endpoint(
    raw: str, addressing: str, ims_endpoint: str, value: Callable[[str], str]
) -> ObsEndpoint | None:
    """OBS's address from `OBS_ENDPOINT`, else derived from the IMS endpoint and `IMS_REGION`."""
    if raw:
        return checked_obs_endpoint(raw, addressing)
    derived = derived_endpoint(ims_endpoint, value("IMS_REGION"))
    if derived is None:
        addressing_setting(addressing)  # a bad value is refused even so
        return None
    return checked_obs_endpoint(derived, addressing)


def export_api_version(raw: str) -> ExportApiVersion:
    """The export call's API version from `IMS_EXPORT_API_VERSION` (blank: the default)."""
    if not raw:
        return DEFAULT_EXPORT_API_VERSION
    for version in EXPORT_API_VERSIONS:
        if raw.lower() == version:
            return version
    raise ConfigurationError(
        f"IMS_EXPORT_API_VERSION must be one of {', '.join(EXPORT_API_VERSIONS)} "
        f"(default {DEFAULT_EXPORT_API_VERSION})"
    )


def _endpoint(raw: str, name: str) -> str:
    if not raw:
        raise ConfigurationError(f"{name} is not set: the https:// address of the service")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ConfigurationError(f"{name} must not contain credentials")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must not have a query string or fragment")
    return raw.rstrip("/")
