"""Fixtures of the SSO tests: a real OpenID Provider on loopback, and the portal pointed at it.

- `oidc_provider` (session): panva's `oidc-provider` (npm, installed by `bin/bootstrap` from
  `tests/oidc_provider/package-lock.json`), run with Node on a free port for the whole run.
  Its directory is `DIRECTORY`: subject -> claims. Yields a `TestProvider`.
- `sso` (function): company SSO switched on against that provider, for the Django test
  client (`http://testserver`); password sign-in off, as in production. Yields an `SSO`
  whose `sign_in(client, subject)` goes through the whole authorization code flow (the
  provider's own sign-in and consent forms, answered over HTTP) and returns the response
  of the portal's callback, and whose `change_user(subject, **claims)` changes a user at
  the provider for the test.

The browser tests register a client for the live server instead (`tests/browser`).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.urls import reverse
from django.utils.csp import CSP

from ims_portal.accounts import provider as provider_metadata

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc_provider"
TEST_SERVER = "http://testserver"

# The company directory of the tests: subject -> claims. Subjects are opaque on purpose;
# the usernames the portal shows come from `preferred_username`.
DIRECTORY: dict[str, dict[str, Any]] = {
    "sub-ann": {
        "preferred_username": "ann",
        "email": "ann@example.com",
        "given_name": "Ann",
        "family_name": "Exporter",
        "groups": ["ims-admins", "staff"],
    },
    "sub-abe": {
        "preferred_username": "abe",
        "email": "abe@example.com",
        "name": "Abe Exporter",
        "groups": ["ims-admins"],
    },
    "sub-aud": {
        "preferred_username": "audrey",
        "email": "audrey@example.com",
        "name": "Audrey Auditor",
        "groups": ["ims-auditors"],
    },
    "sub-both": {
        "preferred_username": "bo",
        "email": "bo@example.com",
        "groups": ["ims-admins", "ims-auditors"],
    },
    "sub-nobody": {
        "preferred_username": "nobody",
        "email": "nobody@example.com",
        "groups": ["staff"],
    },
}


@dataclass
class TestProvider:
    """The running provider, with its test controls."""

    issuer: str
    process: subprocess.Popen
    _clients: dict[str, tuple[str, str]] = field(default_factory=dict)

    def client_for(self, base_url: str) -> tuple[str, str]:
        """A client (id, secret) for a portal at `base_url`, registered once through
        Dynamic Client Registration with its callback and post-logout URLs."""
        if base_url not in self._clients:
            response = requests.post(
                f"{self.issuer}/reg",
                json={
                    "client_name": "IMS Export Portal (tests)",
                    "redirect_uris": [f"{base_url}/accounts/sso/callback/"],
                    "post_logout_redirect_uris": [f"{base_url}/accounts/signed-out/"],
                    "token_endpoint_auth_method": "client_secret_basic",
                },
                timeout=10,
            )
            response.raise_for_status()
            answer = response.json()
            self._clients[base_url] = (answer["client_id"], answer["client_secret"])
        return self._clients[base_url]

    def spoil_next_id_token(self, how: str) -> None:
        """`tamper` (forged claims, original signature) or `expire` (re-signed, expired)."""
        requests.post(f"{self.issuer}/_test/next-id-token", data=how, timeout=10).raise_for_status()

    def set_claims(self, subject: str, claims: dict[str, Any]) -> None:
        """Change a user in the provider's directory (their groups, say)."""
        requests.put(
            f"{self.issuer}/_test/users/{subject}", json=claims, timeout=10
        ).raise_for_status()


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory) -> Iterator[TestProvider]:
    """panva's oidc-provider, on a free loopback port, for the whole test session."""
    node = shutil.which("node")
    if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("The SSO tests need Node.js and tests/oidc_provider installed: bin/bootstrap")
    log = tmp_path_factory.mktemp("oidc-provider") / "provider.log"
    process = subprocess.Popen(
        [node, "server.mjs"],
        cwd=PROVIDER_DIR,
        env={**os.environ, "TEST_OIDC_USERS": json.dumps(DIRECTORY)},
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else b""
    if not line:
        process.kill()
        pytest.fail(f"the OpenID provider did not start: {log.read_text()[-2000:]}")
    running = TestProvider(issuer=json.loads(line)["issuer"], process=process)
    yield running
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def forget_provider() -> None:
    """Empty the portal's in-process cache of the provider's discovery document and keys, so
    that no test sees what another one read."""
    with provider_metadata._lock:
        provider_metadata._metadata.clear()
        provider_metadata._key_sets.clear()


def plant_stale_key_set(keys: list[dict[str, Any]]) -> None:
    """Cache `keys` as the provider's key set, read long enough ago that a token naming
    another key re-reads it: what the portal holds when the provider has rotated its keys."""
    jwks_uri = provider_metadata.metadata().jwks_uri
    read_at = time.monotonic() - provider_metadata.JWKS_MIN_REFETCH_INTERVAL
    with provider_metadata._lock:
        provider_metadata._key_sets[jwks_uri] = (read_at, keys)


def switch_on_sso(settings, oidc_provider: TestProvider, base_url: str) -> None:
    """Point the portal's settings at the test provider, as a deployment with SSO has them."""
    client_id, client_secret = oidc_provider.client_for(base_url)
    settings.OIDC_ISSUER = oidc_provider.issuer
    settings.OIDC_CLIENT_ID = settings.OIDC_RP_CLIENT_ID = client_id
    settings.OIDC_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET = client_secret
    settings.OIDC_SCOPES = settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.DEVELOPMENT_SIGN_IN = False
    settings.SECURE_CSP = {**settings.SECURE_CSP, "form-action": [CSP.SELF, oidc_provider.issuer]}
    forget_provider()


@dataclass
class SSO:
    """Company SSO against the test provider, driven over HTTP without a browser."""

    provider: TestProvider
    changed: set[str] = field(default_factory=set)

    def change_user(self, subject: str, **claims: Any) -> None:
        """Change a user in the provider's directory for this test (say, their groups)."""
        self.changed.add(subject)
        self.provider.set_claims(subject, {**DIRECTORY[subject], **claims})

    def authorize(self, authorization_url: str, subject: str, at_provider: requests.Session) -> str:
        """Sign `subject` in at the provider and consent; the portal callback URL it sends
        the browser back to (not followed)."""
        url, form = authorization_url, None
        for _ in range(10):
            if form is None:
                response = at_provider.get(url, allow_redirects=False, timeout=10)
            else:
                response = at_provider.post(url, data=form, allow_redirects=False, timeout=10)
            if response.is_redirect:
                url, form = urljoin(url, response.headers["Location"]), None
                if not url.startswith(self.provider.issuer):
                    return url
                continue
            response.raise_for_status()
            url = urljoin(url, re.search(r'<form[^>]*action="([^"]+)"', response.text)[1])
            if 'name="login"' in response.text:
                form = {"prompt": "login", "login": subject, "password": "any"}
            else:
                form = {"prompt": "consent"}
        raise AssertionError("the provider never sent the browser back")

    def start(self, client, next_url: str = "") -> str:
        """The portal's redirect to the provider (state, nonce, PKCE in the session)."""
        query = {"next": next_url} if next_url else {}
        response = client.get(reverse("accounts:sso_start"), query)
        assert response.status_code == 302, response
        return response["Location"]

    def sign_in(self, client, subject: str, next_url: str = ""):
        """The whole sign-in of `subject`; the portal's response to the callback."""
        callback = self.authorize(self.start(client, next_url), subject, requests.Session())
        parts = urlsplit(callback)
        return client.get(f"{parts.path}?{parts.query}")


@pytest.fixture
def sso(settings, oidc_provider) -> SSO:
    """Company SSO on (password sign-in off), against the test provider, for the test client."""
    switch_on_sso(settings, oidc_provider, TEST_SERVER)
    sso = SSO(oidc_provider)
    yield sso
    for subject in sso.changed:
        oidc_provider.set_claims(subject, DIRECTORY[subject])
    forget_provider()
