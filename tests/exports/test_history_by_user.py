"""Auditors filter the history by the user who requested the export."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def exports(alice, bob, make_export):
    make_export(alice, image_name="alice-image")
    make_export(bob, image_name="bob-image")


def test_an_auditor_sees_everyones_exports_and_can_narrow_them_to_one_user(client, carol, exports):
    client.force_login(carol)
    everyone = client.get(reverse("exports:history")).content.decode()
    assert "alice-image" in everyone and "bob-image" in everyone
    assert '<option value="alice">alice</option>' in everyone

    only_bob = client.get(reverse("exports:history"), {"user": "bob"}).content.decode()
    assert "bob-image" in only_bob and "alice-image" not in only_bob


def test_a_user_filter_naming_nobody_with_exports_is_refused(client, carol, exports):
    client.force_login(carol)
    assert client.get(reverse("exports:history"), {"user": "carol"}).status_code == 400
    assert client.get(reverse("exports:history"), {"user": "no-such"}).status_code == 400


def test_an_exporter_gets_no_user_filter_and_still_only_their_own_exports(client, alice, exports):
    client.force_login(alice)
    page = client.get(reverse("exports:history"), {"user": "bob"}).content.decode()
    assert 'name="user"' not in page
    assert "alice-image" in page and "bob-image" not in page
