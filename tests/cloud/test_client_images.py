"""Listing and fetching images against the simulator, with either kind of credential."""

from __future__ import annotations

import pytest

from ims_portal.cloud import Client, Image, NotFound, RequestRejected
from ims_portal.simulator import seed

from .conftest import ims_requests


def seeded_ids(sim) -> set[str]:
    return {spec.id for spec in (*seed.CURATED, *seed.bulk_specs(sim.settings.bulk_images))}


def test_listing_follows_the_marker_across_every_page(sim, client: Client, mode):
    images = list(client.list_images(limit=100))

    assert {image.id for image in images} == seeded_ids(sim)
    assert len(images) == len(seeded_ids(sim))  # no image twice
    pages = ims_requests(sim, "GET", "/v2/cloudimages")
    assert len(pages) == len(images) // 100 + 1
    assert "marker" not in pages[0]["params"]
    assert all(page["params"]["limit"] == "100" for page in pages)
    assert all(page["auth"] == mode for page in pages)


def test_the_default_page_size_also_reaches_the_end(sim, client: Client):
    assert {image.id for image in client.list_images()} == seeded_ids(sim)


def test_filters_are_sent_as_query_parameters(sim, client: Client):
    images = list(
        client.list_images(**{"__imagetype": "private", "__whole_image": False, "status": "active"})
    )

    assert images
    assert all(image.image_type == "private" and not image.whole_image for image in images)
    assert seed.FULL_ECS not in {image.id for image in images}
    assert seed.GOLD_CENTOS_7 not in {image.id for image in images}
    params = ims_requests(sim, "GET", "/v2/cloudimages")[0]["params"]
    assert params["__imagetype"] == "private"
    assert params["__whole_image"] == "false"


def test_unset_filters_are_left_out(sim, client: Client):
    list(client.list_images(name=None, limit=5, __imagetype="gold"))
    params = ims_requests(sim, "GET", "/v2/cloudimages")[0]["params"]
    assert "name" not in params


def test_a_name_with_spaces_and_symbols_round_trips(sim, client: Client):
    assert list(client.list_images(name="no such image + / & = ü")) == []
    assert ims_requests(sim, "GET")[0]["params"]["name"] == "no such image + / & = ü"


def test_listing_is_lazy(sim, client: Client):
    first = next(iter(client.list_images(limit=10)))
    assert isinstance(first, Image)
    assert len(ims_requests(sim, "GET", "/v2/cloudimages")) == 1


def test_get_image_reads_the_record(client: Client):
    image = client.get_image(seed.ENCRYPTED)

    assert image.id == seed.ENCRYPTED
    assert image.name == "hr-records-encrypted-centos7"
    assert image.encrypted
    assert image.image_type == "private"


def test_get_image_of_an_unknown_id_is_not_found(client: Client):
    with pytest.raises(NotFound) as caught:
        client.get_image("00000000-0000-0000-0000-000000000000")
    assert not caught.value.retryable


def test_a_bad_marker_is_rejected_with_the_ims_code(client: Client):
    with pytest.raises(RequestRejected) as caught:
        list(client.list_images(marker="not-an-image"))
    assert caught.value.code == "IMG.0027"
    assert caught.value.status == 400
