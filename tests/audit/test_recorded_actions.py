"""Every audited action leaves exactly one event, with the expected fields."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse

from ims_portal.accounts import signals
from ims_portal.audit.models import Action, AuditEvent, Outcome
from ims_portal.exports.models import Export, Status
from ims_portal.simulator import seed
from tests.audit.conftest import BROWSER
from tests.audit.helpers import only
from tests.portal_fixtures import export_form_data

pytestmark = pytest.mark.django_db


def assert_from_the_browser(event: AuditEvent, response) -> None:
    assert event.ip == BROWSER["REMOTE_ADDR"]
    assert event.user_agent == BROWSER["HTTP_USER_AGENT"]
    assert event.request_id == response["X-Request-Id"]


# --- Sign-in, sign-out, roles ---------------------------------------------------------------


def test_a_sign_in_is_recorded_with_the_users_role_and_origin(browser_client, alice):
    response = browser_client.post(
        reverse("accounts:login"), {"username": "alice", "password": "pw-alice"}
    )
    assert response.status_code == 302
    event = only(Action.SIGN_IN)
    assert (event.actor_id, event.actor_username, event.actor_roles) == (
        alice.pk,
        "alice",
        "exporter",
    )
    assert (event.target_type, event.target_id) == ("user", str(alice.pk))
    assert event.outcome == Outcome.SUCCESS
    assert event.details == {"backend": "DevelopmentBackend"}
    assert_from_the_browser(event, response)


def test_a_failed_sign_in_names_the_account_but_never_the_password(browser_client, alice):
    response = browser_client.post(
        reverse("accounts:login"), {"username": "alice", "password": "wrong-horse"}
    )
    assert response.status_code == 200
    event = only(Action.SIGN_IN_FAILED)
    assert event.actor_id is None and event.actor_username == ""
    assert (event.target_type, event.target_id, event.target_label) == (
        "user",
        str(alice.pk),
        "alice",
    )
    assert event.outcome == Outcome.FAILURE
    assert event.details == {"known_account": True}
    assert_from_the_browser(event, response)
    assert "wrong-horse" not in str(AuditEvent.objects.values_list())


def test_a_failed_sign_in_with_no_such_account_does_not_keep_what_was_typed(browser_client):
    # People type their password into the username field.
    browser_client.post(reverse("accounts:login"), {"username": "s3cret!pw", "password": "x"})
    event = only(Action.SIGN_IN_FAILED)
    assert (event.target_type, event.target_label) == ("", "")
    assert event.details == {"known_account": False}
    assert "s3cret!pw" not in str(AuditEvent.objects.values_list())


def test_a_sign_out_is_recorded(as_alice, alice):
    response = as_alice.post(reverse("accounts:logout"))
    assert response.status_code == 302
    event = only(Action.SIGN_OUT)
    assert (event.actor_id, event.target_id) == (alice.pk, str(alice.pk))
    assert_from_the_browser(event, response)


def test_a_superusers_sign_in_to_the_admin_site_is_its_own_action(
    browser_client, django_user_model
):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-1")
    response = browser_client.post(
        reverse("admin:login"), {"username": "root", "password": "pw-root-1", "next": "/admin/"}
    )
    assert response.status_code == 302
    event = only(Action.SUPERUSER_SIGN_IN)
    assert (event.actor_id, event.actor_roles) == (root.pk, "superuser")
    assert not AuditEvent.objects.filter(action=Action.SIGN_IN).exists()
    assert_from_the_browser(event, response)


def test_roles_changed_at_sign_in_are_recorded_with_before_and_after(alice):
    request = RequestFactory().get("/accounts/sso/callback/")
    signals.roles_changed.send(
        sender=None,
        request=request,
        user=alice,
        before=frozenset({"auditor"}),
        after=frozenset({"exporter"}),
    )
    event = only(Action.ROLES_CHANGED)
    assert (event.actor_id, event.target_id) == (alice.pk, str(alice.pk))
    assert event.details == {
        "before": ["auditor"],
        "after": ["exporter"],
        "added": ["exporter"],
        "removed": ["auditor"],
    }


def test_a_refused_sso_sign_in_is_recorded_with_its_reason(alice):
    request = RequestFactory().get("/accounts/sso/callback/")
    signals.sign_in_refused.send(
        sender=None, request=request, reason="token_invalid", username="alice"
    )
    signals.sign_in_refused.send(sender=None, request=request, reason="state_mismatch", username="")
    named = only(Action.SIGN_IN_REFUSED, details__reason="token_invalid")
    assert (named.target_type, named.target_id, named.outcome) == ("user", str(alice.pk), "denied")
    assert named.details == {"reason": "token_invalid", "username": "alice"}
    unnamed = only(Action.SIGN_IN_REFUSED, details__reason="state_mismatch")
    assert unnamed.target_type == "" and unnamed.actor_id is None


def test_a_page_refused_for_want_of_a_role_is_recorded(as_alice, alice):
    response = as_alice.get(reverse("audit:events"))
    assert response.status_code == 403
    event = only(Action.NO_ACCESS)
    assert (event.actor_id, event.outcome) == (alice.pk, Outcome.DENIED)
    assert (event.target_type, event.target_id, event.target_label) == (
        "page",
        "audit:events",
        "/audit/",
    )
    assert event.details == {"needed_roles": ["auditor"], "method": "GET", "path": "/audit/"}
    assert_from_the_browser(event, response)


# --- Exports --------------------------------------------------------------------------------


def test_an_export_request_is_recorded_in_the_same_transaction_as_the_export(
    as_alice, alice, cloud, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        response = as_alice.post(
            reverse("exports:new"), export_form_data(quick="", file_format="vmdk")
        )
    export = Export.objects.get()
    event = only(Action.EXPORT_REQUESTED)
    assert (event.actor_id, event.actor_roles) == (alice.pk, "exporter")
    assert (event.target_type, event.target_id, event.target_label) == (
        "export",
        str(export.pk),
        str(export),
    )
    assert event.details == {
        "image_id": seed.SMALL_CENTOS,
        "image_name": export.image_name,
        "bucket": "ims-exports",
        "object_name": "web.qcow2",
        "bucket_url": "ims-exports:web.qcow2",
        "file_format": "vmdk",
        "fast_export": False,
        # What OBS showed of the destination when the export was asked for.
        "preflight": {
            "bucket-visible": "passed",
            "storage-class": "passed",
            "region": "passed",
            "object-absent": "passed",
        },
    }
    assert_from_the_browser(event, response)


def test_an_export_refused_by_validation_is_recorded_with_the_field_errors(as_alice, alice, cloud):
    response = as_alice.post(
        reverse("exports:new"), export_form_data(bucket="Bad_Bucket", file_format="")
    )
    assert response.status_code == 422
    event = only(Action.EXPORT_INVALID)
    assert (event.actor_id, event.outcome) == (alice.pk, Outcome.FAILURE)
    assert (event.target_type, event.target_id) == ("image", seed.SMALL_CENTOS)
    assert event.details["bucket"] == "Bad_Bucket"
    assert event.details["image_id"] == seed.SMALL_CENTOS
    assert set(event.details["errors"]) == {"bucket", "file_format"}
    assert "lowercase" in event.details["errors"]["bucket"][0]
    assert not Export.objects.exists()
    assert_from_the_browser(event, response)


def test_each_status_change_by_a_worker_is_one_system_event(alice, make_export):
    export = make_export(alice)
    export.transition(Status.SUBMITTING, submit_attempts=1)
    export.transition(Status.SUBMITTED, job_id="job-42")
    export.transition(Status.RUNNING)
    export.transition(Status.SUCCEEDED, progress=1.0)

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == [
        Action.EXPORT_SUBMITTING,
        Action.EXPORT_SUBMITTED,
        Action.EXPORT_RUNNING,
        Action.EXPORT_SUCCEEDED,
    ]
    for event in events:
        assert (event.actor_id, event.actor_username, event.outcome) == (None, "system", "success")
        assert event.target_id == str(export.pk)
        assert event.details["image_id"] == export.image_id
    assert [(e.details["from_status"], e.details["to_status"]) for e in events] == [
        ("queued", "submitting"),
        ("submitting", "submitted"),
        ("submitted", "running"),
        ("running", "succeeded"),
    ]
    assert events[1].details["job_id"] == "job-42"
    assert events[3].details["job_id"] == "job-42"


@pytest.mark.parametrize(
    ("to", "changes", "action", "outcome"),
    [
        (Status.REJECTED, {"error_code": "IMG.0070"}, Action.EXPORT_REJECTED, Outcome.FAILURE),
        (Status.UNKNOWN, {"error_message": "timeout"}, Action.EXPORT_UNKNOWN, Outcome.UNKNOWN),
        (Status.FAILED, {"error_code": "IMS.0001"}, Action.EXPORT_FAILED, Outcome.FAILURE),
        (Status.QUEUED, {"error_code": "APIGW.0308"}, Action.EXPORT_REQUEUED, Outcome.FAILURE),
    ],
)
def test_an_export_that_goes_wrong_records_the_error(
    alice, make_export, to, changes, action, outcome
):
    export = make_export(alice, status=Status.SUBMITTING)
    export.transition(to, **changes)
    event = only(action)
    assert event.outcome == outcome
    assert changes.items() <= event.details.items()


def test_a_cancel_is_recorded_with_the_exporter_as_actor(as_alice, alice, make_export):
    export = make_export(alice)
    response = as_alice.post(reverse("exports:cancel", args=[export.pk]))
    event = only(Action.EXPORT_CANCELLED)
    assert (event.actor_id, event.actor_username, event.outcome) == (alice.pk, "alice", "success")
    assert event.details["from_status"] == "queued"
    assert_from_the_browser(event, response)


@pytest.mark.parametrize(
    ("method", "name"),
    [("get", "exports:detail"), ("get", "exports:status"), ("post", "exports:cancel")],
)
def test_reaching_for_someone_elses_export_is_a_404_and_an_access_denied_event(
    as_alice, alice, bob, make_export, method, name
):
    theirs = make_export(bob, image_name="db-07", bucket="bob-bucket")
    url = reverse(name, args=[theirs.pk])
    response = getattr(as_alice, method)(url)
    assert response.status_code == 404
    event = only(Action.ACCESS_DENIED)
    assert (event.actor_id, event.outcome) == (alice.pk, Outcome.DENIED)
    assert (event.target_type, event.target_id) == ("export", str(theirs.pk))
    assert event.details["method"] == method.upper() and event.details["path"] == url
    assert (event.details["image_name"], event.details["bucket"]) == ("db-07", "bob-bucket")
    assert_from_the_browser(event, response)
    assert Export.objects.get(pk=theirs.pk).status == Status.QUEUED


def test_a_missing_export_or_an_auditors_read_is_no_access_denial(
    as_alice, carol, client, make_export, alice
):
    assert as_alice.get(reverse("exports:detail", args=[999999])).status_code == 404
    client.force_login(carol)
    assert client.get(reverse("exports:detail", args=[make_export(alice).pk])).status_code == 200
    assert not AuditEvent.objects.filter(action=Action.ACCESS_DENIED).exists()


# --- Admin site -----------------------------------------------------------------------------


@pytest.fixture
def as_root(browser_client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-1")
    browser_client.force_login(root)
    return browser_client


def test_each_admin_site_change_is_one_event(as_root):
    response = as_root.post(reverse("admin:auth_group_add"), {"name": "ops"})
    assert response.status_code == 302
    group = Group.objects.get(name="ops")
    added = only(Action.ADMIN_ADDED)
    assert (added.actor_username, added.actor_roles) == ("root", "superuser")
    assert (added.target_type, added.target_id, added.target_label) == (
        "group",
        str(group.pk),
        "ops",
    )
    assert added.details == {"app_label": "auth", "message": "Added."}
    assert_from_the_browser(added, response)

    as_root.post(reverse("admin:auth_group_change", args=[group.pk]), {"name": "ops-team"})
    changed = only(Action.ADMIN_CHANGED)
    assert changed.details["message"] == "Changed Name."


def test_deleting_several_rows_in_the_admin_site_records_each_one(as_root):
    groups = [Group.objects.create(name=f"temp-{n}") for n in range(3)]
    response = as_root.post(
        reverse("admin:auth_group_changelist"),
        {"action": "delete_selected", "_selected_action": [g.pk for g in groups], "post": "yes"},
    )
    assert response.status_code == 302
    deleted = AuditEvent.objects.filter(action=Action.ADMIN_DELETED)
    assert sorted(deleted.values_list("target_label", flat=True)) == ["temp-0", "temp-1", "temp-2"]
