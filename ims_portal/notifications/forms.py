"""The settings page's forms: which events go by e-mail, and each webhook."""

from __future__ import annotations

from typing import Any

from django import forms

from ims_portal.notifications import targets
from ims_portal.notifications.models import Event


def event_field(help_text: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label="Tell me when",
        choices=[(event.value, event.label) for event in Event.SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=help_text,
    )


class EmailSettingsForm(forms.Form):
    events = event_field("Nothing ticked: no e-mail at all.")


class WebhookForm(forms.Form):
    url = forms.URLField(
        label="Receiver URL",
        max_length=2000,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/ims-portal"}),
    )
    events = event_field("Nothing ticked: the webhook receives only test events.")
    active = forms.BooleanField(label="Active", required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read per form, not at import: where receivers may be is an operator's setting.
        self.fields["url"].help_text = (
            f"An https address {targets.where_receivers_may_be()}; "
            "each POST is signed (see the docs)."
        )

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        try:
            targets.check(url)
        except (targets.RefusedTarget, targets.UnresolvedTarget) as error:
            raise forms.ValidationError(f"This URL cannot receive webhooks: {error}.") from error
        return url

    def changes_from(self, before: dict[str, Any]) -> dict[str, Any]:
        """What this form changes of a webhook, as {field: [old, new]}."""
        return {
            name: [before[name], value]
            for name, value in self.cleaned_data.items()
            if before.get(name) != value
        }
