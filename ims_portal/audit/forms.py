"""The auditor's filters, validated like every query string (junk answers 400)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from ims_portal.audit.chain import canonical_time
from ims_portal.audit.models import Action, AuditEventQuerySet, Outcome

FAMILIES = {
    "auth": "Sign-in and access",
    "export": "Exports",
    "access": "Denied access",
    "audit": "Audit trail",
    "notify": "Notifications",
    "token": "API tokens",
    "admin": "Admin site",
}


def _action_choices() -> list[tuple[str, Any]]:
    """Actions grouped by family, each group led by 'any action of the family' (`fam.*`)."""
    groups: list[tuple[str, Any]] = [("", "Any action")]
    for family, label in FAMILIES.items():
        members = [(value, name) for value, name in Action.choices if value.startswith(family)]
        groups.append((label, [(f"{family}.*", f"Any: {label.lower()}"), *members]))
    return groups


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class AuditFilterForm(forms.Form):
    """Which events to list or export. Times are UTC; the range is [since, before)."""

    since = forms.DateTimeField(label="From (UTC)", required=False, widget=DateTimeLocalInput())
    before = forms.DateTimeField(label="Before (UTC)", required=False, widget=DateTimeLocalInput())
    actor = forms.CharField(
        label="Actor", max_length=150, required=False, help_text="Username, or 'system'."
    )
    action = forms.ChoiceField(label="Action", choices=_action_choices, required=False)
    outcome = forms.ChoiceField(
        label="Outcome", choices=[("", "Any outcome"), *Outcome.choices], required=False
    )
    image = forms.CharField(
        label="Image", max_length=255, required=False, help_text="Image id or exact name."
    )
    # A bound on what is typed, like the image filter: the trail records any bucket named.
    bucket = forms.CharField(label="Bucket", max_length=255, required=False)
    # Set by links ("every event of this export"), not typed: `<type>:<id>`.
    target = forms.RegexField(
        regex=r"^[a-z_]{1,40}:[\w.:@+-]{1,64}$", required=False, widget=forms.HiddenInput
    )
    q = forms.CharField(label="Search", max_length=200, required=False)
    page = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)

    FILTERS = ("since", "before", "actor", "action", "outcome", "image", "bucket", "target", "q")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        since, before = data.get("since"), data.get("before")
        if since and before and since >= before:
            self.add_error("before", "The end of the range must be after its start.")
        return data

    def described(self) -> dict[str, str]:
        """The filters in use, as plain strings: audited with each search and written at
        the top of each export file, so that it can be repeated and checked."""
        described = {}
        for name in self.FILTERS:
            value = self.cleaned_data.get(name)
            if value:
                described[name] = canonical_time(value) if name in ("since", "before") else value
        return described

    def apply(self, events: AuditEventQuerySet) -> AuditEventQuerySet:
        """Narrow `events` to the filters. Each one has an index (see the model)."""
        data = self.cleaned_data
        if data["since"]:
            events = events.filter(at__gte=data["since"])
        if data["before"]:
            events = events.filter(at__lt=data["before"])
        if data["actor"]:
            events = events.filter(actor_username=data["actor"])
        action = data["action"]
        if action.endswith(".*"):
            events = events.filter(action__startswith=action[:-1])
        elif action:
            events = events.filter(action=action)
        if data["outcome"]:
            events = events.filter(outcome=data["outcome"])
        if data["image"]:
            image = data["image"]
            events = events.filter(Q(details__image_id=image) | Q(details__image_name=image))
        if data["bucket"]:
            events = events.filter(details__bucket=data["bucket"])
        if data["target"]:
            target_type, target_id = data["target"].split(":", 1)
            events = events.for_target(target_type, target_id)
        if data["q"]:
            text = data["q"]
            events = events.alias(d_text=Cast("details", TextField())).filter(
                Q(actor_username__icontains=text)
                | Q(target_label__icontains=text)
                | Q(action__icontains=text)
                | Q(request_id=text)
                | Q(ip=text)
                | Q(d_text__icontains=text)
            )
        return events
