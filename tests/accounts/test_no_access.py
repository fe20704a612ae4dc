"""Signed in, but in no group that grants a role: a polite 403 that says what would help."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_user_in_no_mapped_group_gets_the_no_access_page_naming_the_groups(client, sso, sent):
    response = sso.sign_in(client, "sub-nobody")
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 403
    assert "No access" in html
    assert "<code>ims-admins</code>" in html and "<code>ims-auditors</code>" in html
    assert "Your groups at your last sign-in: <code>staff</code>" in html
    assert sent["access_refused"] == [
        {"request": page.wsgi_request, "needed_roles": ("exporter", "auditor")}
    ]


def test_the_no_access_page_names_the_configured_groups(client, settings, make_user):
    settings.OIDC_EXPORTER_GROUPS = ["cloud-ops"]
    client.force_login(make_user("dave"))
    html = client.get(reverse("exports:new")).content.decode()
    assert "exporter: <code>cloud-ops</code>" in html
    assert "ims-admins" not in html
    assert "auditor:" not in html  # this page needs the exporter role only


def test_an_auditor_posting_anywhere_is_refused_with_the_exporter_groups(client, carol, sent):
    client.force_login(carol)
    response = client.post(reverse("exports:history"))
    assert response.status_code == 403
    assert sent["access_refused"][0]["needed_roles"] == ("exporter",)
