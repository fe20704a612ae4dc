"""Headless Chromium (Debian's package) driven by Playwright, against the live server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from ims_portal.simulator import seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Playwright's sync API runs an event loop in this thread; the live server's ORM calls run in
# their own threads, but fixtures here touch the ORM from this one.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: bin/ensure-services installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def start_export(page, image: str = seed.SMALL_CENTOS, file_name: str | None = None) -> None:
    """Fill in and send the new-export form (already open on `page`) as a person does, a
    normal qcow2 export to the seeded bucket; land on the export's page."""
    page.check(f"#image-{image}")
    # Choosing an image reloads the bucket picker: a person types once it has come.
    settled(page)
    page.fill("#id_bucket", "ims-exports")
    page.fill("#id_file_name", file_name or f"browser-{uuid.uuid4().hex[:8]}.qcow2")
    page.select_option("#id_file_format", "qcow2")
    settled(page)
    page.click("button.primary")
    page.wait_for_selector("#export-status")


def settled(page) -> None:
    """Wait until no htmx request of the page is under way (its swaps are done)."""
    page.wait_for_timeout(450)  # a debounced as-you-type check starts 400 ms after typing
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def open_page(browser, **context_options: object) -> Iterator[object]:
    """A page in a context of its own that records CSP violations in `csp_violations`; the
    context closes when the caller's fixture ends."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.csp_violations = []
    page.on(
        "console",
        lambda message: (
            "Content Security Policy" in message.text and page.csp_violations.append(message.text)
        ),
    )
    yield page
    context.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    yield from open_page(browser)


def sign_in(page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")  # the overview


@pytest.fixture
def new_export_page(page, live_server, alice, cloud_settings, sim):
    """Alice on the new-export page, reached the way a person does."""
    sign_in(page, live_server, "alice", "pw-alice")
    page.click("text=New export")
    page.wait_for_selector("#export-form")
    return page
