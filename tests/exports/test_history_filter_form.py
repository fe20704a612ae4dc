"""History's filters live in their form: `apply()` narrows any queryset of exports."""

from __future__ import annotations

import pytest

from ims_portal.exports.forms import SEARCH_MIN_CHARS, HistoryFilterForm
from ims_portal.exports.models import Export, Status

pytestmark = pytest.mark.django_db


def applied(data: dict[str, str], **kwargs) -> set[str]:
    form = HistoryFilterForm(data, **kwargs)
    assert form.is_valid(), form.errors
    return set(form.apply(Export.objects.all()).values_list("image_name", flat=True))


def test_in_flight_means_every_status_still_in_flight(alice, make_export):
    for status in Status:
        make_export(alice, image_name=status.value, status=status)
    assert applied({"status": HistoryFilterForm.IN_FLIGHT}) == {s.value for s in Status.IN_FLIGHT}
    assert applied({"status": Status.REJECTED}) == {Status.REJECTED.value}
    assert applied({}) == set(Status.values)


def test_text_matches_image_bucket_or_object_and_user_narrows_to_one_owner(alice, bob, make_export):
    make_export(alice, image_name="web", bucket="b-one", object_name="x.qcow2")
    make_export(bob, image_name="db", bucket="b-two", object_name="backup/db.vmdk")
    assert applied({"q": "WEB"}) == {"web"}
    assert applied({"q": "b-two"}) == {"db"}
    assert applied({"q": "backup/"}) == {"db"}
    assert applied({"user": "alice"}, by_user=True) == {"web"}


def test_a_search_needs_as_many_letters_or_digits_as_the_threshold(alice, make_export):
    enough = "é" * SEARCH_MIN_CHARS  # letters beyond ASCII count, as the trigram indexes count them
    make_export(alice, image_name=f"web-{enough}", bucket="ab-cd-ef", object_name="x/é.raw")
    make_export(alice, image_name="db-01", bucket="ab-cd-ef", object_name="x/é.raw")
    assert applied({"q": enough}) == {f"web-{enough}"}
    assert applied({"q": "db-01"}) == {"db-01"}  # a short name, found with its edges
    short = "a" * (SEARCH_MIN_CHARS - 1)
    for text in [short, "-".join(short), f"/{short}/", "_" * SEARCH_MIN_CHARS * 2, "-- --"]:
        form = HistoryFilterForm({"q": text, "status": Status.QUEUED})
        assert not form.is_valid() and form.refuses_only_the_search(), text
        (message,) = form.errors["q"]
        assert f"at least {SEARCH_MIN_CHARS} letters or digits" in message
        # The other filters still apply, without the search.
        names = set(form.apply(Export.objects.all()).values_list("image_name", flat=True))
        assert names == {f"web-{enough}", "db-01"}
    help_text = str(HistoryFilterForm().fields["q"].help_text)
    assert f"{SEARCH_MIN_CHARS} letters or digits" in help_text


def test_a_refused_search_with_another_junk_filter_is_not_only_the_search():
    form = HistoryFilterForm({"q": "ab", "status": "no-such-status"})
    assert not form.is_valid() and not form.refuses_only_the_search()
