"""Under ASGI (the web server), a file streamed from the database stays streamed: Django by
itself reads a synchronous iterator to its end before sending anything there."""

from __future__ import annotations

import warnings

import pytest
import requests
from asgiref.sync import async_to_sync
from django.test import Client
from django.urls import reverse

from ims_portal.audit.models import Action
from ims_portal.audit.trail import SYSTEM, Target, record
from ims_portal.pages import FlatStreamingHttpResponse
from tests.asgi_server import serving_asgi


def test_parts_are_read_as_they_are_sent_not_all_before():
    read: list[int] = []

    def parts():
        for n in range(1000):
            read.append(n)
            yield b"part %d\n" % n

    response = FlatStreamingHttpResponse(parts())

    async def first_two() -> list[bytes]:
        got = []
        async for part in response:
            got.append(part)
            if len(got) == 2:
                break
        return got

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Django's "must consume synchronous iterators"
        assert async_to_sync(first_two)() == [b"part 0\n", b"part 1\n"]
    assert len(read) == 2


@pytest.mark.django_db(transaction=True)
def test_the_audit_csv_export_streams_over_asgi(carol):
    for n in range(30):
        record(SYSTEM, Action.EXPORT_SUBMITTED, Target("export", str(n)), job_id=f"job-{n}")
    client = Client()
    client.force_login(carol)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    with serving_asgi() as url:
        answer = requests.get(
            url + reverse("audit:export", args=["csv"]), cookies=cookies, timeout=30
        )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert all(f"job-{n}" in answer.text for n in range(30))
