"""A session ends SESSION_COOKIE_AGE after its sign-in, however busy it was."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from ims_portal.accounts.session_lifetime import SIGNED_IN_AT

pytestmark = pytest.mark.django_db


@pytest.fixture
def aged(client, alice, settings):
    """Alice's session, signed in `age` seconds ago, with an hour's lifetime."""
    settings.SESSION_COOKIE_AGE = 3600

    def age(seconds: float):
        client.force_login(alice)
        session = client.session
        session[SIGNED_IN_AT] = time.time() - seconds
        session.save()
        return client

    return age


def test_a_session_within_its_lifetime_goes_on(aged):
    assert aged(3500).get(reverse("exports:history")).status_code == 200


def test_a_session_past_its_lifetime_is_signed_out(aged):
    client = aged(3700)
    response = client.get(reverse("exports:history"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert SESSION_KEY not in client.session


def test_an_expired_session_inside_htmx_sends_the_whole_browser_to_sign_in(aged):
    response = aged(3700).get(
        reverse("exports:history"),
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/exports/?q=web"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('accounts:login')}?next=/exports/?q=web"
    assert b"<form" not in response.content  # no sign-in page swapped into a fragment


def test_sign_in_starts_the_lifetime_afresh(client, sso):
    sso.sign_in(client, "sub-ann")
    assert time.time() - client.session[SIGNED_IN_AT] < 5
