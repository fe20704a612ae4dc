"""Company SSO end to end: headless Chromium, the live portal, and a real OpenID provider
(panva's oidc-provider) on loopback, each user signing in through the provider's own pages."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.conftest import start_export
from tests.oidc_fixtures import switch_on_sso

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The provider's pages import a web font; nothing may leave this machine.
OFF_MACHINE = re.compile(r"^https?://(?!localhost[:/]|127\.0\.0\.1[:/])")


@pytest.fixture
def portal(settings, oidc_provider, live_server, page):
    """The live portal with SSO on against the test provider; the browser kept on loopback."""
    switch_on_sso(settings, oidc_provider, live_server.url)
    page.context.route(OFF_MACHINE, lambda route: route.abort())
    return live_server.url


def sign_in(page, portal: str, issuer: str, subject: str, start: str = "/exports/") -> None:
    """From a portal page, through the provider's sign-in (and consent) pages, and back."""
    page.goto(f"{portal}{start}")
    page.click("#sso-sign-in")
    page.wait_for_url(f"{issuer}/**")
    page.fill("input[name=login]", subject)
    page.fill("input[name=password]", "any password")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.url.startswith(issuer):  # first visit of this client: the consent page
        page.click("button[type=submit]")
    page.wait_for_url(f"{portal}/**")


def test_an_exporter_signs_in_with_sso_and_exports(
    page, portal, oidc_provider, cloud_settings, celery_worker_process, sim
):
    sign_in(page, portal, oidc_provider.issuer, "sub-ann")
    assert page.url == f"{portal}/exports/"
    assert page.text_content(".who").strip() == "ann"
    page.click("text=New export")
    page.wait_for_selector("#export-form")
    file_name = f"sso-{uuid.uuid4().hex[:8]}.qcow2"
    start_export(page, file_name=file_name)
    page.wait_for_selector("#export-status[data-status=succeeded]", timeout=30_000)
    page.click("text=History")
    page.wait_for_selector(f"text={file_name}")
    assert page.csp_violations == []


def test_an_auditor_sees_everyones_history_but_no_new_export_button(
    page, portal, oidc_provider, alice, bob, make_export
):
    make_export(alice, image_name="alice-image")
    make_export(bob, image_name="bob-image")
    sign_in(page, portal, oidc_provider.issuer, "sub-aud")
    assert page.text_content("h1") == "All exports"
    assert page.is_visible("text=alice-image") and page.is_visible("text=bob-image")
    assert page.locator("text=New export").count() == 0

    page.select_option("#id_user", "bob")  # the filter swaps the rows in place
    page.wait_for_selector("text=alice-image", state="detached")
    assert page.is_visible("text=bob-image")
    assert page.url.endswith("user=bob")
    assert page.csp_violations == []


def test_a_user_in_no_mapped_group_gets_the_no_access_page(page, portal, oidc_provider):
    sign_in(page, portal, oidc_provider.issuer, "sub-nobody")
    assert page.url == f"{portal}/exports/"
    assert page.reload().status == 403
    text = page.text_content("#no-access")
    assert "No access" in text
    assert "ims-admins" in text and "ims-auditors" in text


def test_sign_out_ends_the_portal_session_and_the_providers(page, portal, oidc_provider):
    sign_in(page, portal, oidc_provider.issuer, "sub-ann")
    page.click("text=Sign out")
    page.wait_for_url(f"{oidc_provider.issuer}/**")  # the provider confirms the sign-out
    page.click("text=Yes, sign me out")
    page.wait_for_url(f"{portal}/accounts/signed-out/")
    assert "You are signed out" in page.text_content("#signed-out")

    page.goto(f"{portal}/exports/")
    assert page.url.startswith(f"{portal}/accounts/login/")
    page.click("#sso-sign-in")
    # The provider's session is gone too: it asks who you are again.
    page.wait_for_selector("input[name=login]")
    assert page.csp_violations == []


@pytest.mark.parametrize(
    ("how", "reason"), [("tamper", "token_signature_invalid"), ("expire", "token_expired")]
)
def test_a_tampered_or_expired_id_token_is_refused(page, portal, oidc_provider, how, reason):
    oidc_provider.spoil_next_id_token(how)
    with page.expect_response(re.compile(r"/accounts/sso/callback/")) as answer:
        sign_in(page, portal, oidc_provider.issuer, "sub-ann")
    assert answer.value.status == 403
    assert "Sign-in refused" in page.text_content("#sign-in-refused")
    assert reason in page.text_content("#sign-in-refused")
    page.goto(f"{portal}/exports/")
    assert page.url.startswith(f"{portal}/accounts/login/")  # not signed in
