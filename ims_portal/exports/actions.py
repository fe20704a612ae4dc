"""What a person asks of exports, whichever way they ask: the new-export page and the REST
API both come through here, so a request is validated, saved, audited and refused alike.

- `request_export`: a filled-in `ExportForm` becomes a queued export (or its refusal),
  with the form's request token making a repeated request land on the first export.
- `stop_following`: abandon an export whose POST may have reached the cloud.
- `cancel`: cancel an export that is still queued.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.html import strip_tags

from ims_portal.audit.models import Action, Outcome
from ims_portal.audit.trail import Target, record
from ims_portal.exports import push
from ims_portal.exports.forms import ExportForm
from ims_portal.exports.models import Export, Status, TransitionConflict
from ims_portal.exports.tasks import enqueue_submit

REFUSAL_VALUE_MAX = 1100  # characters of a refused form's values kept in the trail
ABANDON_ATTEMPTS = 3  # the export may move on (running → unknown) while the person decides


@dataclass(frozen=True, slots=True)
class Requested:
    """What became of a request for an export: the export (`created` false when the request
    repeated one already made), or the form with its errors."""

    form: ExportForm
    export: Export | None = None
    created: bool = False

    @property
    def cloud_unreachable(self) -> bool:
        return self.form.cloud_unreachable


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def export_for_token(user: User, token: str) -> Export | None:
    """The user's export made by the request with this request token, if any."""
    if not is_uuid(token):
        return None
    return Export.objects.filter(owner=user, request_token=token).first()


def request_export(
    user: User, form: ExportForm, *, retry_of: Export | None = None, **audited: Any
) -> Requested:
    """Validate `form` (bound, with a UUID `request_token`) and save the export it asks for,
    submitted once the transaction commits; or audit its refusal with every field's error.

    A request whose token already made an export returns that export, also when the two
    ran at once: the database's one-export-per-token constraint lets one insert win, and
    the loser finds the winner's export (before validating, after losing the insert, and
    after a refusal that the winner itself caused, such as "this image is being exported").
    `audited` facts go into the request's (or the refusal's) audit event.
    """
    token = str(form.data.get("request_token", ""))
    existing = export_for_token(user, token)
    if existing is not None:
        return Requested(form, existing)
    if form.is_valid():
        export, created = _create(user, form, retry_of=retry_of, audited=audited)
        if export is not None:
            return Requested(form, export, created=created)
    existing = export_for_token(user, token)
    if existing is not None:
        return Requested(form, existing)
    record_refusal(user, form, **audited)
    return Requested(form)


def record_refusal(user: User, form: ExportForm, **audited: Any) -> None:
    """Audit an export the rules refused: what was asked, and every field's errors."""
    image_id = str(form.data.get("image", ""))[:64]
    image_name = form.image_record.name if form.image_record else ""

    def typed(name: str) -> str:
        return str(form.data.get(name, ""))[:REFUSAL_VALUE_MAX]

    record(
        user,
        Action.EXPORT_INVALID,
        Target("image", image_id, image_name or image_id),
        outcome=Outcome.FAILURE,
        image_id=image_id,
        image_name=image_name,
        bucket=typed("bucket").strip(),
        object_name=typed("file_name"),
        file_format=typed("file_format"),
        fast_export=bool(form.data.get("quick")),
        cloud_unreachable=form.cloud_unreachable,
        preflight=form.preflight.audit_facts() if form.preflight else {},
        errors={
            field: [strip_tags(str(message)) for message in messages]
            for field, messages in form.errors.items()
        },
        **audited,
    )


def _create(
    user: User, form: ExportForm, *, retry_of: Export | None, audited: dict[str, Any]
) -> tuple[Export | None, bool]:
    """The export the valid `form` asks for, and whether this call made it (False: a
    request with the same token won the race)."""
    image = form.image_record
    assert image is not None  # a valid form has read its image
    data = form.cleaned_data
    try:
        with transaction.atomic():
            export = Export.objects.create(
                owner=user,
                request_token=data["request_token"],
                image_id=image.id,
                image_name=image.name,
                image_size=image.size_bytes,
                bucket=data["bucket"],
                object_name=data["file_name"],
                file_format="" if data["quick"] else data["file_format"],
                quick=data["quick"],
                retry_of=retry_of,
            )
            retry: dict[str, Any] = {"retry_of": retry_of.pk} if retry_of else {}
            # What OBS showed of the destination when it was asked for: evidence, should
            # IMS refuse it later.
            checked: dict[str, Any] = (
                {"preflight": form.preflight.audit_facts()} if form.preflight else {}
            )
            record(
                user,
                Action.EXPORT_REQUESTED,
                export,
                **export.audit_facts(),
                **retry,
                **checked,
                **audited,
            )
            enqueue_submit(export)
            push.on_export_created(export)
    except IntegrityError:
        # Lost a race: the same request sent twice at once, or another export of this
        # image started between the check and the insert.
        existing = export_for_token(user, str(data["request_token"]))
        if existing is not None:
            return existing, False
        busy = Export.objects.in_flight().filter(image_id=image.id).first()
        if busy is not None:
            form.add_error("image", form.in_flight_message(busy))
        else:
            form.add_error(None, "The export could not be saved; please try again.")
        return None, False
    return export, True


def stop_following(export: Export, user: User, reason: str) -> None:
    """Abandon `export` ("Stop following"), recording `reason`, if it still may be.

    IMS has no call that stops an export job, so this only ends the portal's part: the
    export becomes `abandoned`, is no longer polled and frees its image. A worker may move
    the export meanwhile (running → unknown); it is then abandoned as it is now, if that
    still makes sense.
    """
    for _ in range(ABANDON_ATTEMPTS):
        if not export.can_abandon:
            return
        try:
            export.transition(Status.ABANDONED, actor=user, reason=reason)
            return
        except TransitionConflict:
            export.refresh_from_db()


def cancel(export: Export, user: User) -> None:
    """Cancel a queued export (nothing of it has reached the cloud yet), if it still is."""
    if export.can_cancel:
        # The worker may claim it first; the export then shows where it went.
        with contextlib.suppress(TransitionConflict):
            export.transition(Status.CANCELLED, actor=user)
