"""Sign-in settings as `ims_portal/settings.py` computes them from the environment."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.checks import run_checks

SSO_ENV = {
    "OIDC_ISSUER": "https://idp.example.com/realms/company",
    "OIDC_CLIENT_ID": "portal",
    "OIDC_CLIENT_SECRET": "s",
}


def settings_value(expression: str, **env: str) -> str:
    """What `expression` about the settings module `s` prints, computed from this
    environment (or the error that stopped the settings)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "DEBUG"))}
    code = f"import ims_portal.settings as s; print({expression})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "SECRET_KEY": "x", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    return (result.stdout + result.stderr).strip()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DEBUG": "true"}, "True"),
        ({"DEBUG": "false"}, "False"),
        ({"DEBUG": "true", **SSO_ENV}, "False"),
    ],
)
def test_the_development_sign_in_exists_only_with_debug_on_and_no_issuer(env, expected):
    assert settings_value("s.DEVELOPMENT_SIGN_IN", **env) == expected


def test_an_issuer_without_its_client_secret_stops_the_start_up():
    output = settings_value(
        "s.OIDC_ISSUER", OIDC_ISSUER="https://idp.example.com", OIDC_CLIENT_ID="portal"
    )
    assert "OIDC_CLIENT_SECRET must be set too" in output


def test_with_an_issuer_forms_may_lead_to_the_provider_for_sign_out():
    policy = settings_value("' '.join(s.SECURE_CSP['form-action'])", **SSO_ENV)
    assert policy == "'self' https://idp.example.com"


def test_without_sso_or_development_the_checks_warn_that_nobody_can_sign_in(settings):
    settings.OIDC_ISSUER = ""
    settings.DEVELOPMENT_SIGN_IN = False
    assert "accounts.W001" in {message.id for message in run_checks()}
    settings.OIDC_ISSUER = SSO_ENV["OIDC_ISSUER"]
    assert "accounts.W001" not in {message.id for message in run_checks()}
