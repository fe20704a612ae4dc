"""The keys that sign OBS requests, for each of the portal's two ways of authenticating.

OBS accepts no IAM token: every request is signed with an access key pair (`obs_signing`).

- With `IMS_AK`/`IMS_SK` (`AkSkAuth`), the same permanent pair signs OBS requests.
- With an IAM user (`TokenAuth`), the portal trades its IAM token for a temporary AK/SK and a
  security token (`POST /v3.0/OS-CREDENTIAL/securitytokens` on IAM), signs with those and
  sends the security token as `x-obs-security-token`. They are cached and shared by every
  thread until `REFRESH_MARGIN` before they expire, like the IAM token itself.

Every key is held in a `Secret`, so no repr, log line or error text shows one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from ims_portal.cloud.auth import AkSkAuth, Auth, Secret, TokenAuth
from ims_portal.cloud.errors import AuthenticationError, InvalidResponse
from ims_portal.cloud.transport import RetryPolicy, TimeoutSpec, call, send

log = logging.getLogger("ims_portal.cloud")

SECURITY_TOKENS_PATH = "/v3.0/OS-CREDENTIAL/securitytokens"
# What the temporary keys are asked to live (IAM allows 900 s to 24 h). An hour keeps IAM
# calls rare while a stolen key would soon be useless.
TEMPORARY_KEY_SECONDS = 60 * 60
# Renew this long before IAM's expiry: a request signed just before must still arrive in time.
REFRESH_MARGIN = 5 * 60.0

# OBS error codes that mean "these keys are no good any more" for temporary keys: a repeat
# with freshly issued ones may succeed (for a permanent pair it would not).
STALE_KEY_CODES = frozenset({"InvalidAccessKeyId", "InvalidToken", "ExpiredToken"})


@dataclass(frozen=True, slots=True)
class ObsKeys:
    """One access key pair, with the security token that temporary keys need."""

    access_key: Secret
    secret_key: Secret
    security_token: Secret | None = None

    def reveal(self) -> tuple[str, str, str | None]:
        """(access key, secret key, security token or None), for the one place that signs."""
        token = self.security_token.reveal() if self.security_token else None
        return self.access_key.reveal(), self.secret_key.reveal(), token


class KeySource(Protocol):
    """Where a client gets the keys that sign its OBS requests."""

    @property
    def temporary(self) -> bool:
        """Whether the keys expire (and may be renewed after OBS refuses them)."""
        ...

    def keys(self) -> ObsKeys:
        """Keys valid for at least a little while longer."""
        ...

    def invalidate(self, used: ObsKeys) -> None:
        """OBS refused `used`: forget them, unless they were replaced already."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Values to mask wherever text from the cloud is shown."""
        ...


class PermanentKeys:
    """The `IMS_AK`/`IMS_SK` pair, which signs OBS requests as it signs IMS ones."""

    temporary = False

    def __init__(self, auth: AkSkAuth) -> None:
        ak, sk = auth.key_pair()
        self._keys = ObsKeys(ak, sk)

    def __repr__(self) -> str:
        return "PermanentKeys()"

    def keys(self) -> ObsKeys:
        """The permanent pair."""
        return self._keys

    def invalidate(self, used: ObsKeys) -> None:
        """Nothing to renew: a refused permanent pair stays refused."""

    def secrets(self) -> tuple[str, ...]:
        """The access key and the secret key."""
        ak, sk, _ = self._keys.reveal()
        return (ak, sk)


