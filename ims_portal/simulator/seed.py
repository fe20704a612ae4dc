"""The images, buckets and objects the simulator starts with (and returns to on reset).

Buckets: Standard ones in the simulator's region (`ims-exports`, `image-backups`,
`vm-migration-staging`), Infrequent Access (`warm-class-bucket`) and Archive
(`archive-class-bucket`, `compliance-archive`) ones there, Standard ones in another region
(`other-region-bucket`, `dr-replica-images`), one the account owns but may not open
(`finance-restricted`: listed, 403), one of another account (`partner-shared-images`: not
listed, 403), and `no-such-bucket`, which does not exist (404).

The curated images are chosen so that every export rule has an image that trips it, and a
handful of ordinary images that export fine. Their ids are fixed so that tests, demos and
bug reports can name them. On top come generated "bulk" images (older CI snapshots) so that
the image list needs more than one page at the documented default page size of 500.

Each curated image's id is available as a module constant named after the role it plays
(`SMALL_CENTOS`, `FULL_ECS`, ...), which keeps tests readable.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ims_portal.simulator.buckets import (
    COLD,
    STANDARD,
    WARM,
    BucketRecord,
    StoredObject,
    multipart_etag,
    parse_iso,
)
from ims_portal.simulator.defaults import PROJECT_ID

GIB = 1024**3

# The owner of public images: the cloud operator's own project, not the tenant's.
PUBLIC_OWNER = "5a9cc6e43ce7abcf3308ebca7506a161"
# Generated ids (bulk images, source servers, keys) are derived from this, so they are
# stable from one run to the next without being written out one by one.
_NAMESPACE = uuid.UUID("9732ff66-7cff-4b11-8214-056bc89b2263")

# --- Public (gold) images: never exportable, but private images point at them as parents --
GOLD_CENTOS_7 = "6b2b5355-4fdc-4e91-8169-ee008d53d02d"
GOLD_UBUNTU_2204 = "fc834435-38fa-43a5-96e5-6ba81cd55983"
GOLD_WINDOWS_2019 = "11c7feb3-3f75-4953-834b-8f18fe789b1b"
GOLD_SLES_15 = "a7db46ba-1205-42f1-b18c-d74a3890ae47"
GOLD_DEBIAN_12 = "f1e9e01d-61a3-4220-9962-dac0324fc85e"
GOLD_EULEROS_29 = "eda8ba55-7157-4bbb-9ab7-ecd550fa144b"
GOLD_FEDORA_39 = "b5d47ca4-2e68-423f-b68b-840f00c3e4ac"
GOLD_ORACLE_8 = "8a2eb5b3-8eae-47e1-9ac7-48bcd2284458"
GOLD_RHEL_8 = "b4d15089-7683-43d4-9e45-0f1968999295"
GOLD_CENTOS_STREAM_9 = "7310dece-a3dd-4c6b-9ac8-944b5c1b28a1"

# --- Private images that export fine -----------------------------------------------------
SMALL_CENTOS = "2da03466-00cd-4bc9-a078-c4cd29273921"
SMALL_UBUNTU = "b4559a82-af44-4bc8-b3df-e28adc675a52"
SMALL_DEBIAN = "cf85b940-e397-47a1-af6e-46f2c2a0b7e4"
SMALL_EULEROS = "e6278613-4b5e-4798-9672-7cda6fd3c0c3"
SMALL_FEDORA = "1612717f-9aa0-4425-9d35-67b575ab6599"
SMALL_ORACLE = "e7546701-ba2f-4af7-9a81-b38b62ba72b3"
SMALL_RHEL = "311fd785-555f-4cb9-93eb-ea981c3c859a"
SMALL_CENTOS_STREAM = "e3cafa1a-f70d-4069-9de2-bdef956d2e62"
DATA_DISK = "5043d38e-b59c-4601-a28e-3f982bda7321"
JUST_UNDER_128G = "a7ce1a96-2c73-41bf-996d-339575dc22ab"
ENCRYPTED = "6a740684-8952-42f3-a941-8d90644c6721"

# --- Private images that only fast export accepts ------------------------------------------
EXACTLY_128G = "ac9084b0-4e8b-42c5-961e-1a40a8455868"
LARGE_200G = "38b0de88-7754-49ec-9998-37d2d538a47e"

# --- Private images that can never be exported -----------------------------------------------
HUGE_1500G = "d1d0f018-b05c-4f14-8be6-d12d8ade4088"
FULL_ECS = "33643e57-f68f-45e9-b5f7-5585427d2ab7"
ISO = "ab2fb80c-b99f-4393-bd06-2b1a55ba09cb"
WINDOWS_DERIVED = "ebdebf29-1c62-402c-91e8-f3d3f6df05d2"
SUSE_DERIVED = "f9414e0a-e3d5-4af5-aa66-fc81e7e66d74"

# --- A private image whose export is accepted but then fails -------------------------------
FAILS_DURING_EXPORT = "4e14aad8-6b60-40b2-98ad-2ed4629a1b36"

# Why the failing image's job ends in FAIL: (error_code, fail_reason). The reason is held
# here, not in the image, because nothing in the listing tells the two apart in real life.
FAILING_EXPORTS: dict[str, tuple[str, str]] = {
    FAILS_DURING_EXPORT: (
        "IMG.0014",
        "Reading the source volume failed halfway: a snapshot backing the image is damaged.",
    ),
}

# --- OBS buckets -----------------------------------------------------------------------------
# The account's buckets, for a realistic picker, and every reason a bucket cannot take an
# export. `None` as a region stands for the simulator's own region, OTHER for another one
# (eu-nl beside eu-de), so the seed fits whatever region the simulator is started in.
OTHER = "other"
NO_SUCH_BUCKET = "no-such-bucket"  # never seeded: OBS answers 404, IMS IMG.0069


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """One seeded bucket; see `buckets.BucketRecord` for the fields."""

    name: str
    region: str | None = None
    storage_class: str = STANDARD
    created: str = "2024-01-15T09:00:00Z"
    listed: bool = True
    accessible: bool = True


BUCKETS: tuple[BucketSpec, ...] = (
    # Standard, in the images' region: where exports go.
    BucketSpec("ims-exports", created="2023-11-02T08:14:51Z"),
    BucketSpec("image-backups", created="2024-02-19T13:40:07Z"),
    BucketSpec("vm-migration-staging", created="2024-09-03T07:55:30Z"),
    # In the region, but not Standard.
    BucketSpec("warm-class-bucket", storage_class=WARM, created="2024-03-11T10:21:44Z"),
    BucketSpec("archive-class-bucket", storage_class=COLD, created="2023-06-27T16:02:13Z"),
    BucketSpec("compliance-archive", storage_class=COLD, created="2022-12-01T12:00:00Z"),
    # Standard, in another region.
    BucketSpec("other-region-bucket", region=OTHER, created="2024-05-06T09:30:00Z"),
    BucketSpec("dr-replica-images", region=OTHER, created="2024-07-22T18:45:12Z"),
    # Listed (the account owns it), but a bucket policy closes it to the portal's user.
    BucketSpec("finance-restricted", created="2023-09-14T11:11:11Z", accessible=False),
    # Another account's bucket: not listed, and closed.
    BucketSpec("partner-shared-images", listed=False, accessible=False),
)

# Objects already in buckets, so that "the file already exists" can be tried.
EXISTING_OBJECTS: dict[str, tuple[str, ...]] = {
    "ims-exports": ("existing.qcow2", "web-frontend-2024-01.qcow2"),
}
EXISTING_OBJECT_SIZE = int(6.4 * GIB)  # roughly a small image's qcow2
EXISTING_OBJECT_TIME = "2025-01-20T14:03:27Z"


def other_region(region: str) -> str:
    """A second region of the same cloud, for buckets that are elsewhere."""
    return "eu-de" if region == "eu-nl" else "eu-nl"


def seed_buckets(region: str) -> list[BucketRecord]:
    """The seeded buckets, placed relative to the simulator's `region`."""
    records = []
    for spec in BUCKETS:
        where = region if spec.region is None else other_region(region)
        if spec.region not in (None, OTHER):
            where = spec.region
        records.append(
            BucketRecord(
                name=spec.name,
                region=where,
                storage_class=spec.storage_class,
                created=parse_iso(spec.created),
                listed=spec.listed,
                accessible=spec.accessible,
            )
        )
    return records


