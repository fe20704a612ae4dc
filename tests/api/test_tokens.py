"""Personal API tokens: made on their page and shown once, stored as a digest, refused when
expired, revoked or their user is deactivated, scoped, and audited."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ims_portal.accounts.roles import EXPORTER, set_roles
from ims_portal.api import tokens
from ims_portal.api.models import ApiToken, Scope, TokenAddress
from ims_portal.audit.models import Action, AuditEvent
from tests.api.conftest import Api, problem

pytestmark = pytest.mark.django_db

EXPORTS = "/api/v1/exports/"


def test_a_token_made_on_its_page_is_shown_once_and_kept_only_as_its_digest(client, alice):
    client.force_login(alice)
    page = client.get(reverse("tokens:list"))
    assert page.status_code == 200
    assert 'value="export"' in page.content.decode()  # an exporter may make export tokens
    made = client.post(reverse("tokens:list"), {"name": "nightly", "scope": "read", "days": 30})
    assert made.status_code == 201
    secret = re.search(r'id="new-token">(imsp_[\w-]+)<', made.content.decode())[1]
    token = ApiToken.objects.get()
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {token.name, token.prefix, token.digest} and secret.startswith(
        token.prefix
    )
    assert token.expires_at - token.created_at == timedelta(days=30)
    assert secret not in client.get(reverse("tokens:list")).content.decode()  # never again
    event = AuditEvent.objects.get(action=Action.TOKEN_CREATED)
    assert event.details == {
        "name": "nightly",
        "prefix": token.prefix,
        "scope": "read",
        "expires_at": token.expires_at.isoformat(),
    }
    assert secret not in str(event.details)
    assert Api(secret).get(EXPORTS).status_code == 200


def test_the_page_refuses_a_nameless_token_and_a_lifetime_over_the_maximum(client, alice, settings):
    settings.API_TOKEN_MAX_DAYS = 60
    client.force_login(alice)
    assert (
        client.post(reverse("tokens:list"), {"name": "", "scope": "read", "days": 30}).status_code
        == 422
    )
    assert (
        client.post(reverse("tokens:list"), {"name": "x", "scope": "read", "days": 90}).status_code
        == 422
    )
    assert tokens.lifetime_choices() == [7, 30, 60] and tokens.default_lifetime_days() == 60
    assert ApiToken.objects.count() == 0


def test_an_auditor_makes_read_only_tokens_only(client, carol):
    client.force_login(carol)
    assert (
        client.post(
            reverse("tokens:list"), {"name": "x", "scope": "export", "days": 30}
        ).status_code
        == 422
    )
    assert (
        client.post(reverse("tokens:list"), {"name": "x", "scope": "read", "days": 30}).status_code
        == 201
    )


def test_a_revoked_token_stops_working_and_the_revocation_is_audited(client, alice, bob, token_for):
    secret = token_for(alice)
    assert Api(secret).get(EXPORTS).status_code == 200
    token = ApiToken.objects.get()
    client.force_login(bob)
    assert client.post(reverse("tokens:revoke", args=[token.pk])).status_code == 404
    client.force_login(alice)
    assert client.post(reverse("tokens:revoke", args=[token.pk])).status_code == 302
    refused = Api(secret).get(EXPORTS)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused["WWW-Authenticate"]
    assert "revoked" in problem(refused)["detail"]
    assert AuditEvent.objects.filter(action=Action.TOKEN_REVOKED).count() == 1
    client.post(reverse("tokens:revoke", args=[token.pk]))
    assert AuditEvent.objects.filter(action=Action.TOKEN_REVOKED).count() == 1


def test_an_expired_token_is_refused(alice, token_for):
    secret = token_for(alice, days=7)
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Api(secret).get(EXPORTS)
    assert response.status_code == 401
    assert "expired" in problem(response)["detail"]


def test_a_deactivated_users_token_is_refused(alice, token_for):
    secret = token_for(alice)
    alice.is_active = False
    alice.save()
    response = Api(secret).get(EXPORTS)
    assert response.status_code == 401
    assert "deactivated" in problem(response)["detail"]


def test_an_unknown_or_malformed_token_is_refused(alice):
    assert Api("imsp_" + "x" * 43).get(EXPORTS).status_code == 401
    assert Api("not-a-token").get(EXPORTS).status_code == 401


def test_a_token_holds_its_users_roles_as_of_now_not_as_of_its_making(alice, token_for):
    secret = token_for(alice)
    assert Api(secret).get(EXPORTS).status_code == 200
    set_roles(alice, set())  # the next SSO sign-in found alice in no portal group
    response = Api(secret).get(EXPORTS)
    assert response.status_code == 403
    assert problem(response)["type"].endswith("#problem-no-access")
    set_roles(alice, {EXPORTER})
    assert Api(secret).get(EXPORTS).status_code == 200


def test_a_read_only_token_cannot_change_anything(alice, token_for):
    response = Api(token_for(alice, Scope.READ)).post(EXPORTS, {})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert problem(response)["type"].endswith("#problem-insufficient-scope")


def test_the_first_use_from_each_address_is_audited_once(alice, token_for):
    secret = token_for(alice)
    for address in ("192.0.2.10", "192.0.2.10", "198.51.100.7"):
        assert Api(secret, REMOTE_ADDR=address).get(EXPORTS).status_code == 200
    events = AuditEvent.objects.filter(action=Action.TOKEN_NEW_ADDRESS).order_by("id")
    assert [e.ip for e in events] == ["192.0.2.10", "198.51.100.7"]
    assert events[1].details["previous_ip"] == "192.0.2.10"
    token = ApiToken.objects.get()
    assert token.last_used_ip == "198.51.100.7" and token.last_used_at is not None
    assert TokenAddress.objects.filter(token=token).count() == 2
