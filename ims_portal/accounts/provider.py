"""The company's OpenID Provider as the portal sees it: its endpoints, read from discovery
at `OIDC_ISSUER`, and its signing keys, read from its JWKS.

Both are fetched lazily, at the first sign-in, and cached in the process: the portal starts
(and serves signed-in users) while the provider is briefly down, and a provider outage shows
up where it matters, as a "provider unreachable" page at sign-in. Metadata is re-read after
`METADATA_MAX_AGE`, so a provider that moves an endpoint needs no restart. Keys are re-read
when an ID token names a key id (`kid`) that is not in the cached set: that is how a key
rotation at the provider reaches us without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from django.conf import settings

logger = logging.getLogger(__name__)

METADATA_MAX_AGE = 3600.0
# An unknown `kid` re-reads the JWKS at most this often, so that tokens carrying made-up key
# ids cannot make the portal hammer the provider.
JWKS_MIN_REFETCH_INTERVAL = 10.0


class ProviderUnavailable(Exception):
    """The provider could not be reached, or answered something that is not valid metadata."""


class UnknownSigningKey(Exception):
    """The token names a key that the provider does not publish (even after a re-read)."""


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the discovery document the portal uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    token_endpoint_auth_methods: tuple[str, ...]

    @property
    def client_secret_in_header(self) -> bool:
        """Send the client secret with HTTP Basic (`client_secret_basic`, OAuth's default)
        unless the provider lists only `client_secret_post`."""
        return self.token_endpoint_auth_methods != ("client_secret_post",)


_lock = threading.Lock()
_metadata: dict[str, tuple[float, ProviderMetadata]] = {}
_key_sets: dict[str, tuple[float, list[dict[str, Any]]]] = {}


def discovery_url(issuer: str) -> str:
    """OpenID Connect Discovery 1.0, section 4: the issuer, without a trailing slash, plus
    the well-known path."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def metadata() -> ProviderMetadata:
    """The provider at `OIDC_ISSUER`, from its discovery document (cached)."""
    issuer = settings.OIDC_ISSUER
    with _lock:
        cached = _metadata.get(issuer)
    if cached and time.monotonic() - cached[0] < METADATA_MAX_AGE:
        return cached[1]
    document = _get_json(discovery_url(issuer))
    # Discovery, section 4.3: the document must name exactly the issuer we asked, or a
    # look-alike document could send our users to someone else's endpoints.
    if document.get("issuer") != issuer:
        raise ProviderUnavailable(
            f"discovery at {discovery_url(issuer)} names issuer {document.get('issuer')!r}, "
            f"not OIDC_ISSUER {issuer!r}"
        )
    try:
        found = ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=document.get("userinfo_endpoint"),
            end_session_endpoint=document.get("end_session_endpoint"),
            token_endpoint_auth_methods=tuple(
                document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
            ),
        )
    except KeyError as missing:
        raise ProviderUnavailable(f"discovery document lacks {missing}") from None
    with _lock:
        _metadata[issuer] = (time.monotonic(), found)
    return found


def signing_key(token: str) -> jwt.PyJWK:
    """The provider's public key that signed `token`, chosen by the token's `kid` and `alg`.

    The JWKS is cached; a `kid` missing from the cache re-reads it once (key rotation).
    """
    header = jwt.get_unverified_header(token)
    jwks_uri = metadata().jwks_uri
    with _lock:
        cached = _key_sets.get(jwks_uri)
    if cached is not None:
        key = _pick(cached[1], header)
        if key is not None:
            return jwt.PyJWK(key, algorithm=header["alg"])
        if time.monotonic() - cached[0] < JWKS_MIN_REFETCH_INTERVAL:
            raise UnknownSigningKey(f"no published key has kid {header.get('kid')!r}")
    keys = _get_json(jwks_uri).get("keys")
    if not isinstance(keys, list):
        raise ProviderUnavailable(f"{jwks_uri} is not a JSON Web Key Set")
    with _lock:
        _key_sets[jwks_uri] = (time.monotonic(), keys)
    key = _pick(keys, header)
    if key is None:
        raise UnknownSigningKey(f"no published key has kid {header.get('kid')!r}")
    return jwt.PyJWK(key, algorithm=header["alg"])


# The key type each family of signature algorithms needs.
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}


def _pick(keys: list[dict[str, Any]], header: dict[str, Any]) -> dict[str, Any] | None:
    """The signing key for a token header: same `kid` (a key set with a single key may
    omit it), a key type fit for the token's `alg` and, where the key says, the same `alg`."""
    algorithm = str(header.get("alg", ""))
    signing = [
        k
        for k in keys
        if k.get("use", "sig") == "sig"
        and k.get("kty") == KEY_TYPES.get(algorithm[:2])
        and k.get("alg", algorithm) == algorithm
    ]
    kid = header.get("kid")
    if kid is None:
        return signing[0] if len(signing) == 1 else None
    return next((k for k in signing if k.get("kid") == kid), None)


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as error:
        logger.warning("OpenID provider: %s: %s", url, error)
        raise ProviderUnavailable(f"{url}: {error}") from error
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"{url} did not answer a JSON object")
    return document
