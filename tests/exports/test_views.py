"""The export pages through Django's test client; the cloud is the simulator."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ims_portal.exports.models import Export, Status
from ims_portal.simulator import seed
from tests.portal_fixtures import export_form_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloud")]


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def test_every_page_requires_sign_in(client, alice, make_export):
    export = make_export(alice)
    for url in (
        reverse("exports:history"),
        reverse("exports:new"),
        reverse("exports:detail", args=[export.pk]),
        reverse("exports:status", args=[export.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_an_expired_session_inside_htmx_sends_the_browser_to_sign_in(client, alice, make_export):
    export = make_export(alice)
    url = reverse("exports:status", args=[export.pk])
    response = client.get(
        url,
        headers={
            "HX-Request": "true",
            "HX-Current-URL": f"http://testserver{export.get_absolute_url()}",
        },
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("accounts:login"))


def test_the_new_export_page_lists_images_with_the_reason_some_cannot_be_exported(as_alice):
    response = as_alice.get(reverse("exports:new"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'value="{seed.SMALL_CENTOS}"' in html
    assert "Public images cannot be exported." in html
    assert "Full-ECS images cannot be exported." in html
    assert "ISO images cannot be exported." in html


def test_a_valid_post_saves_a_queued_export_and_redirects_to_it(
    as_alice, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = as_alice.post(reverse("exports:new"), export_form_data())
    export = Export.objects.get()
    assert response.status_code == 302
    assert response["Location"] == export.get_absolute_url()
    assert export.status == Status.QUEUED
    assert export.owner == alice
    assert export.bucket_url == "ims-exports:web.qcow2"
    # submit_export, sent only once the row is committed (the others count audit events
    # for the metrics, also on commit)
    sends = [callback for callback in callbacks if "enqueue_submit" in callback.__qualname__]
    assert len(sends) == 1


def test_the_same_form_posted_twice_makes_one_export(as_alice, django_capture_on_commit_callbacks):
    data = export_form_data()
    with django_capture_on_commit_callbacks():
        first = as_alice.post(reverse("exports:new"), data)
        second = as_alice.post(reverse("exports:new"), data)
    assert Export.objects.count() == 1
    assert first["Location"] == second["Location"]


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"bucket": "Bad_Bucket"}, "bucket", "lowercase"),
        ({"bucket": ""}, "bucket", "Enter the name"),
        ({"file_name": ""}, "file_name", "Enter the name of the file"),
        ({"file_name": "/abs.qcow2"}, "file_name", "must not start with"),
        ({"quick": "on"}, "file_format", "leave the format empty"),
        ({"file_format": ""}, "file_format", "Choose a format"),
        ({"image": seed.FULL_ECS}, "image", "Full-ECS"),
        ({"image": seed.WINDOWS_DERIVED}, "image", "Windows"),
        ({"image": seed.ENCRYPTED, "quick": "on", "file_format": ""}, "quick", "Encrypted"),
        ({"image": "no-such-image"}, "image", "no longer exists"),
    ],
)
def test_every_rule_puts_its_message_on_its_field_and_nothing_is_saved(
    as_alice, fields, field, text
):
    response = as_alice.post(reverse("exports:new"), export_form_data(**fields))
    assert response.status_code == 422
    form = response.context["form"]
    assert any(text in error for error in form.errors[field]), form.errors
    assert not Export.objects.exists()
    # What the user typed is kept.
    assert form["bucket"].value() == export_form_data(**fields)["bucket"]


def test_an_image_already_in_flight_cannot_get_a_second_export(as_alice, bob, make_export):
    busy = make_export(bob, image_id=seed.SMALL_CENTOS)
    response = as_alice.post(reverse("exports:new"), export_form_data())
    assert response.status_code == 422
    assert f"export #{busy.pk}" in str(response.context["form"].errors["image"])


def test_the_field_check_answers_only_that_fields_partial(as_alice):
    response = as_alice.post(
        reverse("exports:check_field", args=["bucket"]),
        export_form_data(bucket="ab"),
        headers={"HX-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith('<div class="field-errors" id="errors-bucket"')
    assert "3 to 63" in html


def test_an_unreachable_cloud_at_submit_keeps_the_input_and_says_so(as_alice, sim):
    sim.control.fault(status=503, count=50)
    response = as_alice.post(reverse("exports:new"), export_form_data())
    assert response.status_code == 503
    assert "could not be reached" in response.content.decode()
    assert response.context["form"]["file_name"].value() == "web.qcow2"
    assert not Export.objects.exists()


def test_another_users_export_is_not_found(as_alice, bob, make_export):
    theirs = make_export(bob)
    for name in ("exports:detail", "exports:status"):
        assert as_alice.get(reverse(name, args=[theirs.pk])).status_code == 404
    assert as_alice.post(reverse("exports:cancel", args=[theirs.pk])).status_code == 404


def test_an_auditor_reads_every_export_but_cannot_create_or_cancel(
    client, carol, alice, make_export
):
    export = make_export(alice)
    client.force_login(carol)
    assert client.get(export.get_absolute_url()).status_code == 200
    assert "alice" in client.get(reverse("exports:history")).content.decode()
    assert client.get(reverse("exports:new")).status_code == 403
    assert client.post(reverse("exports:new"), export_form_data()).status_code == 403
    assert client.post(reverse("exports:cancel", args=[export.pk])).status_code == 403
    assert Export.objects.get().status == Status.QUEUED


def test_the_status_fragment_polls_while_in_flight_and_stops_at_the_end(
    as_alice, alice, make_export
):
    export = make_export(alice)
    url = reverse("exports:status", args=[export.pk])
    live = as_alice.get(url, headers={"HX-Request": "true"})
    assert live.status_code == 200 and 'hx-trigger="every 2s"' in live.content.decode()

    export.transition(Status.CANCELLED)
    final = as_alice.get(url, headers={"HX-Request": "true"})
    assert final.status_code == 286  # htmx: stop polling
    assert "hx-trigger" not in final.content.decode()


def test_the_export_page_includes_the_same_status_partial(as_alice, alice, make_export):
    export = make_export(alice)
    page = as_alice.get(export.get_absolute_url()).content.decode()
    fragment = as_alice.get(reverse("exports:status", args=[export.pk])).content.decode()
    assert 'id="export-status"' in page
    assert fragment.strip().split("\n")[0] in page


def test_history_filters_by_status_and_text_and_refuses_junk(as_alice, alice, make_export):
    make_export(alice, image_name="alpha", status=Status.SUCCEEDED)
    make_export(alice, image_name="beta", bucket="other-bucket")
    url = reverse("exports:history")
    assert "beta" not in as_alice.get(url, {"status": "succeeded"}).content.decode()
    assert "alpha" not in as_alice.get(url, {"q": "other-bucket"}).content.decode()
    assert as_alice.get(url, {"status": "bogus"}).status_code == 400
    assert as_alice.get(url, {"page": "x"}).status_code == 400


def test_history_fragment_for_htmx_and_page_otherwise(as_alice, alice, make_export):
    make_export(alice)
    url = reverse("exports:history")
    fragment = as_alice.get(url, headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<div id="history-rows"')
    assert "<html" in as_alice.get(url).content.decode()


def test_history_queries_do_not_grow_with_the_rows(
    as_alice, alice, make_export, django_assert_max_num_queries
):
    for _ in range(3):
        make_export(alice, status=Status.SUCCEEDED)
    with django_assert_max_num_queries(10) as few:
        as_alice.get(reverse("exports:history"))
    for _ in range(20):
        make_export(alice, status=Status.SUCCEEDED)
    with django_assert_max_num_queries(len(few.captured_queries)):
        as_alice.get(reverse("exports:history"))


def test_the_status_fragment_brings_the_audit_timeline_along_out_of_band(
    as_alice, alice, make_export
):
    export = make_export(alice)
    export.transition(Status.SUBMITTING)
    fragment = as_alice.get(
        reverse("exports:status", args=[export.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert '<section id="audit-timeline" class="card" hx-swap-oob="true">' in fragment
    assert "Export being submitted" in fragment
    page = as_alice.get(export.get_absolute_url()).content.decode()
    assert '<section id="audit-timeline" class="card">' in page  # in place, not out of band


@pytest.mark.parametrize("token", ["", "not-a-uuid"])
def test_a_post_without_a_proper_form_token_is_still_honoured(
    as_alice, token, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        response = as_alice.post(reverse("exports:new"), export_form_data(request_token=token))
    assert response.status_code == 302
    assert Export.objects.count() == 1


def test_nul_characters_in_the_input_get_a_message_not_a_server_error(as_alice):
    response = as_alice.post(
        reverse("exports:new"), export_form_data(image="img\x00", bucket="a\x00b")
    )
    assert response.status_code == 422
    assert response.context["form"].errors["image"]
    assert as_alice.post("/exports/new/check/bucket%00/").status_code in (400, 404)
    assert not Export.objects.exists()


def test_incomplete_cloud_settings_are_a_message_on_the_page_not_a_server_error(
    as_alice, monkeypatch
):
    from ims_portal.exports import cloud_access

    monkeypatch.delenv("IAM_PASSWORD")
    cloud_access.get_client.cache_clear()
    try:
        page = as_alice.get(reverse("exports:new"))
        posted = as_alice.post(reverse("exports:new"), export_form_data())
    finally:
        monkeypatch.undo()
        cloud_access.get_client.cache_clear()
    assert page.status_code == 200
    assert "IAM_PASSWORD" in page.content.decode()
    assert posted.status_code == 503
    assert "IAM_PASSWORD" in posted.content.decode()
    assert not Export.objects.exists()


def test_history_pages_by_25_newest_first_with_links_that_keep_the_filter(
    as_alice, alice, make_export
):
    for n in range(27):
        make_export(alice, image_name=f"img-{n:02d}", status=Status.SUCCEEDED)
    url = reverse("exports:history")
    first = as_alice.get(url, {"status": "succeeded"}).content.decode()
    assert "img-26" in first and "img-01" not in first
    assert 'href="?status=succeeded&amp;page=2"' in first
    second = as_alice.get(url, {"status": "succeeded", "page": 2}).content.decode()
    assert "img-01" in second and "img-00" in second and "img-26" not in second


def test_history_refreshes_itself_only_while_a_row_is_in_flight(as_alice, alice, make_export):
    done = make_export(alice, status=Status.SUCCEEDED)
    url = reverse("exports:history")
    assert 'hx-trigger="every 2s"' not in as_alice.get(url).content.decode()
    make_export(alice)
    assert 'hx-trigger="every 2s"' in as_alice.get(url).content.decode()
    assert done.get_absolute_url() in as_alice.get(url).content.decode()


def test_a_job_without_change_for_long_is_shown_as_stalled(as_alice, alice, make_export, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.EXPORT_STALLED_AFTER = 60
    export = make_export(
        alice,
        status=Status.RUNNING,
        job_id="job-1",
        progress=0.4,
        last_change_at=timezone.now() - timedelta(minutes=5),
    )
    html = as_alice.get(export.get_absolute_url()).content.decode()
    assert "may be stalled" in html
    assert 'hx-trigger="every 2s"' in html  # and still followed
