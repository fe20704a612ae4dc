"""Rate limits: export requests per user, password sign-ins per account name and per
address, each answered over its limit by the "Too many requests" page (HTTP 429)."""

# The limits here count per hour: a window that turned over between two requests would let
# the one that should be refused through.

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from ims_portal.rate_limits import in_words

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def is_the_429_page(response) -> bool:
    html = response.content.decode()
    return (
        response.status_code == 429
        and "<h1>Too many requests</h1>" in html
        and 'class="topbar"' in html  # the site's own page, from base.html
        and response["Retry-After"] == "60"
    )


def test_export_requests_are_limited_per_user(settings, client, alice, bob):
    settings.EXPORT_RATE_LIMIT = "3/h"
    client.force_login(alice)
    # Refused forms count too: the limit is on requests, whatever becomes of them.
    answers = [client.post(reverse("exports:new"), {}).status_code for _ in range(3)]
    assert answers == [422] * 3
    over = client.post(reverse("exports:new"), {})
    assert is_the_429_page(over)
    assert "3 an hour" in over.content.decode()
    assert client.get(reverse("exports:history")).status_code == 200  # reading is not limited
    other = Client()
    other.force_login(bob)
    assert other.post(reverse("exports:new"), {}).status_code == 422


def sign_in(address: str, username: str, password: str = "wrong"):  # noqa: S107
    return Client(REMOTE_ADDR=address).post(
        reverse("accounts:login"), {"username": username, "password": password}
    )


def test_password_sign_ins_are_limited_per_account_name(settings, alice):
    settings.DEVELOPMENT_SIGN_IN = True
    settings.SIGN_IN_RATE_LIMIT = "3/h"
    assert [sign_in(f"192.0.2.{n}", "alice").status_code for n in range(3)] == [200] * 3
    # From yet another address, and with the right password: still over the name's limit.
    over = sign_in("192.0.2.99", "alice", "pw-alice")
    assert is_the_429_page(over)
    assert "sign-in attempts per account name and per address" in over.content.decode()
    assert sign_in("192.0.2.99", "bob").status_code == 200


def test_password_sign_ins_are_limited_per_address(settings):
    settings.DEVELOPMENT_SIGN_IN = True
    settings.SIGN_IN_RATE_LIMIT = "3/h"
    assert [sign_in("192.0.2.1", f"user{n}").status_code for n in range(3)] == [200] * 3
    assert is_the_429_page(sign_in("192.0.2.1", "user9"))
    assert sign_in("192.0.2.2", "user9").status_code == 200


def test_the_break_glass_sign_in_is_limited_too(settings):
    settings.SIGN_IN_RATE_LIMIT = "2/h"
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    browser = Client()
    for _ in range(2):
        browser.post(reverse("admin:login"), {"username": "root", "password": "wrong"})
    over = browser.post(reverse("admin:login"), {"username": "root", "password": "pw-root"})
    assert is_the_429_page(over)


@pytest.mark.parametrize(
    ("rate", "words"),
    [("20/m", "20 a minute"), ("10/h", "10 an hour"), ("5/10m", "5 per 10 minutes"), ("x", "x")],
)
def test_the_page_says_the_rate_in_words(rate, words):
    assert in_words(rate) == words
