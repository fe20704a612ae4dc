"""Every page, for every persona, in every state we can put it in: nothing overflows a 390 px
phone screen, axe-core finds no serious or critical violation, and the real page (CSP on)
breaks no Content Security Policy rule.

`SCREENS` is the one list of pages; a new page or state is one more `Screen` there.
axe-core is injected into a context that bypasses the CSP (it is a test tool, not part of
the portal); the CSP check runs on a separate, ordinary context.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from ims_portal.audit.models import AuditEvent
from ims_portal.cloud import ConnectionFailed, ObjectInfo
from ims_portal.exports import verification
from ims_portal.exports.models import Export, Status, Verification
from tests.browser.conftest import open_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[1] / "axe" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
BLOCKING_IMPACTS = {"serious", "critical"}
# Set to a folder to keep a full-page PNG of every screen at both widths, for a person to look at.
SCREENSHOTS = os.environ.get("PORTAL_SCREENSHOTS", "")

# How each status is reached from `queued`, with what the cloud would have said on the way.
ROUTES: dict[Status, list[tuple[Status, dict[str, object]]]] = {
    Status.QUEUED: [],
    Status.SUBMITTING: [(Status.SUBMITTING, {"submit_attempts": 1})],
    Status.SUBMITTED: [
        (Status.SUBMITTING, {"submit_attempts": 1}),
        (Status.SUBMITTED, {"job_id": "ff8080828f3c2e6b018f4a5b6c7d0001"}),
    ],
    Status.RUNNING: [
        (Status.SUBMITTING, {"submit_attempts": 1}),
        (Status.SUBMITTED, {"job_id": "ff8080828f3c2e6b018f4a5b6c7d0002"}),
        (Status.RUNNING, {"progress": 0.42, "current_step": "exporting_image"}),
    ],
    Status.SUCCEEDED: [
        (Status.SUBMITTING, {"submit_attempts": 1}),
        (Status.SUBMITTED, {"job_id": "ff8080828f3c2e6b018f4a5b6c7d0003"}),
        (Status.RUNNING, {"progress": 0.5}),
        (Status.SUCCEEDED, {"progress": 1.0}),
    ],
    Status.FAILED: [
        (Status.SUBMITTING, {"submit_attempts": 1}),
        (Status.SUBMITTED, {"job_id": "ff8080828f3c2e6b018f4a5b6c7d0004"}),
        (Status.RUNNING, {"progress": 0.39}),
        (
            Status.FAILED,
            {"error_code": "IMG.0141", "error_message": "The image's snapshot is damaged."},
        ),
    ],
    Status.REJECTED: [
        (Status.SUBMITTING, {"submit_attempts": 1}),
        (
            Status.REJECTED,
            {"error_code": "IMG.0070", "error_message": "The object already exists."},
        ),
    ],
    Status.UNKNOWN: [
        (Status.SUBMITTING, {"submit_attempts": 1}),
        (Status.UNKNOWN, {"error_message": "The worker stopped while submitting."}),
    ],
    Status.CANCELLED: [(Status.CANCELLED, {})],
    Status.ABANDONED: [
        (Status.SUBMITTING, {"submit_attempts": 1}),
        (Status.SUBMITTED, {"job_id": "ff8080828f3c2e6b018f4a5b6c7d0005"}),
        (Status.RUNNING, {"progress": 0.3}),
        (Status.ABANDONED, {"reason": "The change window closed; checked in the console."}),
    ],
}


@dataclass
class World:
    """What a screen's set-up may use: the server, the personas and a way to make exports."""

    server: object  # pytest-django's live_server
    users: dict[str, object]
    make_export: Callable[..., Export]
    sim: object  # the simulator, at its seed

    @property
    def url(self) -> str:
        return self.server.url

    def export_in(self, status: Status, owner: str = "alice", **fields: object) -> Export:
        export = self.make_export(self.users[owner], **fields)
        for step, changes in ROUTES[status]:
            export.transition(step, **changes)
        return export

    def some_exports(self) -> list[Export]:
        """A history with one export in each status, a long destination among them."""
        exports = [self.export_in(status) for status in ROUTES]
        exports.append(
            self.export_in(
                Status.SUCCEEDED,
                owner="bob",
                image_name="a-very-long-image-name-that-does-not-fit-on-a-phone-0123456789",
                object_name="exports/2025/some/deeply/nested/folder/" + "x" * 120 + ".qcow2",
            )
        )
        return exports