def seed_objects() -> dict[str, dict[str, StoredObject]]:
    """The objects the seeded buckets start with."""
    when = parse_iso(EXISTING_OBJECT_TIME)
    return {
        bucket: {
            key: StoredObject(
                size=EXISTING_OBJECT_SIZE,
                etag=multipart_etag(f"{bucket}/{key}", EXISTING_OBJECT_SIZE),
                last_modified=when,
            )
            for key in keys
        }
        for bucket, keys in EXISTING_OBJECTS.items()
    }


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """The few facts that make one seeded image different from another."""

    id: str
    name: str
    created: str  # ISO 8601 UTC, e.g. "2024-05-01T10:00:00Z"
    size_gib: float
    platform: str
    os_version: str
    os_type: str = "Linux"
    image_type: str = "private"  # "gold" for public images
    parent: str = ""  # __originalimagename: the public image this one was made from
    whole_image: bool = False
    env_type: str = "FusionCompute"  # DataImage, IsoImage, ...
    disk_format: str = "zvhd2"
    encrypted: bool = False
    description: str = ""


CURATED: tuple[ImageSpec, ...] = (
    # Public images, as the cloud operator publishes them.
    ImageSpec(GOLD_CENTOS_7, "Standard_CentOS_7_latest", "2024-03-04T08:12:40Z", 1.2,
              "CentOS", "CentOS 7.9 64bit", image_type="gold"),
    ImageSpec(GOLD_UBUNTU_2204, "Standard_Ubuntu_22.04_latest", "2024-03-04T08:15:02Z", 1.4,
              "Ubuntu", "Ubuntu 22.04 server 64bit", image_type="gold"),
    ImageSpec(GOLD_WINDOWS_2019, "Enterprise_Windows_STD_2019_latest", "2024-03-05T09:30:11Z",
              14.0, "Windows", "Windows Server 2019 Standard 64bit", os_type="Windows",
              image_type="gold"),
    ImageSpec(GOLD_SLES_15, "Enterprise_SLES_15_SP5_latest", "2024-03-05T09:41:27Z", 1.9,
              "SUSE", "SUSE Linux Enterprise Server 15 SP5 64bit", image_type="gold"),
    ImageSpec(GOLD_DEBIAN_12, "Standard_Debian_12_latest", "2024-03-04T08:20:55Z", 1.1,
              "Debian", "Debian GNU/Linux 12 64bit", image_type="gold"),
    ImageSpec(GOLD_EULEROS_29, "Standard_EulerOS_2.9_latest", "2024-03-04T08:24:19Z", 1.3,
              "EulerOS", "EulerOS 2.9 64bit", image_type="gold"),
    ImageSpec(GOLD_FEDORA_39, "Community_Fedora_39_latest", "2024-03-04T08:27:44Z", 1.0,
              "Fedora", "Fedora 39 64bit", image_type="gold"),
    ImageSpec(GOLD_ORACLE_8, "Standard_OracleLinux_8_latest", "2024-03-04T08:31:03Z", 1.5,
              "Oracle Linux", "Oracle Linux 8.9 64bit", image_type="gold"),
    ImageSpec(GOLD_RHEL_8, "Enterprise_RedHat_8_latest", "2024-03-05T09:50:36Z", 1.6,
              "Red Hat", "Red Hat Enterprise Linux 8.9 64bit", image_type="gold"),
    ImageSpec(GOLD_CENTOS_STREAM_9, "Community_CentOS_Stream_9_latest", "2024-03-04T08:35:12Z",
              1.1, "CentOS", "CentOS Stream 9 64bit", image_type="gold"),
    # Ordinary private images: the happy path, on every platform the default policy allows.
    ImageSpec(SMALL_CENTOS, "web-frontend-centos7-2025-01", "2025-01-14T10:02:31Z", 6.0,
              "CentOS", "CentOS 7.9 64bit", parent=GOLD_CENTOS_7,
              description="Nginx front end, January build"),
    ImageSpec(SMALL_UBUNTU, "api-gateway-ubuntu2204-v3", "2025-01-09T15:47:08Z", 8.0,
              "Ubuntu", "Ubuntu 22.04 server 64bit", parent=GOLD_UBUNTU_2204),
    ImageSpec(SMALL_DEBIAN, "build-agent-debian12", "2024-12-18T07:30:55Z", 5.0,
              "Debian", "Debian GNU/Linux 12 64bit", parent=GOLD_DEBIAN_12),
    ImageSpec(SMALL_EULEROS, "postgres-primary-euleros29", "2024-12-02T19:12:40Z", 12.0,
              "EulerOS", "EulerOS 2.9 64bit", parent=GOLD_EULEROS_29),
    ImageSpec(SMALL_FEDORA, "monitoring-fedora39", "2024-11-27T11:05:13Z", 7.0,
              "Fedora", "Fedora 39 64bit", parent=GOLD_FEDORA_39),
    ImageSpec(SMALL_ORACLE, "redis-cache-oraclelinux8", "2024-11-20T13:58:02Z", 9.0,
              "Oracle Linux", "Oracle Linux 8.9 64bit", parent=GOLD_ORACLE_8),
    ImageSpec(SMALL_RHEL, "jenkins-controller-rhel8", "2024-11-12T08:44:19Z", 10.0,
              "Red Hat", "Red Hat Enterprise Linux 8.9 64bit", parent=GOLD_RHEL_8),
    ImageSpec(SMALL_CENTOS_STREAM, "bastion-host-centos-stream9", "2024-10-30T16:21:37Z", 4.0,
              "CentOS", "CentOS Stream 9 64bit", parent=GOLD_CENTOS_STREAM_9),
    ImageSpec(DATA_DISK, "shared-assets-data-disk", "2024-10-21T09:09:09Z", 20.0,
              "Other", "Other Linux(64 bit)", os_type="Other", env_type="DataImage"),
    ImageSpec(JUST_UNDER_128G, "analytics-warehouse-centos7-120g", "2024-10-15T06:40:00Z",
              120.0, "CentOS", "CentOS 7.9 64bit", parent=GOLD_CENTOS_7,
              description="Largest image that still takes a normal export"),
    ImageSpec(ENCRYPTED, "hr-records-encrypted-centos7", "2024-10-08T12:00:51Z", 6.5,
              "CentOS", "CentOS 7.9 64bit", parent=GOLD_CENTOS_7, encrypted=True),
    # Large images: fast export only.
    ImageSpec(EXACTLY_128G, "log-archive-debian12-128g", "2024-09-26T04:18:33Z", 128.0,
              "Debian", "Debian GNU/Linux 12 64bit", parent=GOLD_DEBIAN_12),
    ImageSpec(LARGE_200G, "erp-app-server-centos7-200g", "2024-09-17T21:33:06Z", 200.0,
              "CentOS", "CentOS 7.9 64bit", parent=GOLD_CENTOS_7),
    # Never exportable.
    ImageSpec(HUGE_1500G, "media-archive-data-disk-1500g", "2024-09-03T14:55:48Z", 1536.0,
              "Other", "Other Linux(64 bit)", os_type="Other", env_type="DataImage"),
    ImageSpec(FULL_ECS, "payroll-server-full-ecs-2024q3", "2024-08-28T18:07:22Z", 40.0,
              "CentOS", "CentOS 7.9 64bit", parent=GOLD_CENTOS_7, whole_image=True),
    ImageSpec(ISO, "rescue-toolkit-iso", "2024-08-14T10:10:10Z", 0.9,
              "Other", "Other Linux(64 bit)", env_type="IsoImage", disk_format="iso"),
    ImageSpec(WINDOWS_DERIVED, "ad-domain-controller-win2019", "2024-07-30T07:45:00Z", 24.0,
              "Windows", "Windows Server 2019 Standard 64bit", os_type="Windows",
              parent=GOLD_WINDOWS_2019),
    ImageSpec(SUSE_DERIVED, "sap-hana-sles15sp5", "2024-07-22T20:20:20Z", 18.0,
              "SUSE", "SUSE Linux Enterprise Server 15 SP5 64bit", parent=GOLD_SLES_15),
    # Accepted, then fails while running.
    ImageSpec(FAILS_DURING_EXPORT, "legacy-erp-db-centos6-2019", "2024-07-01T03:03:03Z", 14.0,
              "CentOS", "CentOS 6.10 64bit", parent=GOLD_CENTOS_7,
              description="Migrated from the old data centre; snapshot chain is suspect"),
)  # fmt: skip

