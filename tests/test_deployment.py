"""The production settings of the README: `check --deploy` is clean with them, HTTPS is
enforced, and only a trusted proxy may say that the browser used HTTPS."""

from __future__ import annotations

import json
import re
import secrets

import pytest
from django.test import Client

from ims_portal.audit.signing import generate_private_pem
from tests.startup.helpers import ROOT, bare_env, run, run_python

README = ROOT / "README.md"
PROXY = "10.0.0.10"
HSTS = "max-age=31536000; includeSubDomains; preload"


def production_block() -> dict[str, str]:
    """The variables of the README's production block, its <placeholders> filled in."""
    section = README.read_text(encoding="utf-8").split("## Running in production", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    variables = {}
    for line in block.splitlines():
        match = re.match(r"export (\w+)=(\S+)", line.strip())
        if match:
            variables[match[1]] = match[2]
    assert {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "OIDC_ISSUER"} <= set(variables)
    filled = {name: re.sub(r"<[^>]*>", "x", value) for name, value in variables.items()}
    filled["SECRET_KEY"] = secrets.token_urlsafe(64)
    return filled


def test_check_deploy_is_clean_with_the_readmes_production_settings(tmp_path):
    settings = production_block()
    # The block names where the signing key lives; here a real key is made there instead.
    key = tmp_path / "audit-signing-key.pem"
    key.write_bytes(generate_private_pem())
    settings["AUDIT_SIGNING_KEY_FILE"] = str(key)
    env = bare_env(DJANGO_SETTINGS_MODULE="ims_portal.settings", **settings)
    result = run(
        [str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"], env, ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_debug_every_https_setting_has_its_strict_default_and_reads_its_variable():
    code = (
        "import json, ims_portal.settings as s; print(json.dumps({n: getattr(s, n) for n in "
        "('SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', "
        "'SECURE_SSL_REDIRECT', 'SECURE_PROXY_SSL_HEADER', 'CSRF_TRUSTED_ORIGINS')}))"
    )
    defaults = json.loads(run_python(code, bare_env(SECRET_KEY="x")).stdout)
    assert defaults == {
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "CSRF_TRUSTED_ORIGINS": [],
    }
    given = bare_env(
        SECRET_KEY="x",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="false",
        SECURE_HSTS_PRELOAD="false",
        SECURE_SSL_REDIRECT="false",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_SSL,on",
        CSRF_TRUSTED_ORIGINS="https://a.example.com,https://b.example.com",
    )
    assert json.loads(run_python(code, given).stdout) == {
        "SECURE_HSTS_SECONDS": 600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_SSL", "on"],
        "CSRF_TRUSTED_ORIGINS": ["https://a.example.com", "https://b.example.com"],
    }
    bad = run_python(code, bare_env(SECRET_KEY="x", SECURE_PROXY_SSL_HEADER="just-a-name"))
    assert bad.returncode != 0 and "SECURE_PROXY_SSL_HEADER" in bad.stderr


@pytest.fixture
def https_on(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXIES = [PROXY]


@pytest.mark.django_db
def test_behind_the_trusted_tls_proxy_answers_carry_hsts(https_on):
    response = Client(REMOTE_ADDR=PROXY).get(
        "/accounts/login/", headers={"x-forwarded-proto": "https"}
    )
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == HSTS


@pytest.mark.django_db
def test_plain_http_through_the_proxy_is_sent_to_https(https_on):
    response = Client(REMOTE_ADDR=PROXY).get(
        "/accounts/login/", headers={"x-forwarded-proto": "http"}
    )
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"
    assert "Strict-Transport-Security" not in response


@pytest.mark.django_db
def test_only_a_trusted_proxy_may_say_the_browser_used_https(https_on):
    # Anyone else writing the header is still on plain HTTP, and is redirected.
    response = Client(REMOTE_ADDR="192.0.2.7").get(
        "/accounts/login/", headers={"x-forwarded-proto": "https"}
    )
    assert response.status_code == 301
    assert "Strict-Transport-Security" not in response
