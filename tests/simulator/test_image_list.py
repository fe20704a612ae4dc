"""GET /v2/cloudimages: fields, filters, sorting and marker pagination."""

from __future__ import annotations

from ims_portal.simulator import seed


def test_the_default_page_holds_500_images_and_the_marker_gives_the_rest(ims):
    first = ims.images()
    rest = ims.images(marker=first[-1]["id"])

    assert len(first) == 500
    assert 0 < len(rest) < 500
    assert not {image["id"] for image in first} & {image["id"] for image in rest}


def test_paging_with_a_small_limit_visits_every_image_once_in_a_stable_order(ims):
    everything = ims.images(limit=1000)
    seen, marker = [], None
    while True:
        params = {"limit": 97, "__imagetype": "private"}
        if marker:
            params["marker"] = marker
        page = ims.images(**params)
        seen.extend(image["id"] for image in page)
        if len(page) < 97:
            break
        marker = page[-1]["id"]

    private = [image["id"] for image in everything if image["__imagetype"] == "private"]
    assert seen == private
    assert len(seen) == len(set(seen)) > 500


def test_images_come_newest_first_by_default(ims):
    created = [image["created_at"] for image in ims.images(limit=50)]

    assert created == sorted(created, reverse=True)


def test_sort_key_and_sort_dir_are_honoured(ims):
    names = [image["name"] for image in ims.images(sort_key="name", sort_dir="asc", limit=40)]

    assert names == sorted(names)


def test_an_image_has_the_documented_fields(ims):
    (image,) = ims.images(id=seed.SMALL_CENTOS)

    assert image["name"] == "web-frontend-centos7-2025-01"
    assert image["status"] == "active"
    assert image["visibility"] == "private"
    assert image["__imagetype"] == "private"
    assert image["__image_size"] == str(6 * 1024**3)
    assert image["__whole_image"] is False
    assert image["__os_type"] == "Linux"
    assert image["__platform"] == "CentOS"
    assert image["__os_version"] == "CentOS 7.9 64bit"
    assert image["__originalimagename"] == seed.GOLD_CENTOS_7
    assert image["__image_source_type"] == "uds"
    assert image["virtual_env_type"] == "FusionCompute"
    assert image["disk_format"] == "zvhd2"
    assert image["min_disk"] == 40
    assert image["created_at"].endswith("Z")
    assert image["updated_at"].endswith("Z")
    assert "__system__cmkid" not in image


def test_special_images_carry_what_marks_them(ims):
    (iso,) = ims.images(id=seed.ISO)
    (encrypted,) = ims.images(id=seed.ENCRYPTED)
    (full_ecs,) = ims.images(id=seed.FULL_ECS)

    assert iso["virtual_env_type"] == "IsoImage"
    assert encrypted["__system__cmkid"]
    assert full_ecs["__whole_image"] is True


def test_filtering_by_image_type_separates_public_from_private(ims):
    gold = ims.images(__imagetype="gold")

    assert {image["visibility"] for image in gold} == {"public"}
    assert seed.GOLD_WINDOWS_2019 in {image["id"] for image in gold}
    assert seed.SMALL_CENTOS not in {image["id"] for image in gold}


def test_filtering_by_name_is_an_exact_match(ims):
    assert [i["id"] for i in ims.images(name="rescue-toolkit-iso")] == [seed.ISO]
    assert ims.images(name="rescue-toolkit") == []


def test_filtering_by_whole_image_finds_the_full_ecs_image(ims):
    assert [image["id"] for image in ims.images(__whole_image="true")] == [seed.FULL_ECS]


def test_filtering_by_status_keeps_active_images(ims):
    assert len(ims.images(status="active", limit=1000)) == len(ims.images(limit=1000))
    assert ims.images(status="queued") == []


def test_an_unknown_marker_is_refused(ims):
    response = ims.get("/v2/cloudimages", marker="00000000-0000-0000-0000-000000000000")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "IMG.0027"


def test_a_limit_that_is_not_a_number_is_refused(ims):
    response = ims.get("/v2/cloudimages", limit="lots")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "IMG.0001"