Opener = Callable[[object, World], None]


def visit(path: str, *, prepare: Callable[[World], object] | None = None) -> Opener:
    def open_(page, world: World) -> None:
        if prepare is not None:
            prepare(world)
        page.goto(world.url + path)

    return open_


def export_page(status: Status) -> Opener:
    def open_(page, world: World) -> None:
        page.goto(world.url + world.export_in(status).get_absolute_url())

    return open_


# What OBS answers, check after check, for a succeeded export to show each verification
# state (a missing object: as many times as it is checked before it is called not found).
VERIFIED_OBJECT = ObjectInfo(
    size=6_549_381_120,
    etag="9b2cf535f27731c974343645a3985328",
    last_modified=datetime(2026, 3, 2, 10, 15, 7, tzinfo=UTC),
)
PROOFS: dict[Verification, Callable[[], list[object]]] = {
    Verification.PENDING: lambda: [None],
    Verification.VERIFIED: lambda: [VERIFIED_OBJECT],
    Verification.NOT_FOUND: lambda: [None] * settings.EXPORT_VERIFY_TRIES,
    Verification.NOT_VERIFIED: lambda: [ConnectionFailed("connection refused")],
}


def proven_export_page(state: Verification) -> Opener:
    def open_(page, world: World) -> None:
        export = world.export_in(Status.SUCCEEDED, **verification.start())
        for answer in PROOFS[state]():
            verification.record(export, answer)  # type: ignore[arg-type]
        page.goto(world.url + export.get_absolute_url())

    return open_


def abandon_page(page, world: World) -> None:
    export = world.export_in(Status.RUNNING)
    page.goto(world.url + reverse("exports:abandon", args=[export.pk]))


def abandon_refused(page, world: World) -> None:
    abandon_page(page, world)
    page.click("form[action$='/abandon/'] button[type=submit]")
    page.wait_for_selector("#errors-reason .error")


def retry_prefill(page, world: World) -> None:
    export = world.export_in(Status.REJECTED)
    page.goto(world.url + reverse("exports:new") + f"?retry={export.pk}")


def refused_new_export(page, world: World) -> None:
    page.goto(world.url + reverse("exports:new"))
    page.fill("#id_bucket", "Bad_Bucket")
    page.click("#export-form button[type=submit]")
    page.wait_for_selector("#error-summary")


def pre_flight_failed(page, world: World) -> None:
    """A bucket picked from the list and a file name that exists: a failure, a free name."""
    page.goto(world.url + reverse("exports:new"))
    page.check("#bucket-ims-exports")
    page.fill("#id_file_name", "existing.qcow2")
    page.wait_for_selector("#preflight .verdict-failed .use-name")


def buckets_not_listed(page, world: World) -> None:
    """An account that may not list buckets: the page says so, a typed name is checked."""
    world.sim.control.obs_forbidden()
    page.goto(world.url + reverse("exports:new"))
    page.fill("#id_bucket", "ims-exports")
    page.wait_for_selector("#preflight .verdict-unverified")


def audit_event_page(page, world: World) -> None:
    world.some_exports()
    event = AuditEvent.objects.order_by("-id").first()
    assert event is not None
    page.goto(world.url + reverse("audit:detail", args=[event.pk]))