# Bulk images: one CI runner snapshot a day through 2023, cycling through four platforms.
_BULK_START = datetime(2023, 1, 1, 2, 0, tzinfo=UTC)
_BULK_PLATFORMS = (
    ("CentOS", "CentOS 7.9 64bit", GOLD_CENTOS_7, "centos7"),
    ("Debian", "Debian GNU/Linux 12 64bit", GOLD_DEBIAN_12, "debian12"),
    ("EulerOS", "EulerOS 2.9 64bit", GOLD_EULEROS_29, "euleros29"),
    ("Ubuntu", "Ubuntu 22.04 server 64bit", GOLD_UBUNTU_2204, "ubuntu2204"),
)


def bulk_specs(count: int) -> list[ImageSpec]:
    """Generate `count` small, exportable CI snapshot images with stable ids and names."""
    specs = []
    for n in range(1, count + 1):
        platform, os_version, parent, slug = _BULK_PLATFORMS[n % len(_BULK_PLATFORMS)]
        created = _BULK_START + timedelta(hours=17 * n)
        specs.append(
            ImageSpec(
                id=str(uuid.uuid5(_NAMESPACE, f"bulk-image-{n}")),
                name=f"ci-runner-{slug}-{created:%Y%m%d}-b{n:04d}",
                created=created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                size_gib=3.0 + (n % 5) * 0.5,
                platform=platform,
                os_version=os_version,
                parent=parent,
            )
        )
    return specs


