"""Company SSO sign-ins (against the real test provider) land in the audit trail: roles seen
at sign-in, the sign-in itself, refusals, and a user whom no group lets in."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ims_portal.audit.models import Action, AuditEvent, Outcome
from tests.audit.helpers import only

pytestmark = pytest.mark.django_db


def test_a_first_sso_sign_in_records_the_roles_it_granted_and_the_sign_in(browser_client, sso):
    response = sso.sign_in(browser_client, "sub-ann")
    assert response.status_code == 302
    roles = only(Action.ROLES_CHANGED)
    assert roles.actor_username == "ann" and roles.actor_email == "ann@example.com"
    assert roles.details == {
        "before": [],
        "after": ["exporter"],
        "added": ["exporter"],
        "removed": [],
    }
    sign_in = only(Action.SIGN_IN)
    assert (sign_in.actor_id, sign_in.actor_roles) == (roles.actor_id, "exporter")
    assert sign_in.details == {"backend": "SSOBackend"}
    assert sign_in.request_id == roles.request_id == response["X-Request-Id"]
    assert sign_in.ip == "203.0.113.7"


def test_a_second_sign_in_with_the_same_groups_changes_no_roles(browser_client, sso):
    sso.sign_in(browser_client, "sub-ann")
    browser_client.logout()
    sso.sign_in(browser_client, "sub-ann")
    assert AuditEvent.objects.filter(action=Action.SIGN_IN).count() == 2
    assert AuditEvent.objects.filter(action=Action.ROLES_CHANGED).count() == 1


def test_a_tampered_id_token_is_a_refused_sign_in_in_the_trail(browser_client, sso):
    sso.provider.spoil_next_id_token("tamper")
    response = sso.sign_in(browser_client, "sub-ann")
    assert response.status_code == 403
    event = only(Action.SIGN_IN_REFUSED)
    assert (event.outcome, event.details["reason"]) == (Outcome.DENIED, "token_signature_invalid")
    assert event.request_id == response["X-Request-Id"]
    assert not AuditEvent.objects.filter(
        action__in=[Action.SIGN_IN, Action.SIGN_IN_FAILED]
    ).exists()


def test_a_user_in_no_portal_group_meets_no_access_and_the_trail_says_so(browser_client, sso):
    sso.sign_in(browser_client, "sub-nobody")
    response = browser_client.get(reverse("exports:history"))
    assert response.status_code == 403
    event = only(Action.NO_ACCESS)
    assert (event.actor_username, event.actor_roles, event.outcome) == ("nobody", "", "denied")