def with_webhook_deliveries(world: World) -> None:
    """A webhook with a long URL and a log of each kind of delivery, and e-mails sent."""
    from ims_portal.notifications.models import (
        Channel,
        Delivery,
        DeliveryState,
        Event,
        Subscription,
        new_secret,
    )

    alice = world.users["alice"]
    hook = Subscription.objects.create(
        owner=alice,
        channel=Channel.WEBHOOK,
        url="https://hooks.example.com/services/T0000/B0000/" + "x" * 60,
        secret=new_secret(),
        events=[Event.SUCCEEDED.value, Event.STALLED.value],
    )
    export = world.export_in(Status.SUCCEEDED)  # and its default e-mail
    for state, code, attempts, error in (
        (DeliveryState.DELIVERED, 200, 1, ""),
        (DeliveryState.FAILED, 410, 1, "the receiver answered HTTP 410"),
        (DeliveryState.PENDING, 503, 2, "the receiver answered HTTP 503"),
    ):
        Delivery.objects.create(
            owner=alice,
            subscription=hook,
            channel=Channel.WEBHOOK,
            target=hook.url,
            event=Event.SUCCEEDED,
            dedup_key=state,
            export=export,
            payload={},
            state=state,
            attempts=attempts,
            response_code=code,
            latency_ms=120,
            error=error,
        )


def notifications_secret(page, world: World) -> None:
    with_webhook_deliveries(world)
    page.goto(world.url + reverse("notifications:settings"))
    page.click(".webhook-secret button:has-text('Show signing secret')")
    page.wait_for_selector("code.secret")


def notifications_refused(page, world: World) -> None:
    page.goto(world.url + reverse("notifications:settings"))
    page.fill("#id_new-url", "http://127.0.0.1:9/hook")
    page.click("button:has-text('Add webhook')")
    page.wait_for_selector("#errors-id_new-url .error")


def tokens_page_with_a_new_token(page, world: World) -> None:
    from ims_portal.api import tokens
    from ims_portal.api.models import ApiToken, Scope

    alice = world.users["alice"]
    tokens.issue(alice, "nightly backup on build-01", Scope.EXPORT, 90)
    used = tokens.issue(alice, "grafana dashboard", Scope.READ, 30).token
    ApiToken.objects.filter(pk=used.pk).update(
        last_used_at=datetime.now(UTC), last_used_ip="2001:db8:85a3::8a2e:370:7334"
    )
    tokens.revoke(tokens.issue(alice, "old laptop", Scope.READ, 30).token, alice)
    page.goto(world.url + reverse("tokens:list"))
    page.fill("#id_name", "ci pipeline")
    page.click("form[action$='/tokens/'] button[type=submit]")
    page.wait_for_selector("#new-token")


@dataclass(frozen=True)
class Screen:
    name: str
    persona: str | None  # who is signed in: alice exports, carol audits, dave has no role
    open: Opener


SCREENS = [
    Screen("sign-in", None, visit("/accounts/login/")),
    Screen("signed-out", None, visit("/accounts/signed-out/")),
    Screen("no-access", "dave", visit("/exports/")),
    Screen("new-export", "alice", visit("/exports/new/")),
    Screen("new-export-refused", "alice", refused_new_export),
    Screen("history-empty", "alice", visit("/exports/")),
    Screen("history-empty-auditor", "carol", visit("/exports/")),
    Screen("history-full", "alice", visit("/exports/", prepare=World.some_exports)),
    Screen("history-full-auditor", "carol", visit("/exports/", prepare=World.some_exports)),
    Screen("history-no-match", "alice", visit("/exports/?q=nothing-like-this")),
    Screen(
        "history-search-too-short", "carol", visit("/exports/?q=ab", prepare=World.some_exports)
    ),
    *[Screen(f"export-{status.value}", "alice", export_page(status)) for status in ROUTES],
    Screen("export-failed-auditor", "carol", export_page(Status.FAILED)),
    Screen("audit-trail", "carol", visit("/audit/", prepare=World.some_exports)),
    Screen("audit-trail-empty", "carol", visit("/audit/?q=nothing-like-this")),
    Screen("audit-event", "carol", audit_event_page),
    Screen("overview-empty", "alice", visit("/")),
    Screen("overview-busy", "alice", visit("/", prepare=World.some_exports)),
    Screen("overview-auditor", "carol", visit("/", prepare=World.some_exports)),
    Screen("abandon", "alice", abandon_page),
    Screen("abandon-refused", "alice", abandon_refused),
    Screen("new-export-retry", "alice", retry_prefill),
    Screen("notifications-default", "alice", visit("/notifications/")),
    Screen(
        "notifications-busy",
        "alice",
        visit("/notifications/", prepare=with_webhook_deliveries),
    ),
    Screen("notifications-secret", "alice", notifications_secret),
    Screen("notifications-refused", "alice", notifications_refused),
    Screen("new-export-pre-flight-failed", "alice", pre_flight_failed),
    Screen("new-export-buckets-not-listed", "alice", buckets_not_listed),
    Screen("api-tokens", "alice", tokens_page_with_a_new_token),
    Screen("api-tokens-auditor", "carol", visit("/tokens/")),
    Screen("api-reference", "alice", visit("/api/")),
    *[
        Screen(f"export-succeeded-{state.value}", "alice", proven_export_page(state))
        for state in PROOFS
    ],
]


