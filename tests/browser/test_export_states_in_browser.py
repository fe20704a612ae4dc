"""Each way an export can end, as a person sees it: its look, its words, the phase it
stopped in, and a bar that only ever moves forward. A real worker exports against the
simulator; the simulator is steered to fail, refuse or leave the outcome unknown."""

from __future__ import annotations

import pytest

from ims_portal.simulator import seed
from tests.browser.conftest import start_export

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ENDED_WITHIN = 60_000  # ms


def wait_until_ended(page, status: str) -> None:
    page.wait_for_selector(f"#export-status[data-status={status}]", timeout=ENDED_WITHIN)


def phase_classes(page) -> list[str]:
    return page.eval_on_selector_all(
        "#export-status .phase", "items => items.map(li => li.className.replace('phase ', ''))"
    )


def headline(page) -> str:
    return " ".join(page.text_content("#export-status .headline").split())


def icon_is_hidden_beside_words(page) -> bool:
    return page.eval_on_selector(
        "#export-status .status-icon",
        "icon => icon.getAttribute('aria-hidden') === 'true'"
        " && getComputedStyle(icon, '::before').content.length > 2"
        " && icon.nextElementSibling.textContent.trim().length > 0",
    )


def test_a_succeeded_export_is_green_with_a_full_bar_and_every_phase_ticked(
    new_export_page, celery_worker_process, sim
):
    page = new_export_page
    sim.control.configure(speed=30)
    start_export(page)
    wait_until_ended(page, "succeeded")
    assert page.get_attribute("#export-status", "data-tone") == "ok"
    assert headline(page).startswith("Succeeded")
    assert icon_is_hidden_beside_words(page)
    assert page.get_attribute("#export-progress", "value") == "100"
    classes = phase_classes(page)
    assert classes[-1] == "current" and "halted" not in classes and "todo" not in classes
    # The page goes on asking about the object until OBS has shown it.
    page.wait_for_selector("#export-verification[data-verification='verified']")
    assert "Verified in OBS:" in page.text_content("#export-status")
    assert page.csp_violations == []


def test_a_failed_export_is_red_with_the_bar_where_it_stopped_and_says_what_to_do(
    new_export_page, celery_worker_process, sim, live_server
):
    page = new_export_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    # Slow enough that the job is seen running before it fails: the poller's rounds come
    # a second apart at most, and the bar must show where the job stopped.
    sim.control.configure(speed=3)
    start_export(page, seed.FAILS_DURING_EXPORT)
    wait_until_ended(page, "failed")
    text = page.text_content("#export-status")
    assert page.get_attribute("#export-status", "data-tone") == "error"
    assert headline(page).startswith("Failed")
    assert icon_is_hidden_beside_words(page)
    classes = phase_classes(page)
    assert classes.count("halted") == 1 and classes[-1] == "todo"  # Done is never ticked
    assert page.text_content("#export-status .phase.halted").strip().startswith("Running")
    assert "failed here" in page.text_content("#export-status .phase.halted")
    value = int(page.get_attribute("#export-progress", "value"))
    assert 0 < value < 100  # where the cloud last put it, not reset nor filled
    assert "IMG.0014" in text and "damaged" in text
    assert "Trying again as it is will not help." in text
    assert "try again later" not in text.lower()
    job_id = page.text_content("#export-job-id").strip()
    assert job_id and page.text_content("#export-cloud-request-id").strip()
    assert page.text_content("#export-portal-request-id").strip()
    page.click("button[data-copy=export-job-id]")
    page.wait_for_selector("button[data-copy=export-job-id]:text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == job_id
    assert page.csp_violations == []


def test_a_rejected_export_is_red_says_it_never_started_and_shows_no_bar(
    new_export_page, celery_worker_process, sim
):
    page = new_export_page
    # The object is already in the bucket; with OBS refusing to say so before the submit, only
    # IMS finds out (and the refusal keeps the catalogue's words: OBS cannot name the cause).
    sim.control.obs_forbidden()
    start_export(page, seed.SMALL_UBUNTU, file_name="existing.qcow2")
    wait_until_ended(page, "rejected")
    assert page.get_attribute("#export-status", "data-tone") == "error"
    assert "Not started: the cloud refused the request." in headline(page)
    assert page.locator("#export-progress").count() == 0
    assert phase_classes(page) == ["done", "halted", "todo", "todo", "todo"]
    assert "refused by the cloud" in page.text_content("#export-status .phase.halted")
    text = page.text_content("#export-status")
    assert "IMG.0070" in text and "Choose a different file name" in text
    assert page.is_visible("#export-cloud-request-id")
    assert page.csp_violations == []


def test_an_unknown_export_is_amber_and_says_what_to_check_where(
    new_export_page, celery_worker_process, sim
):
    page = new_export_page
    sim.control.fault(status=504, count=1, methods="POST", paths="/file$")
    start_export(page, seed.SMALL_DEBIAN)
    wait_until_ended(page, "unknown")
    assert page.get_attribute("#export-status", "data-tone") == "warning"
    assert headline(page).startswith("Unknown")
    assert phase_classes(page) == ["done", "halted", "todo", "todo", "todo"]
    help_text = " ".join(page.text_content("#export-status .unknown-help").split())
    assert "began sending the export request (POST) to the cloud at" in help_text
    assert "The cloud answered (its request id" in help_text  # the 504 had one
    assert "It gave no job id, and the portal will not send it again by itself." in help_text
    assert "The portal request id" in help_text
    assert "OBS console" in help_text and "IMS console" in help_text
    assert seed.SMALL_DEBIAN in help_text
    assert page.is_visible("#export-status a:text('Stop following')")
    assert page.csp_violations == []


def test_a_cancelled_export_is_grey_and_stopped_where_it_was(
    new_export_page, live_server, alice, make_export
):
    page = new_export_page
    # Made without its submit task, so it waits in the queue however fast the worker is.
    export = make_export(alice)
    page.goto(f"{live_server.url}{export.get_absolute_url()}")
    page.click("#export-status button:text('Cancel')")
    wait_until_ended(page, "cancelled")
    assert page.get_attribute("#export-status", "data-tone") == "stopped"
    assert headline(page).startswith("Cancelled")
    assert "before anything was sent to the cloud" in headline(page)
    assert icon_is_hidden_beside_words(page)
    assert phase_classes(page) == ["halted", "todo", "todo", "todo", "todo"]
    assert page.locator("#export-progress").count() == 0
    tone = page.eval_on_selector("#export-status", "el => getComputedStyle(el).borderLeftColor")
    assert tone == "rgb(93, 104, 120)"  # the muted grey every stopped status shares


def test_the_bar_never_moves_backwards_across_a_whole_export(
    new_export_page, celery_worker_process, sim
):
    page = new_export_page
    sim.control.configure(speed=4)  # long enough for many refreshes
    page.add_init_script(
        """
        window.samples = [];
        document.addEventListener("htmx:afterSettle", () => {
          const bar = document.getElementById("export-progress");
          const status = document.getElementById("export-status");
          window.samples.push([status && status.dataset.status, bar && bar.getAttribute("value")]);
        });
        """
    )
    start_export(page)
    wait_until_ended(page, "succeeded")
    samples = page.evaluate("window.samples")
    figures = [None if value is None else int(value) for _, value in samples]
    assert len(figures) >= 5, samples
    numbers = [f for f in figures if f is not None]
    assert numbers == sorted(numbers), samples
    assert numbers[-1] == 100
    first = figures.index(numbers[0])
    assert None not in figures[first:], samples  # once the cloud gave a figure, it stays
    assert len(set(numbers)) >= 3, samples  # it did move along the way
