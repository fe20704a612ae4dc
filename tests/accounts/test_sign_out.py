"""Sign-out: the portal session ends, and the provider's too where it offers that."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from ims_portal.accounts import provider

pytestmark = pytest.mark.django_db


def test_sso_sign_out_ends_the_session_and_sends_the_browser_to_the_provider(client, sso):
    sso.sign_in(client, "sub-ann")
    id_token = client.session["oidc_id_token"]
    response = client.post(reverse("accounts:logout"))
    assert SESSION_KEY not in client.session
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        provider.metadata().end_session_endpoint
    )
    query = parse_qs(location.query)
    assert query["id_token_hint"] == [id_token]
    assert query["post_logout_redirect_uri"] == ["http://testserver/accounts/signed-out/"]
    assert client.get(reverse("exports:history")).status_code == 302


def test_a_session_without_sso_signs_out_to_the_signed_out_page(client, alice):
    client.force_login(alice)
    response = client.post(reverse("accounts:logout"))
    assert response["Location"] == reverse("accounts:signed_out")
    assert SESSION_KEY not in client.session
    assert "You are signed out" in client.get(response["Location"]).content.decode()


def test_sign_out_is_a_post_so_a_link_or_an_image_cannot_sign_anyone_out(client, alice):
    client.force_login(alice)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert SESSION_KEY in client.session
