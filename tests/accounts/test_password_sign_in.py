"""Passwords: the demo users' form only in development without an IdP; with SSO on, a
password opens /admin/ to a superuser (break glass) and nothing else."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY, get_user_model
from django.urls import reverse

from ims_portal.accounts.backends import BREAK_GLASS
from ims_portal.accounts.roles import AUDITOR, EXPORTER, set_roles

pytestmark = pytest.mark.django_db


def test_with_sso_on_the_sign_in_page_offers_only_the_company_sso(client, sso, alice):
    page = client.get(reverse("accounts:login"), {"next": "/exports/"})
    html = page.content.decode()
    assert "Sign in with company SSO" in html
    assert f'href="{reverse("accounts:sso_start")}?next=%2Fexports%2F"' in html
    assert 'name="password"' not in html
    refused = client.post(reverse("accounts:login"), {"username": "alice", "password": "pw-alice"})
    assert refused.status_code == 405
    assert SESSION_KEY not in client.session


def test_with_sso_on_a_superuser_still_reaches_the_admin_with_a_password(client, sso):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    response = client.post(
        reverse("admin:login"), {"username": "root", "password": "pw-root", "next": "/admin/"}
    )
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == BREAK_GLASS
    assert client.get(reverse("admin:index")).status_code == 200


def test_with_sso_on_nobody_else_signs_in_with_a_password_not_even_staff(client, sso, alice):
    alice.is_staff = True
    alice.save()
    response = client.post(
        reverse("admin:login"), {"username": "alice", "password": "pw-alice", "next": "/admin/"}
    )
    assert response.status_code == 200  # the form again, with its error
    assert SESSION_KEY not in client.session


def test_a_superuser_demoted_since_loses_the_break_glass_session(client, sso):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    client.post(reverse("admin:login"), {"username": "root", "password": "pw-root"})
    get_user_model().objects.filter(pk=root.pk).update(is_superuser=False)
    assert client.get(reverse("admin:index")).status_code == 302


def test_in_development_the_demo_users_sign_in_with_their_password(client, settings, alice):
    settings.DEVELOPMENT_SIGN_IN = True
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_a_break_glass_session_reaches_the_admin_only_even_for_a_superuser_with_a_role(client, sso):
    # Portal roles come from SSO sessions alone: this superuser exports when signed in
    # through the company SSO, but a password session is for /admin/ and nothing else.
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root")
    set_roles(root, {EXPORTER, AUDITOR})
    client.post(reverse("admin:login"), {"username": "root", "password": "pw-root"})
    assert client.session["_auth_user_backend"] == BREAK_GLASS
    assert client.get(reverse("admin:index")).status_code == 200
    for page in ("home", "exports:new", "exports:history", "audit:events"):
        response = client.get(reverse(page))
        assert response.status_code == 403, page
        assert "No access" in response.content.decode()
    refused = client.post(reverse("exports:new"), {"image": "anything"})
    assert refused.status_code == 403
