"""History's filters live in their form: `apply()` narrows any queryset of exports."""

from __future__ import annotations

import pytest

from ims_portal.exports.forms import HistoryFilterForm
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
