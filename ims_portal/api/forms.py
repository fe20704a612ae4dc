"""The form a person makes a personal API token with."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User

from ims_portal.api import tokens
from ims_portal.api.models import ApiToken, Scope


class TokenForm(forms.Form):
    """A name, a scope (export only for someone who may export) and a lifetime in days, at
    most `API_TOKEN_MAX_DAYS`."""

    name = forms.CharField(
        label="Name",
        max_length=ApiToken._meta.get_field("name").max_length,
        help_text="Where the token is used, e.g. “nightly backup script on build-01”.",
        error_messages={"required": "Name the token, so that you can tell it apart later."},
    )
    scope = forms.ChoiceField(label="Scope", widget=forms.RadioSelect)
    days = forms.TypedChoiceField(label="Expires after", coerce=int)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scope = self.fields["scope"]
        assert isinstance(scope, forms.ChoiceField)
        scope.choices = [(s.value, s.label) for s in tokens.scopes_for(user)]
        scope.initial = Scope.READ
        scope.help_text = (
            "Either way, a token never does more than your roles allow."
            if len(scope.choices) > 1
            else "Your roles allow reading only."
        )
        days = self.fields["days"]
        assert isinstance(days, forms.ChoiceField)
        days.choices = [(d, f"{d} days") for d in tokens.lifetime_choices()]
        days.initial = tokens.default_lifetime_days()
        days.help_text = f"At most {tokens.max_lifetime_days()} days."
