"""Company SSO sign-in against a real OpenID provider (panva's oidc-provider), over HTTP.

The provider requires PKCE of every client, so each successful sign-in here also shows that
the portal sent a challenge and the matching verifier.
"""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from ims_portal.accounts import provider
from ims_portal.accounts.models import Identity
from ims_portal.accounts.roles import EXPORTER, roles_of
from tests.oidc_fixtures import plant_stale_key_set

pytestmark = pytest.mark.django_db


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def refused_with(response, reason: str, status: int = 403) -> bool:
    return response.status_code == status and f"<code>{reason}</code>" in response.content.decode()


def test_an_exporter_signs_in_and_lands_on_their_overview(client, sso):
    response = sso.sign_in(client, "sub-ann")
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    page = client.get(reverse("home"))
    assert page.status_code == 200
    assert roles_of(page.wsgi_request.user) == {EXPORTER}


def test_the_sign_in_asks_for_code_with_state_nonce_and_an_s256_pkce_challenge(client, sso):
    query = query_of(sso.start(client))
    assert query["response_type"] == "code"
    assert query["scope"] == "openid email profile groups"
    assert query["code_challenge_method"] == "S256"
    pending = client.session["oidc_states"][query["state"]]
    assert pending["nonce"] == query["nonce"]
    digest = hashlib.sha256(pending["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]


def test_the_user_is_sent_back_to_the_page_they_asked_for(client, sso):
    response = sso.sign_in(client, "sub-aud", next_url="/exports/?status=queued")
    assert response["Location"] == "/exports/?status=queued"


def test_a_code_redeemed_with_the_wrong_pkce_verifier_is_refused(client, sso, sent):
    authorization = sso.start(client)
    session = client.session
    state = query_of(authorization)["state"]
    session["oidc_states"][state]["code_verifier"] = "x" * 64
    session.save()
    callback = sso.authorize(authorization, "sub-ann", requests.Session())
    response = client.get(callback.removeprefix("http://testserver"))
    assert refused_with(response, "code_exchange_refused")
    assert SESSION_KEY not in client.session
    assert [s["reason"] for s in sent["sign_in_refused"]] == ["code_exchange_refused"]


def test_an_id_token_carrying_another_requests_nonce_is_refused(client, sso):
    authorization = sso.start(client)
    session = client.session
    session["oidc_states"][query_of(authorization)["state"]]["nonce"] = "another-request"
    session.save()
    callback = sso.authorize(authorization, "sub-ann", requests.Session())
    assert refused_with(client.get(callback.removeprefix("http://testserver")), "nonce_mismatch")


def test_a_callback_whose_state_this_browser_never_sent_is_refused(client, sso, sent):
    callback = sso.authorize(sso.start(client), "sub-ann", requests.Session())
    other_browser = client.__class__()
    response = other_browser.get(callback.removeprefix("http://testserver"))
    assert refused_with(response, "state_mismatch")
    assert sent["sign_in_refused"][0]["reason"] == "state_mismatch"


def test_a_replayed_callback_is_refused(client, sso):
    callback = sso.authorize(sso.start(client), "sub-ann", requests.Session())
    assert client.get(callback.removeprefix("http://testserver")).status_code == 302
    client.logout()
    replay = client.get(callback.removeprefix("http://testserver"))
    assert refused_with(replay, "state_mismatch")


def test_a_callback_without_state_or_code_is_refused(client, sso):
    assert refused_with(client.get(reverse("accounts:sso_callback")), "response_incomplete")


def test_an_error_from_the_provider_is_refused_politely_and_reported(client, sso, sent):
    state = query_of(sso.start(client))["state"]
    response = client.get(
        reverse("accounts:sso_callback"), {"state": state, "error": "access_denied"}
    )
    assert refused_with(response, "provider_error:access_denied")
    assert "Back to sign-in" in response.content.decode()
    assert sent["sign_in_refused"][0]["reason"] == "provider_error:access_denied"
    # The state is spent: the same answer cannot be replayed with a code later.
    assert state not in client.session["oidc_states"]


def test_an_answer_naming_another_issuer_is_refused(client, sso):
    callback = sso.authorize(sso.start(client), "sub-ann", requests.Session())
    forged = callback.replace("iss=http", "iss=https").removeprefix("http://testserver")
    assert refused_with(client.get(forged), "issuer_mismatch")


@pytest.mark.parametrize(
    ("how", "reason"), [("tamper", "token_signature_invalid"), ("expire", "token_expired")]
)
def test_a_tampered_or_expired_id_token_is_refused(client, sso, sent, how, reason):
    sso.provider.spoil_next_id_token(how)
    response = sso.sign_in(client, "sub-ann")
    assert refused_with(response, reason)
    assert SESSION_KEY not in client.session
    assert sent["sign_in_refused"] == [
        {"request": response.wsgi_request, "reason": reason, "username": ""}
    ]
    assert not Identity.objects.exists()


def test_keys_rotated_at_the_provider_are_fetched_again(client, sso):
    old_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    stale = {**jwt.algorithms.RSAAlgorithm.to_jwk(old_key, as_dict=True), "kid": "retired"}
    plant_stale_key_set([stale])
    # The cached set lacks the provider's current key: only a fresh read lets this succeed.
    assert sso.sign_in(client, "sub-ann").status_code == 302


def test_a_token_signed_with_a_key_the_provider_never_published_is_refused(sso):
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        {"iss": sso.provider.issuer, "sub": "sub-ann", "exp": time.time() + 60},
        forger,
        algorithm="RS256",
        headers={"kid": "forged"},
    )
    with pytest.raises(provider.UnknownSigningKey):
        provider.signing_key(token)


def test_discovery_that_names_another_issuer_is_not_trusted(settings, sso):
    settings.OIDC_ISSUER = sso.provider.issuer + "/"  # same document, different name
    with pytest.raises(provider.ProviderUnavailable, match="names issuer"):
        provider.metadata()


def test_an_unreachable_provider_gets_a_polite_502(client, sso, settings, sent):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # discard port: nobody listens
    response = client.get(reverse("accounts:sso_start"))
    assert refused_with(response, "provider_unreachable", status=502)
    assert "could not be reached" in response.content.decode()
    assert sent["sign_in_refused"][0]["reason"] == "provider_unreachable"


def test_a_deactivated_user_is_refused_at_sign_in(client, sso, sent):
    sso.sign_in(client, "sub-ann")
    client.logout()
    Identity.objects.get(subject="sub-ann").user.__class__.objects.filter(username="ann").update(
        is_active=False
    )
    response = sso.sign_in(client, "sub-ann")
    assert refused_with(response, "user_inactive")
    assert sent["sign_in_refused"][-1]["username"] == "ann"