def image_json(spec: ImageSpec, project_id: str = PROJECT_ID) -> dict[str, Any]:
    """Render a spec as the full image record that `GET /v2/cloudimages` returns.

    Private images belong to `project_id`, the tenant the simulator plays for.
    """
    public = spec.image_type == "gold"
    size_bytes = int(spec.size_gib * GIB)
    updated = _shift(spec.created, minutes=7)
    image: dict[str, Any] = {
        "schema": "/v2/schemas/image",
        "id": spec.id,
        "name": spec.name,
        "status": "active",
        "visibility": "public" if public else "private",
        "protected": public,
        "owner": PUBLIC_OWNER if public else project_id,
        "file": f"/v2/images/{spec.id}/file",
        "self": f"/v2/images/{spec.id}",
        "container_format": "bare",
        "disk_format": spec.disk_format,
        "min_disk": max(40, math.ceil(spec.size_gib)) if spec.env_type != "IsoImage" else 1,
        "min_ram": 1024 if public else 0,
        "size": 0,
        "virtual_size": None,
        "checksum": "d41d8cd98f00b204e9800998ecf8427e",
        "tags": [],
        "created_at": spec.created,
        "updated_at": updated,
        "active_at": updated,
        "__imagetype": spec.image_type,
        "__whole_image": spec.whole_image,
        "__os_type": spec.os_type,
        "__platform": spec.platform,
        "__os_version": spec.os_version,
        "__os_bit": "64",
        "__image_size": str(size_bytes),
        "__image_source_type": "uds",
        "__isregistered": "true",
        "__lazyloading": "true",
        "__originalimagename": "" if public else spec.parent,
        "__data_origin": "" if public else f"instance,{uuid.uuid5(_NAMESPACE, 'ecs-' + spec.id)}",
        "__description": spec.description,
        "__support_kvm": "true",
        "hw_firmware_type": "bios",
        "virtual_env_type": spec.env_type,
        "enterprise_project_id": "0",
    }
    if spec.encrypted:
        image["__system__cmkid"] = str(uuid.uuid5(_NAMESPACE, "kms-key-" + spec.id))
    return image


def seed_images(bulk_count: int, project_id: str = PROJECT_ID) -> list[dict[str, Any]]:
    """All seeded image records: the curated ones first, then `bulk_count` generated ones."""
    return [image_json(spec, project_id) for spec in (*CURATED, *bulk_specs(bulk_count))]


def _shift(iso_time: str, *, minutes: int) -> str:
    moment = datetime.strptime(iso_time, "%Y-%m-%dT%H:%M:%SZ") + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
