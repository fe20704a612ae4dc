"""Users and roles made from the provider's claims at every SSO sign-in."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from ims_portal.accounts.identities import (
    UnusableClaims,
    groups_from_claims,
    sign_in_from_claims,
)
from ims_portal.accounts.models import Identity
from ims_portal.accounts.roles import AUDITOR, EXPORTER, roles_for_groups, roles_of

pytestmark = pytest.mark.django_db

ISSUER = "https://idp.example.com/realms/company"


def test_the_first_sign_in_creates_the_user_from_the_claims(client, sso):
    sso.sign_in(client, "sub-ann")
    identity = Identity.objects.select_related("user").get()
    assert (identity.issuer, identity.subject) == (sso.provider.issuer, "sub-ann")
    user = identity.user
    assert (user.username, user.email) == ("ann", "ann@example.com")
    assert (user.first_name, user.last_name) == ("Ann", "Exporter")
    assert not user.has_usable_password()
    assert identity.groups == ["ims-admins", "staff"]


def test_every_sign_in_updates_the_user_from_the_claims(client, sso):
    sso.sign_in(client, "sub-abe")
    sso.change_user("sub-abe", preferred_username="abraham", email="abraham@example.com")
    client.logout()
    sso.sign_in(client, "sub-abe")
    user = Identity.objects.get(subject="sub-abe").user
    assert (user.username, user.email, user.first_name) == (
        "abraham",
        "abraham@example.com",
        "Abe Exporter",
    )
    assert get_user_model().objects.count() == 1


def test_roles_are_recomputed_at_every_sign_in(client, sso, sent):
    def roles_after_sign_in() -> frozenset[str]:
        client.logout()
        sso.sign_in(client, "sub-both")
        return roles_of(Identity.objects.get(subject="sub-both").user)

    assert roles_after_sign_in() == {EXPORTER, AUDITOR}
    sso.change_user("sub-both", groups=["ims-auditors"])
    assert roles_after_sign_in() == {AUDITOR}
    sso.change_user("sub-both", groups=[])
    assert roles_after_sign_in() == set()
    assert roles_after_sign_in() == set()  # unchanged: no signal

    user = Identity.objects.get(subject="sub-both").user
    changes = [(s["before"], s["after"], s["user"]) for s in sent["roles_changed"]]
    assert changes == [
        (frozenset(), {EXPORTER, AUDITOR}, user),
        ({EXPORTER, AUDITOR}, {AUDITOR}, user),
        ({AUDITOR}, frozenset(), user),
    ]


def test_the_user_is_found_by_issuer_and_subject_never_by_email_or_name(client, sso):
    # A local account with the same username and email must not be taken over.
    local = get_user_model().objects.create_user("ann", "ann@example.com", "secret")
    sso.sign_in(client, "sub-ann")
    user = Identity.objects.get(subject="sub-ann").user
    assert user != local
    assert user.username.startswith("ann-") and len(user.username) == len("ann-") + 8
    client.logout()
    sso.sign_in(client, "sub-ann")
    assert Identity.objects.get(subject="sub-ann").user.username == user.username  # stable


def test_the_same_subject_at_another_issuer_is_another_person():
    first = sign_in_from_claims(ISSUER, {"sub": "42", "preferred_username": "sam"}).user
    second = sign_in_from_claims(
        "https://other.example.com", {"sub": "42", "preferred_username": "sam"}
    ).user
    assert first != second
    assert Identity.objects.count() == 2


@pytest.mark.parametrize(
    ("claim_name", "claims", "groups"),
    [
        ("groups", {"groups": ["b", "a", "a"]}, ["a", "b"]),
        ("groups", {"groups": "ims-admins"}, ["ims-admins"]),
        ("groups", {}, []),
        ("realm_access.roles", {"realm_access": {"roles": ["ims-admins"]}}, ["ims-admins"]),
        ("https://example.com/groups", {"https://example.com/groups": ["x"]}, ["x"]),
    ],
)
def test_the_groups_claim_is_read_where_the_setting_says(settings, claim_name, claims, groups):
    settings.OIDC_GROUPS_CLAIM = claim_name
    assert groups_from_claims(claims) == groups


def test_a_groups_claim_of_the_wrong_shape_is_refused():
    with pytest.raises(UnusableClaims):
        sign_in_from_claims(ISSUER, {"sub": "1", "groups": {"ims-admins": True}})


def test_claims_without_a_subject_are_refused():
    with pytest.raises(UnusableClaims):
        sign_in_from_claims(ISSUER, {"preferred_username": "sam"})


def test_group_to_role_mapping_follows_the_settings(settings):
    settings.OIDC_EXPORTER_GROUPS = ["cloud-ops", "ims-admins"]
    settings.OIDC_AUDITOR_GROUPS = ["compliance"]
    assert roles_for_groups(["cloud-ops"]) == {EXPORTER}
    assert roles_for_groups(["compliance", "ims-admins"]) == {EXPORTER, AUDITOR}
    assert roles_for_groups(["IMS-Admins", "staff"]) == set()
