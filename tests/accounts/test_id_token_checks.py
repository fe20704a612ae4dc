"""The checks an ID token must pass besides its signature (OpenID Connect Core 3.1.3.7),
on tokens signed here with a key handed to the backend directly."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from ims_portal.accounts.backends import SignInRefused, SSOBackend

ISSUER = "https://idp.example.com/realms/company"
CLIENT = "ims-portal"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def sso_settings(settings):
    settings.OIDC_ISSUER = ISSUER
    settings.OIDC_CLIENT_ID = CLIENT


def token(algorithm: str = "RS256", key: Any = KEY, **changes: Any) -> str:
    now = time.time()
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "42", "iat": now, "exp": now + 300}
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm)


def reason_for(encoded: str) -> str:
    with pytest.raises(SignInRefused) as refused:
        SSOBackend()._verify_jws(encoded, KEY.public_key())
    return refused.value.reason


def test_a_good_token_passes_and_gives_its_claims():
    assert SSOBackend()._verify_jws(token(), KEY.public_key())["sub"] == "42"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://evil.example.com"}, "token_issuer_invalid"),
        ({"aud": "another-client"}, "token_audience_invalid"),
        ({"aud": [CLIENT, "another-client"]}, "token_audience_invalid"),  # and no azp
        ({"exp": time.time() - 3600}, "token_expired"),
        ({"iat": time.time() + 3600}, "token_not_yet_valid"),
        ({"exp": None}, "token_claim_missing"),
    ],
)
def test_a_token_for_someone_else_or_out_of_date_is_refused(changes, reason):
    assert reason_for(token(**changes)) == reason


def test_several_audiences_pass_when_the_token_was_issued_to_us():
    claims = SSOBackend()._verify_jws(
        token(aud=[CLIENT, "another-client"], azp=CLIENT), KEY.public_key()
    )
    assert claims["azp"] == CLIENT


def test_a_little_clock_skew_is_tolerated():
    assert SSOBackend()._verify_jws(token(exp=time.time() - 30), KEY.public_key())


def test_the_token_does_not_choose_its_own_algorithm():
    # HS256 "signed" with the public key: the classic confusion attack.
    assert (
        reason_for(token(algorithm="HS256", key="a-shared-secret-that-is-not-our-key"))
        == "token_algorithm_refused"
    )
    unsigned = jwt.encode({"iss": ISSUER, "aud": CLIENT}, None, algorithm="none")
    assert reason_for(unsigned) == "token_algorithm_refused"
