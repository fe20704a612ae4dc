"""The portal's menus render through its own `templates/django/forms/widgets/select.html`,
which writes each option out where Django includes a template per option; the markup is
Django's own, whitespace between tags aside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer

from ims_portal.audit.forms import AuditFilterForm
from ims_portal.exports.forms import HistoryFilterForm

SELECT = "django/forms/widgets/select.html"
BETWEEN_TAGS = re.compile(r">\s+<")


class EveryKindOfMenu(forms.Form):
    """What no portal form has yet: groups, several chosen, attributes, a yes/no menu."""

    kinds = forms.MultipleChoiceField(
        choices=[("Fruit", [("a", "Apple"), ("b", 'Bean & "Berry" <b>')]), ("c", "Cherry")],
        widget=forms.SelectMultiple(attrs={"class": "wide", "disabled": True, "data-x": "1 > 0"}),
    )
    answer = forms.NullBooleanField()
    number = forms.TypedChoiceField(choices=[(1, "One"), (2, "Two")], coerce=int)


def tidy(html: str) -> str:
    return BETWEEN_TAGS.sub("><", html).strip()


def menus_of(form: forms.Form) -> dict[str, str]:
    return {
        name: tidy(str(form[name]))
        for name, field in form.fields.items()
        if isinstance(field.widget, forms.Select)
    }


def test_the_portal_renders_forms_with_its_own_menu_template():
    # The renderer the settings choose, which every form of the portal gets.
    origin = get_default_renderer().get_template(SELECT).template.origin.name
    assert Path(origin).is_relative_to(Path(__file__).resolve().parents[1] / "templates"), origin


@pytest.mark.parametrize(
    ("form_class", "data", "options"),
    [
        (HistoryFilterForm, {"status": "failed", "user": "alice"}, {"by_user": True}),
        (HistoryFilterForm, {"user": "nobody"}, {"by_user": True}),
        (HistoryFilterForm, {}, {"by_user": True}),
        (AuditFilterForm, {"action": "export.*", "outcome": "denied"}, {}),
        (EveryKindOfMenu, {"kinds": ["b", "c"], "answer": "true", "number": "2"}, {}),
        (EveryKindOfMenu, {}, {}),
    ],
)
def test_each_menu_is_the_markup_djangos_own_templates_write(
    form_class, data, options, alice, bob, make_export
):
    make_export(alice, image_name="web")
    make_export(bob, image_name="db")
    ours = menus_of(form_class(data, **options))
    djangos = menus_of(form_class(data, renderer=DjangoTemplates(), **options))
    assert ours and ours == djangos
