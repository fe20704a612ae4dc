"""Every form and query string, fed whatever hypothesis makes up: never a 5xx, and nothing
sent comes back unescaped (each value carries markup that would run if it did)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims_portal.exports.models import Status
from ims_portal.exports.views import CHECKED_FIELDS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloud")]

MARKUP = '"><script>alert(1)</script><img src=x onerror=alert(1)>'
EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Anything a browser (or a script) can put in a field, with the markup somewhere in it.
junk = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
value = st.one_of(
    junk,
    junk.map(lambda text: text + MARKUP),
    st.sampled_from(["", "0", "-1", "99999999999999999999", "1e9", "true", "../", "%00"]),
)


def fields(*names: str):
    return st.fixed_dictionaries({}, optional=dict.fromkeys(names, value))


def refused_safely(response) -> None:
    assert response.status_code < 500, response.status_code
    body = response.content.decode(errors="replace")
    assert "<script>alert(1)</script>" not in body
    assert "onerror=alert(1)>" not in body


@pytest.fixture
def as_alice(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def as_carol(carol):
    client = Client()
    client.force_login(carol)
    return client


@given(data=fields("image", "bucket", "file_name", "file_format", "quick", "request_token"))
@EXAMPLES
def test_the_new_export_form(as_alice, data):
    refused_safely(as_alice.post(reverse("exports:new"), data))


@given(field=st.sampled_from([*CHECKED_FIELDS, "nope"]), data=fields(*CHECKED_FIELDS))
@EXAMPLES
def test_the_as_you_type_checks(as_alice, field, data):
    refused_safely(as_alice.post(reverse("exports:check_field", args=[field]), data))


@given(retry=value)
@EXAMPLES
def test_the_retry_prefill(as_alice, retry):
    refused_safely(as_alice.get(reverse("exports:new"), {"retry": retry}))


@given(query=fields("status", "q", "page", "user"))
@EXAMPLES
def test_the_history_filters(as_alice, as_carol, query):
    refused_safely(as_alice.get(reverse("exports:history"), query))
    refused_safely(as_carol.get(reverse("exports:history"), query))


AUDIT_FILTERS = ("since", "before", "actor", "action", "outcome", "image", "bucket", "target", "q")


@given(query=fields(*AUDIT_FILTERS, "page"), fmt=st.sampled_from(["csv", "jsonl", "x"]))
@EXAMPLES
def test_the_audit_search_and_its_downloads(as_carol, query, fmt):
    refused_safely(as_carol.get(reverse("audit:events"), query))
    download = as_carol.get(reverse("audit:export", args=[fmt]), query)
    assert download.status_code < 500
    if not download.streaming:  # a refusal page, not the file
        refused_safely(download)


@given(data=fields("reason"))
@EXAMPLES
def test_the_stop_following_form(as_alice, alice, make_export, data):
    export = make_export(alice, status=Status.SUBMITTING)  # an image of its own each time
    refused_safely(as_alice.post(reverse("exports:abandon", args=[export.pk]), data))


@given(data=fields("username", "password", "next"))
@EXAMPLES
def test_the_sign_in_form(settings_fixture, data):
    cache.clear()  # the sign-in rate limit counts these too
    refused_safely(Client().post(reverse("accounts:login"), data))


@pytest.fixture
def settings_fixture(settings):
    settings.DEVELOPMENT_SIGN_IN = True
    return settings
