"""No SSRF through a webhook URL: the portal's own network is refused, when a URL is saved
and again when it is delivered to, unless an operator allows it."""

from __future__ import annotations

import pytest

from ims_portal.notifications import targets
from ims_portal.notifications.forms import WebhookForm

REFUSED = [
    "http://127.0.0.1/hook",
    "http://localhost:8000/hook",  # a name that resolves to loopback
    "https://10.1.2.3/hook",
    "https://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # loopback dressed as IPv6
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_private_loopback_and_link_local_targets_are_refused(url, settings):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(targets.RefusedTarget, match="public addresses only"):
        targets.check(url)


@pytest.mark.parametrize("url", REFUSED[:3])
def test_an_operator_may_allow_them(url, settings):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = True
    assert targets.check(url).addresses


def test_a_public_address_is_taken_with_its_host_kept_for_the_request(settings):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = False
    target = targets.check("https://8.8.8.8:8443/hooks?a=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "8.8.8.8",
        8443,
        "/hooks?a=1",
    )
    assert target.host_header == "8.8.8.8:8443"
    assert [str(a) for a in target.addresses] == ["8.8.8.8"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://8.8.8.8/x", "only http and https"),
        ("https://user:pw@8.8.8.8/x", "credentials"),
        ("https:///x", "no host"),
    ],
)
def test_other_urls_are_refused_for_what_they_are(url, why, settings):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(targets.RefusedTarget, match=why):
        targets.check(url)


def test_a_name_that_does_not_resolve_is_not_taken():
    with pytest.raises(targets.UnresolvedTarget):
        targets.check("https://no-such-host.invalid/hook")


def test_the_form_says_why_it_refuses_a_url(settings):
    settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE = False
    form = WebhookForm({"new-url": "http://127.0.0.1:9/hook"}, prefix="new")
    assert not form.is_valid()
    assert "private, loopback or link-local" in form.errors["url"][0]
