"""Every endpoint of the REST API, as exporters and auditors use it, against the simulator:
the same rules, the same 404s and the same audit events as the pages."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from ims_portal.audit import exporting
from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.exports.models import Export, Status
from ims_portal.exports.progress import progress_of
from ims_portal.simulator import seed
from tests.api.conftest import problem

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cloud")]

EXPORTS = "/api/v1/exports/"


def body_of(**fields):
    return {
        "image": seed.SMALL_CENTOS,
        "bucket": "ims-exports",
        "file_name": "api-web.qcow2",
        "file_format": "qcow2",
        **fields,
    }


def test_images_carry_the_pickers_eligibility_and_reason(api_as, alice):
    response = api_as(alice).get("/api/v1/images/")
    assert response.status_code == 200
    images = {image["id"]: image for image in response.json()}
    assert images[seed.SMALL_CENTOS]["exportable"] is True
    assert images[seed.SMALL_CENTOS]["reason"] == ""
    assert images[seed.FULL_ECS]["exportable"] is False
    assert images[seed.FULL_ECS]["reason"] == "Full-ECS images cannot be exported."
    exportable = api_as(alice).get("/api/v1/images/?exportable=true").json()
    assert exportable and all(image["exportable"] for image in exportable)
    assert seed.FULL_ECS not in {image["id"] for image in exportable}


def test_buckets_carry_the_pickers_judgement(api_as, alice):
    response = api_as(alice).get(f"/api/v1/buckets/?image={seed.SMALL_CENTOS}")
    assert response.status_code == 200
    found = {bucket["name"]: bucket for bucket in response.json()["results"]}
    assert found["ims-exports"]["usable"] is True
    assert found["archive-class-bucket"]["usable"] is False
    assert found["archive-class-bucket"]["reason"]


def test_a_valid_export_is_created_through_the_forms_code_and_audited(
    api_as, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as submitted:
        response = api_as(alice).post(EXPORTS, body_of())
    assert response.status_code == 201, response.content
    export = Export.objects.get()
    data = response.json()
    assert data["id"] == export.pk and data["status"] == Status.QUEUED
    assert response["Location"].endswith(f"/api/v1/exports/{export.pk}/")
    assert data["destination"] == "ims-exports:api-web.qcow2"
    sends = [callback for callback in submitted if "enqueue_submit" in callback.__qualname__]
    assert len(sends) == 1  # the submit task, sent on commit as the page's is
    event = AuditEvent.objects.get(action=Action.EXPORT_REQUESTED)
    assert event.actor_id == alice.pk
    assert event.details["via"].startswith("api, personal token #")
    assert event.details["bucket_url"] == "ims-exports:api-web.qcow2"
    assert event.request_id == response["X-Request-Id"]


def test_a_refused_export_answers_422_problem_details_with_field_pointers_and_is_audited(
    api_as, alice
):
    response = api_as(alice).post(
        EXPORTS, body_of(image=seed.FULL_ECS, bucket="Bad_Bucket", file_name="")
    )
    assert response.status_code == 422
    details = problem(response)
    assert details["type"].endswith("/api/#problem-validation-failed")
    pointers = {error["pointer"] for error in details["errors"]}
    assert {"#/image", "#/bucket", "#/file_name"} <= pointers
    assert Export.objects.count() == 0
    event = AuditEvent.objects.get(action=Action.EXPORT_INVALID)
    assert event.outcome == Outcome.FAILURE
    assert set(event.details["errors"]) >= {"image", "bucket", "file_name"}


def test_fast_export_is_the_forms_quick_field_and_its_errors_say_fast_export(api_as, alice):
    response = api_as(alice).post(
        EXPORTS, body_of(image=seed.ENCRYPTED, fast_export=True, file_format="")
    )
    assert response.status_code == 422
    assert "#/fast_export" in {e["pointer"] for e in problem(response)["errors"]}


def test_a_body_with_an_unknown_field_or_a_wrong_type_is_refused_before_the_rules(api_as, alice):
    unknown = api_as(alice).post(EXPORTS, body_of(format="qcow2"))
    assert unknown.status_code == 400
    assert problem(unknown)["errors"] == [{"pointer": "#/format", "detail": "Unknown field."}]
    wrong = api_as(alice).post(EXPORTS, body_of(fast_export="yes"))
    assert wrong.status_code == 400
    api = api_as(alice)
    not_json = api.client.post(
        EXPORTS,
        "{",
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert not_json.status_code == 400
    assert problem(not_json)["type"].endswith("#problem-invalid-request")
    not_an_object = api.post(EXPORTS, ["image"])
    assert not_an_object.status_code == 400
    assert Export.objects.count() == 0


def test_the_list_uses_the_history_filters_and_pages(api_as, alice, bob, make_export):
    mine = make_export(alice, image_name="db-01", status=Status.SUCCEEDED)
    make_export(alice, image_name="web-01")
    make_export(bob, image_name="db-02")
    api = api_as(alice)
    listed = api.get(EXPORTS).json()
    assert listed["count"] == 2 and listed["page"] == 1 and listed["next"] is None
    assert [e["id"] for e in api.get(f"{EXPORTS}?q=db-0").json()["results"]] == [mine.pk]
    too_short = api.get(f"{EXPORTS}?q=db")  # the pages' minimum search, said the API's way
    assert too_short.status_code == 400
    assert problem(too_short)["errors"][0]["parameter"] == "q"
    assert api.get(f"{EXPORTS}?status=succeeded").json()["count"] == 1
    assert api.get(f"{EXPORTS}?status=in_flight").json()["count"] == 1
    invalid = api.get(f"{EXPORTS}?status=nonsense")
    assert invalid.status_code == 400
    assert problem(invalid)["errors"][0]["parameter"] == "status"


def test_an_auditor_lists_everyones_exports_and_filters_by_user(
    api_as, alice, bob, carol, make_export
):
    make_export(alice)
    make_export(bob)
    api = api_as(carol)
    assert api.get(EXPORTS).json()["count"] == 2
    assert [e["owner"] for e in api.get(f"{EXPORTS}?user=bob").json()["results"]] == ["bob"]


def test_the_detail_has_progress_time_left_and_the_status_history(api_as, alice, make_export):
    export = make_export(alice)
    export.transition(Status.SUBMITTING)
    export.transition(Status.SUBMITTED, job_id="job-1")
    export.transition(Status.RUNNING)
    export.record_poll(export.next_poll_at or export.updated_at, progress=0.4)
    data = api_as(alice).get(f"{EXPORTS}{export.pk}/").json()
    assert data["progress"]["percent"] == 40
    assert data["progress"]["basis"] == "cloud"
    assert data["progress"]["phase"] == "Running"
    assert "remaining_seconds" in data["progress"]
    # The page's own words, so that a script or the command line says what the page says.
    assert data["progress"]["remaining_text"] == progress_of(export).time_left
    assert [(s["from_status"], s["to_status"]) for s in data["status_history"]] == [
        ("queued", "submitting"),
        ("submitting", "submitted"),
        ("submitted", "running"),
    ]
    assert data["status_history"][1]["detail"] == "job-1"
    assert data["can_abandon"] is True and data["can_cancel"] is False


def test_someone_elses_export_is_not_found_and_the_attempt_is_audited(
    api_as, alice, bob, make_export
):
    export = make_export(alice)
    response = api_as(bob).get(f"{EXPORTS}{export.pk}/")
    assert response.status_code == 404
    assert problem(response)["type"] == "about:blank"
    event = AuditEvent.objects.get(action=Action.ACCESS_DENIED)
    assert (event.actor_id, event.target_id) == (bob.pk, str(export.pk))
    assert api_as(bob).post(f"{EXPORTS}{export.pk}/cancel/").status_code == 404


def test_cancel_abandon_and_retry(api_as, alice, make_export):
    api = api_as(alice)
    queued = make_export(alice)
    cancelled = api.post(f"{EXPORTS}{queued.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == Status.CANCELLED
    # Asked twice, the answer is the same: the export is cancelled.
    assert api.post(f"{EXPORTS}{queued.pk}/cancel/").json()["status"] == Status.CANCELLED

    running = make_export(alice, image_id=seed.SMALL_CENTOS, status=Status.RUNNING)
    too_late = api.post(f"{EXPORTS}{running.pk}/cancel/")
    assert too_late.status_code == 409
    assert problem(too_late)["export_status"] == Status.RUNNING
    no_reason = api.post(f"{EXPORTS}{running.pk}/abandon/", {})
    assert no_reason.status_code == 422
    assert problem(no_reason)["errors"][0]["pointer"] == "#/reason"
    abandoned = api.post(f"{EXPORTS}{running.pk}/abandon/", {"reason": "stuck for an hour"})
    assert abandoned.status_code == 200 and abandoned.json()["status"] == Status.ABANDONED
    event = AuditEvent.objects.get(action=Action.EXPORT_ABANDONED)
    assert event.details["reason"] == "stuck for an hour"

    retried = api.post(f"{EXPORTS}{running.pk}/retry/")
    assert retried.status_code == 201, retried.content
    data = retried.json()
    assert data["retry_of"] == running.pk
    # The abandoned job may still write web-01.qcow2: the page's free name is suggested.
    assert data["file_name"] == "web-01-2.qcow2"
    assert api.post(f"{EXPORTS}{data['id']}/retry/").status_code == 409  # still queued


def test_audit_events_for_auditors_filtered_paged_and_audited(api_as, carol, alice):
    api = api_as(carol)
    api_as(alice).get("/api/v1/images/")  # the token's first use from this address
    response = api.get("/api/v1/audit/events/?action=token.*")
    assert response.status_code == 200
    data = response.json()
    assert data["count"] >= 2 and {e["action"] for e in data["results"]} <= {
        Action.TOKEN_CREATED,
        Action.TOKEN_NEW_ADDRESS,
    }
    one = data["results"][0]
    assert api.get(f"/api/v1/audit/events/{one['id']}/").json()["hash"] == one["hash"]
    searched = AuditEvent.objects.filter(action=Action.AUDIT_SEARCHED).latest("id")
    assert searched.details["filter"] == {"action": "token.*"}
    assert api.get("/api/v1/audit/events/?since=yesterday").status_code == 400


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_the_audit_file_export_is_the_pages_own(api_as, carol, fmt):
    response = api_as(carol).get(f"/api/v1/audit/export.{fmt}?action=token.*")
    assert response.status_code == 200
    assert response["Content-Type"] == exporting.CONTENT_TYPES[fmt]
    text = b"".join(response.streaming_content).decode()
    header, rows = exporting.read(text.splitlines(keepends=True))
    assert header["filter"] == {"action": "token.*"}
    assert {row["action"] for row in rows} == {Action.TOKEN_CREATED, Action.TOKEN_NEW_ADDRESS}
    assert AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED).count() == 1
    assert api_as(carol).get("/api/v1/audit/export.xml").status_code == 404


def test_an_exporter_cannot_read_the_audit_trail_and_the_refusal_is_audited(api_as, alice):
    response = api_as(alice).get("/api/v1/audit/events/")
    assert response.status_code == 403
    assert problem(response)["needed_roles"] == ["auditor"]
    assert AuditEvent.objects.filter(action=Action.NO_ACCESS, actor_id=alice.pk).count() == 1


def test_an_auditor_changes_nothing(api_as, carol):
    response = api_as(carol).post(EXPORTS, body_of())
    assert response.status_code == 403
    assert problem(response)["needed_roles"] == ["exporter"]


def test_anonymous_calls_are_asked_for_a_bearer_token(api_as):
    response = api_as().get(EXPORTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    problem(response)


def test_unknown_api_paths_answer_problem_details(api_as):
    response = api_as().get("/api/v2/exports/")
    assert response.status_code == 404
    assert problem(response)["instance"] == "/api/v2/exports/"


def test_the_schema_and_the_reference_page_are_served(client):
    schema = client.get(reverse("api:schema") + "?format=json")
    assert schema.status_code == 200
    paths = json.loads(schema.content)["paths"]
    assert {"/api/v1/exports/", "/api/v1/exports/{id}/", "/api/v1/images/"} <= set(paths)
    assert "Idempotency-Key" in {p["name"] for p in paths["/api/v1/exports/"]["post"]["parameters"]}
    page = client.get(reverse("api:reference"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "/api/v1/exports/{id}/abandon/" in html
    assert 'id="problem-validation-failed"' in html


def test_the_session_works_with_its_csrf_token(alice):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.get(EXPORTS).status_code == 200
    refused = browser.post(EXPORTS, json.dumps(body_of()), content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in problem(refused)["detail"]
    browser.get(reverse("exports:new"))  # a page sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    sent = browser.post(
        EXPORTS,
        json.dumps(body_of()),
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert sent.status_code == 201, sent.content
    assert AuditEvent.objects.get(action=Action.EXPORT_REQUESTED).details["via"] == (
        "api, signed-in session"
    )