@pytest.fixture
def world(live_server, alice, bob, carol, make_user, make_export, cloud, poll_chains_held) -> World:
    """The screens' users and exports. The exports are made in the states they show, and
    no worker's poll chain may poll or check them meanwhile (a session worker started by
    an earlier test polls every due row of the database)."""
    users = {"alice": alice, "bob": bob, "carol": carol, "dave": make_user("dave")}
    return World(live_server, users, make_export, cloud)


def show(page, world: World, screen: Screen) -> None:
    if screen.persona is not None:
        sign_in(page, world.server, screen.persona, f"pw-{screen.persona}")
    screen.open(page, world)
    page.wait_for_load_state("networkidle")


OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1 && e.getClientRects().length)
    .filter(e => !e.closest('.visually-hidden, .skip-link'))
    .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                     (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : ''));
  return {scrollWidth: document.documentElement.scrollWidth, width, wide};
}"""

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
  }));
}"""


@pytest.fixture
def axe_page(browser):
    """A page whose context lets the injected axe-core script past the CSP."""
    context = browser.new_context(bypass_csp=True, viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    """An ordinary page (CSP in force) on a phone-sized screen, recording CSP reports."""
    yield from open_page(browser, viewport=PHONE)


def keep_screenshot(page, screen: Screen, width: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{screen.name}-{width}.png"), full_page=True)


def blocking(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in BLOCKING_IMPACTS]


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: s.name)
def test_no_page_overflows_a_phone_or_desktop_screen_or_breaks_the_csp(phone_page, world, screen):
    show(phone_page, world, screen)
    measured = phone_page.evaluate(OVERFLOW)
    assert measured["scrollWidth"] <= measured["width"], measured
    # A long unbroken name can stretch a table past a desktop screen as well.
    phone_page.set_viewport_size(DESKTOP)
    measured = phone_page.evaluate(OVERFLOW)
    assert measured["scrollWidth"] <= measured["width"], measured
    assert phone_page.csp_violations == []


@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: s.name)
def test_axe_finds_nothing_serious_on_any_page(axe_page, world, screen):
    show(axe_page, world, screen)
    axe_page.add_script_tag(path=str(AXE))
    desktop = blocking(axe_page.evaluate(AXE_RUN))
    keep_screenshot(axe_page, screen, "desktop")
    axe_page.set_viewport_size(PHONE)
    phone = blocking(axe_page.evaluate(AXE_RUN))
    keep_screenshot(axe_page, screen, "phone")
    assert (desktop, phone) == ([], [])


def test_the_overflow_check_catches_a_page_that_is_too_wide(phone_page, world):
    show(phone_page, world, SCREENS[0])
    phone_page.evaluate(
        "() => { const d = document.createElement('div'); d.textContent = 'x';"
        " d.className = 'too-wide'; d.style.width = '900px';"
        " document.querySelector('main').append(d); }"
    )
    measured = phone_page.evaluate(OVERFLOW)
    assert measured["scrollWidth"] > measured["width"]
    assert any("too-wide" in name for name in measured["wide"])


def test_the_axe_check_catches_a_serious_violation(axe_page, world):
    show(axe_page, world, SCREENS[0])
    axe_page.evaluate(
        "() => { const p = document.createElement('p'); p.textContent = 'faint';"
        " p.style.color = '#bbb'; document.querySelector('main').append(p); }"
    )
    axe_page.add_script_tag(path=str(AXE))
    assert "color-contrast" in {v["id"] for v in blocking(axe_page.evaluate(AXE_RUN))}