class TemporaryKeys:
    """Temporary keys and a security token from IAM, for a portal signed in as an IAM user."""

    temporary = True

    def __init__(
        self,
        auth: TokenAuth,
        *,
        timeout: TimeoutSpec,
        policy: RetryPolicy,
        session: requests.Session | None = None,
        duration: int = TEMPORARY_KEY_SECONDS,
        refresh_margin: float = REFRESH_MARGIN,
    ) -> None:
        self.auth = auth
        self.timeout = timeout
        self.policy = policy
        self.duration = duration
        self.refresh_margin = refresh_margin
        self._session = session or requests.Session()
        self._lock = threading.Lock()
        self._keys: ObsKeys | None = None
        self._renew_at = 0.0  # time.monotonic() value after which new keys are asked for

    def __repr__(self) -> str:
        return f"TemporaryKeys(iam_endpoint={self.auth.iam_endpoint!r})"

    def keys(self) -> ObsKeys:
        """Keys valid for at least `refresh_margin` more seconds (asked of IAM if needed)."""
        with self._lock:
            if self._keys is None or time.monotonic() >= self._renew_at:
                self._keys = self._fetch()
            return self._keys

    def invalidate(self, used: ObsKeys) -> None:
        """Drop the keys OBS refused, unless another thread already replaced them."""
        with self._lock:
            if self._keys is used:
                self._keys = None

    def secrets(self) -> tuple[str, ...]:
        """The IAM user's secrets, and the current temporary keys and token."""
        current = self._keys
        own = current.reveal() if current else ()
        return (*self.auth.secrets(), *(value for value in own if value))

    def _fetch(self) -> ObsKeys:
        # The caller holds the lock.
        body = json.dumps(
            {
                "auth": {
                    "identity": {
                        "methods": ["token"],
                        "token": {"duration_seconds": self.duration},
                    }
                }
            }
        ).encode()
        url = self.auth.iam_endpoint + SECURITY_TOKENS_PATH
        renewed_token = False

        def attempt() -> requests.Response:
            nonlocal renewed_token
            while True:
                token = self.auth.token()
                headers = {
                    "Content-Type": "application/json;charset=utf8",
                    "X-Auth-Token": token,
                }
                try:
                    return send(
                        self._session,
                        "POST",
                        url,
                        headers=headers,
                        body=body,
                        timeout=self.timeout,
                        secrets=self.secrets(),
                    )
                except AuthenticationError:
                    # IAM refused the token (revoked, or expired early): one more try with a
                    # new one, as for any IMS call.
                    if renewed_token:
                        raise
                    renewed_token = True
                    self.auth.invalidate({"X-Auth-Token": token})

        asked_at = time.monotonic()
        # Asking again is harmless: each answer is a fresh set of keys, the old ones just expire.
        response = call(attempt, retry=True, policy=self.policy)
        keys, lifetime = _read_credential(response, self.duration)
        self._renew_at = asked_at + max(0.0, lifetime - self.refresh_margin)
        log.info("OBS temporary keys obtained from IAM, valid %.0f s", lifetime)
        return keys


def key_source(
    auth: Auth, *, timeout: TimeoutSpec, policy: RetryPolicy, session: requests.Session
) -> KeySource | None:
    """The OBS keys that go with an IMS authentication strategy; None for one OBS cannot use."""
    if isinstance(auth, AkSkAuth):
        return PermanentKeys(auth)
    if isinstance(auth, TokenAuth):
        return TemporaryKeys(auth, timeout=timeout, policy=policy, session=session)
    return None


def _read_credential(response: requests.Response, asked_for: float) -> tuple[ObsKeys, float]:
    """The keys in IAM's answer, and how many seconds they live."""
    try:
        data: Any = response.json()
        credential = data["credential"]
        access, secret, token = (
            credential["access"],
            credential["secret"],
            credential["securitytoken"],
        )
    except (ValueError, KeyError, TypeError):
        access = secret = token = None
    if not all(isinstance(value, str) and value for value in (access, secret, token)):
        raise InvalidResponse(
            "IAM answered without a temporary access key, secret key and security token",
            status=response.status_code,
            method="POST",
            path=SECURITY_TOKENS_PATH,
            request_id=response.headers.get("X-Request-Id", ""),
        )
    lifetime = float(asked_for)
    try:
        expires = datetime.fromisoformat(str(credential["expires_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        pass
    else:
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        # IAM gives only the expiry, in its clock: compare with ours, never beyond what we
        # asked for.
        lifetime = max(0.0, min(lifetime, (expires - datetime.now(UTC)).total_seconds()))
    return ObsKeys(Secret(str(access)), Secret(str(secret)), Secret(str(token))), lifetime
