"""`Idempotency-Key`: the same key from the same user makes one export, never a second,
also when the requests run at the same time (threads against a live server, PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
import requests

from ims_portal.exports.models import Export
from ims_portal.simulator import seed
from tests.api.conftest import problem

EXPORTS = "/api/v1/exports/"
BODY = {
    "image": seed.SMALL_CENTOS,
    "bucket": "ims-exports",
    "file_name": "idem.qcow2",
    "file_format": "qcow2",
}
CONCURRENT = 6


@pytest.mark.django_db
@pytest.mark.usefixtures("cloud")
def test_the_same_key_returns_the_same_export_and_another_user_gets_their_own(api_as, alice, bob):
    api = api_as(alice)
    first = api.post(EXPORTS, BODY, **{"Idempotency-Key": "nightly-2025-01-01"})
    assert first.status_code == 201
    again = api.post(EXPORTS, BODY, **{"Idempotency-Key": '"nightly-2025-01-01"'})
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Export.objects.count() == 1
    # The key belongs to its user: bob's own request with it is his own (refused here,
    # since alice's export of the image is under way).
    assert (
        api_as(bob).post(EXPORTS, BODY, **{"Idempotency-Key": "nightly-2025-01-01"}).status_code
        == 422
    )
    reused = api.post(
        EXPORTS, {**BODY, "file_name": "other.qcow2"}, **{"Idempotency-Key": "nightly-2025-01-01"}
    )
    assert reused.status_code == 422
    assert problem(reused)["type"].endswith("#problem-idempotency-key-reused")
    assert api.post(EXPORTS, BODY, **{"Idempotency-Key": "x" * 256}).status_code == 400
    assert Export.objects.count() == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_make_one_export(live_server, cloud, alice, token_for):
    secret = token_for(alice)
    barrier = threading.Barrier(CONCURRENT)
    answers: list[tuple[int, int | None]] = []

    def send() -> None:
        with requests.Session() as session:
            barrier.wait()
            response = session.post(
                live_server.url + EXPORTS,
                json=BODY,
                headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "one-at-once"},
                timeout=60,
            )
            answers.append((response.status_code, response.json().get("id")))

    threads = [threading.Thread(target=send) for _ in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Export.objects.count() == 1
    export = Export.objects.get()
    assert sorted(status for status, _ in answers) == [200] * (CONCURRENT - 1) + [201]
    assert {pk for _, pk in answers} == {export.pk}
