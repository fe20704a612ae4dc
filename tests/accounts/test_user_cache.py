"""The signed-in user and their roles come from the shared cache, and a change to the user
or their groups reaches the very next request."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ims_portal.accounts import user_cache
from ims_portal.accounts.roles import AUDITOR, EXPORTER, set_roles
from tests.startup.helpers import DEAD_REDIS

pytestmark = pytest.mark.django_db

# What a request reads to know who is signed in: the session, the user, the user's roles.
WHO_IS_IT = ('FROM "django_session"', 'FROM "auth_user" WHERE', '"auth_user_groups"')


def who_is_it_queries(client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("exports:history"))
    assert response.status_code in (200, 302, 403)
    return [q["sql"] for q in captured if any(part in q["sql"] for part in WHO_IS_IT)]


@pytest.fixture
def signed_in(client, alice):
    client.force_login(alice)
    client.get(reverse("exports:history"))  # the first request fills the cache
    return client


def test_after_the_first_request_nobody_is_looked_up_in_the_database(signed_in):
    assert who_is_it_queries(signed_in) == []


def test_without_the_cache_every_request_reads_the_user_and_roles(signed_in, settings):
    settings.USER_CACHE_SECONDS = 0
    found = who_is_it_queries(signed_in)
    assert any('FROM "auth_user" WHERE' in sql for sql in found)
    assert any('"auth_user_groups"' in sql for sql in found)


def test_a_deactivated_user_is_signed_out_at_the_next_request(signed_in, alice):
    alice.is_active = False
    alice.save()
    response = signed_in.get(reverse("exports:history"))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_a_role_taken_away_counts_at_the_next_request(signed_in, alice):
    set_roles(alice, set())
    assert signed_in.get(reverse("exports:history")).status_code == 403


def test_a_role_taken_away_from_the_groups_side_counts_too(signed_in, alice):
    Group.objects.get(name=EXPORTER).user_set.remove(alice)
    assert signed_in.get(reverse("exports:history")).status_code == 403


def test_a_group_emptied_counts_for_everyone_in_it(signed_in, alice):
    Group.objects.get(name=EXPORTER).user_set.clear()
    assert signed_in.get(reverse("exports:history")).status_code == 403


def test_a_role_given_counts_at_the_next_request(signed_in, alice):
    set_roles(alice, {EXPORTER, AUDITOR})
    page = signed_in.get(reverse("exports:history")).content.decode()
    assert "All exports" in page


def test_forgetting_everyone_drops_every_cached_copy(signed_in, alice):
    user_cache.forget_everyone()
    found = who_is_it_queries(signed_in)
    assert any('FROM "auth_user" WHERE' in sql for sql in found)
    assert who_is_it_queries(signed_in) == []  # and the next one is cached again


def test_with_the_cache_down_the_user_is_read_from_the_database(settings, alice):
    from ims_portal.accounts.backends import DevelopmentBackend

    settings.CACHES = {
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": DEAD_REDIS}
    }
    assert DevelopmentBackend().get_user(alice.pk) == alice
    user_cache.forget(alice.pk)  # a change still saves; the failure is logged
