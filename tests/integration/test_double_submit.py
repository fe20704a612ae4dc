"""The same form sent twice in the same instant (a double click, a resent POST): both
answers lead to the one export it made, never a refusal."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from ims_portal.exports.models import Export
from ims_portal.simulator import seed
from tests.portal_fixtures import export_form_data

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("image", [seed.SMALL_CENTOS, seed.SMALL_UBUNTU, seed.SMALL_DEBIAN])
def test_two_identical_posts_at_the_same_instant_both_land_on_the_one_export(cloud, alice, image):
    # Both requests are past the look-up of the form's token when the image check (a GET to
    # the cloud) holds one of them a little longer: the other saves the export meanwhile,
    # and the slower one then finds the image busy with its twin's export.
    cloud.control.fault(latency=0.5, count=1, methods="GET", paths="^/v2/cloudimages$")
    form = export_form_data(image=image, file_name=f"twice-{image[:8]}.qcow2")
    start = threading.Barrier(2)
    answers: list[tuple[int, str]] = []

    def send() -> None:
        browser = Client()
        browser.force_login(alice)
        start.wait()
        try:
            response = browser.post(reverse("exports:new"), form)
            answers.append((response.status_code, response.get("Location", "")))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    export = Export.objects.get()
    assert answers == [(302, export.get_absolute_url())] * 2
    assert str(export.request_token) == form["request_token"]
