"""The simulator's one set of credentials and its tunable defaults.

Everything here can be overridden with an environment variable of the same name prefixed
`SIMULATOR_`, so the portal, the run scripts and the tests can all agree on the values
without passing them around. The module constants hold the documented defaults; read the
effective values with `SimulatorSettings.from_env()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# --- IAM user (password flow) -------------------------------------------------------------
IAM_USERNAME = "portal"
IAM_PASSWORD = "portal-password"  # noqa: S105 - a well-known test credential, by design
IAM_DOMAIN = "example-domain"

# --- Project / region ---------------------------------------------------------------------
PROJECT_ID = "0605767e5a80d5762fb2c0142f5a4d6f"
PROJECT_NAME = "eu-de"  # on Open Telekom Cloud a region's default project is named after it
REGION = "eu-de"

# --- AK/SK pair (request signing) ---------------------------------------------------------
AK = "SIMULATORAK0000000001"
SK = "simulator-secret-key-0001"

# --- Tokens and pacing --------------------------------------------------------------------
TOKEN_TTL_SECONDS = 24 * 60 * 60  # IAM tokens live for 24 hours
SPEED = 1.0  # 1.0 = demo pace: a small image exports in roughly 20-40 seconds
BULK_IMAGES = 500  # generated filler images, so that a listing needs more than one page

# Fixed identifiers that appear in token bodies; real IAM uses 32 hex characters for these.
DOMAIN_ID = "16447e8654294757a0531b3a7dec70c4"
USER_ID = "a5d7bb695d8952a2fc96c1145e375225"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8400  # where `make run` serves it, and where the portal looks in development
# OBS has a listener of its own: its path-style URLs (`/<bucket>/<key>`) share no prefix with
# IMS's, and a real OBS endpoint is a host of its own too.
DEFAULT_OBS_PORT = 8401


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    """The effective credentials and defaults, after environment overrides."""

    username: str = IAM_USERNAME
    password: str = IAM_PASSWORD
    domain: str = IAM_DOMAIN
    project_id: str = PROJECT_ID
    project_name: str = PROJECT_NAME
    region: str = REGION
    ak: str = AK
    sk: str = SK
    token_ttl: float = TOKEN_TTL_SECONDS
    bulk_images: int = BULK_IMAGES
    port: int = DEFAULT_PORT
    obs_port: int = DEFAULT_OBS_PORT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SimulatorSettings:
        """Read `SIMULATOR_*` variables, falling back to the documented defaults."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return env.get(f"SIMULATOR_{name}") or default

        return cls(
            username=get("IAM_USERNAME", IAM_USERNAME),
            password=get("IAM_PASSWORD", IAM_PASSWORD),
            domain=get("IAM_DOMAIN", IAM_DOMAIN),
            project_id=get("PROJECT_ID", PROJECT_ID),
            project_name=get("PROJECT_NAME", PROJECT_NAME),
            region=get("REGION", REGION),
            ak=get("AK", AK),
            sk=get("SK", SK),
            token_ttl=float(get("TOKEN_TTL", str(TOKEN_TTL_SECONDS))),
            bulk_images=int(get("BULK_IMAGES", str(BULK_IMAGES))),
            port=int(get("PORT", str(DEFAULT_PORT))),
            obs_port=int(get("OBS_PORT", str(DEFAULT_OBS_PORT))),
        )

    def client_environment(
        self, base_url: str | None = None, obs_url: str | None = None
    ) -> dict[str, str]:
        """The portal's cloud variables (see README) that point a client at this simulator.

        The simulator plays IAM and IMS on one address, so both endpoints are the same; OBS
        is on its own port, in path style (a loopback address has no bucket host names).
        """
        url = base_url or f"http://{DEFAULT_HOST}:{self.port}"
        return {
            "IMS_ENDPOINT": url,
            "IAM_ENDPOINT": url,
            "OBS_ENDPOINT": obs_url or f"http://{DEFAULT_HOST}:{self.obs_port}",
            "OBS_ADDRESSING": "path",
            "IMS_PROJECT_ID": self.project_id,
            "IMS_REGION": self.region,
            "IAM_USERNAME": self.username,
            "IAM_PASSWORD": self.password,
            "IAM_DOMAIN": self.domain,
        }
