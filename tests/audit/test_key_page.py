"""The auditor's key page: the public key that verifies files and checkpoints, as text and
as a PEM file, and the state of the newest checkpoint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ims_portal.audit import checkpointing, checkpoints, keys, signing
from tests.audit.test_checkpoints import checkpoint
from tests.audit.test_verify_audit import fill

pytestmark = pytest.mark.django_db


def test_the_page_shows_the_public_key_and_its_fingerprint(as_carol):
    response = as_carol.get(reverse("audit:key"))
    assert response.status_code == 200
    text = response.content.decode()
    public = keys.public_key()
    assert signing.public_pem(public).strip() in text
    assert signing.fingerprint(public) in text
    assert "python -m ims_portal.audit.verify_offline" in text
    assert "No checkpoint can be read here yet." in text


def test_the_pem_download_is_the_public_key_alone(as_carol):
    response = as_carol.get(reverse("audit:key_pem"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="audit-public.pem"'
    pem = response.content
    assert b"PRIVATE" not in pem
    assert signing.fingerprint(signing.load_public_pem(pem)) == signing.fingerprint(
        keys.public_key()
    )


def test_the_audit_trail_page_links_to_it(as_carol):
    assert reverse("audit:key") in as_carol.get(reverse("audit:events")).content.decode()


def test_the_newest_checkpoint_is_shown_and_a_stale_one_said_so(as_carol):
    fill(2)
    checkpoint()
    text = as_carol.get(reverse("audit:key")).content.decode()
    assert "no. 1," in text and "3 events" in text  # carol's sign-in and two more
    assert "Stale" not in text

    size, head_id, head_hash = checkpointing.trail_head()
    old = checkpoints.make(
        keys.private_key(),
        checkpointing.sink().last(),
        size=size,
        head_id=head_id,
        head_hash=head_hash,
        at=timezone.now() - timedelta(hours=2),
        every=600,
    )
    checkpointing.sink().append(old)
    text = as_carol.get(reverse("audit:key")).content.decode()
    assert "no. 2," in text and "Stale: the newest checkpoint" in text


def test_without_a_key_the_page_says_which_setting_to_set(as_carol, settings):
    settings.AUDIT_SIGNING_KEY = settings.AUDIT_SIGNING_KEY_FILE = ""
    text = as_carol.get(reverse("audit:key")).content.decode()
    assert "set AUDIT_SIGNING_KEY_FILE" in text
    assert as_carol.get(reverse("audit:key_pem")).status_code == 404
