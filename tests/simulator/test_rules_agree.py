"""The portal's export rules and the cloud's (the simulator's) agree wherever the portal
pre-checks, case by case.

Each case is one export call: an image record (a variation on an ordinary private image, as
`GET /v2/cloudimages` lists it), a bucket, an object name, a format and the fast-export flag.
It is run twice:

- through the portal's `ims_portal.exports.rules.check_export`, with the `Image` that
  `Image.from_api` reads from the record;
- through the simulator's HTTP API: the record is added with `POST /_sim/images`, then a real
  `POST /v1/cloudimages/{id}/file` is sent.

`cloud` is the answer the IMS reference gives (None: accepted; else the IMG code), and the
simulator must give it. Agreement means: the portal refuses exactly when the cloud does, and
the cloud's code is one of the portal's. A case where they may differ on purpose says why in
`differs`; there the portal accepts (it cannot know) and only the cloud refuses, and the test
checks exactly that, so a new pre-check in the portal moves the case into the agreeing ones.
A case where the portal is wrong per the reference is a strict xfail with the reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from ims_portal.cloud.models import Image
from ims_portal.exports import rules
from ims_portal.simulator import seed

GIB = 1024**3
TIB = 1024 * GIB
BUCKET = "agree-bucket"
SEEDED_BUCKETS = {spec.name for spec in seed.BUCKETS}
HUAWEI_PLATFORMS = ["Windows", "SUSE", "Red Hat", "Ubuntu", "Oracle Linux"]


@dataclass(frozen=True)
class Case:
    """One export call and what the reference says the cloud answers."""

    cloud: str | None  # the IMG code the cloud answers with; None: the export starts
    image: dict[str, Any] = field(default_factory=dict)  # changes to an ordinary record
    bucket: str = BUCKET
    object_name: str = "disk.qcow2"
    file_format: str | None = "qcow2"
    fast: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # the cloud's differing values
    busy_with: str | None = None  # another export already running: "image" or "object"
    differs: str = ""  # why the portal may answer differently, on purpose


def fast(**changes: Any) -> dict[str, Any]:
    return {"file_format": None, "fast": True, **changes}


def size(n_bytes: int) -> dict[str, Any]:
    return {"__image_size": str(n_bytes)}


def case(case_id: str, cloud: str | None, bug: str = "", **fields: Any) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"known portal bug: {bug}")] if bug else []
    return pytest.param(Case(cloud, **fields), id=case_id, marks=marks)


CASES = [
    # --- image kinds and sizes -------------------------------------------------------------
    case("ordinary-private-image", None),
    case("127-GB-normal-export", None, image=size(127 * GIB)),
    case("just-under-128-GB-normal-export", None, image=size(128 * GIB - 1)),
    case("128-GB-normal-export", "IMG.0160", image=size(128 * GIB)),
    case("128-GB-fast-export", None, image=size(128 * GIB), **fast()),
    case("200-GB-normal-export", "IMG.0160", image=size(200 * GIB)),
    case("just-under-1-TB-fast-export", None, image=size(TIB - 1), **fast()),
    case("1-TB-fast-export", "IMG.0071", image=size(TIB), **fast()),
    case("1-TB-normal-export", "IMG.0071", image=size(TIB)),
    case("1500-GB-fast-export", "IMG.0071", image=size(1500 * GIB), **fast()),
    case("encrypted-normal-export", None, image={"__system__cmkid": str(uuid.uuid4())}),
    case(
        "encrypted-fast-export", "IMG.0071", image={"__system__cmkid": str(uuid.uuid4())}, **fast()
    ),
    case("ISO-by-environment", "IMG.0071", image={"virtual_env_type": "IsoImage"}),
    case("ISO-by-disk-format", "IMG.0071", image={"disk_format": "iso"}),
    case("full-ECS-image", "IMG.0128", image={"__whole_image": True}),
    case("full-ECS-flag-as-string", "IMG.0128", image={"__whole_image": "true"}),
    case("full-ECS-flag-false-as-string", None, image={"__whole_image": "false"}),
    case(
        "public-image",
        "IMG.0077",
        image={"__imagetype": "gold", "visibility": "public", "owner": seed.PUBLIC_OWNER},
    ),
    case("from-Windows", "IMG.0071", image={"__platform": "Windows", "__os_type": "Windows"}),
    case("from-SUSE", "IMG.0071", image={"__platform": "SUSE"}),
    case("from-Ubuntu-on-Open-Telekom-Cloud", None, image={"__platform": "Ubuntu"}),
    case("from-Oracle-Linux-on-Open-Telekom-Cloud", None, image={"__platform": "Oracle Linux"}),
    case(
        "from-Red-Hat-on-Huawei-Cloud",
        "IMG.0071",
        image={"__platform": "Red Hat"},
        settings={"refused_platforms": HUAWEI_PLATFORMS},
    ),
    case(
        "from-Ubuntu-fast-on-Huawei-Cloud",
        "IMG.0071",
        image={"__platform": "Ubuntu"},
        settings={"refused_platforms": HUAWEI_PLATFORMS},
        **fast(),
    ),
    case(
        "200-GB-normal-where-the-region-allows-it",
        None,
        image=size(200 * GIB),
        settings={"normal_export_above_fast_limit": True},
    ),
    case("data-disk-image", None, image={"virtual_env_type": "DataImage", "__os_type": "Other"}),
    case(
        "shared-image",
        "IMG.0106",
        image={"__imagetype": "shared", "owner": "1b9d7a0c5e2f4a3b8c6d9e0f1a2b3c4d"},
    ),
    case(
        "image-made-from-a-backup",
        "IMG.0080",
        image={"__backup_id": str(uuid.uuid4())},
    ),
    case(
        "image-not-active",
        "IMG.0046",
        image={"status": "queued"},
        differs="the portal offers only the images it lists with status=active",
    ),
    case(
        "image-not-registered",
        "IMG.0046",
        image={"__isregistered": "false"},
        differs="the cloud never lists an unregistered image, so the portal never offers it",
    ),
    # --- format and fast export ----------------------------------------------------------
    case("fast-export-with-a-format", "IMG.0001", fast=True),
    case("normal-export-without-a-format", "IMG.0001", file_format=None),
    case("normal-export-with-an-empty-format", "IMG.0001", file_format=""),
    case("format-raw", "IMG.0072", file_format="raw"),
    case("format-in-capitals", "IMG.0072", file_format="QCOW2"),
    case("format-zvhd2-without-fast-export", "IMG.0072", file_format="zvhd2"),
    case("format-vhd", None, file_format="vhd", object_name="disk.vhd"),
    case("format-zvhd", None, file_format="zvhd", object_name="disk.zvhd"),
    case("format-vmdk", None, file_format="vmdk", object_name="disk.vmdk"),
    # --- bucket names ----------------------------------------------------------------------
    case("bucket-empty", "IMG.0068", bucket=""),
    case("bucket-2-characters", "IMG.0109", bucket="ab"),
    case("bucket-3-characters", None, bucket="abc"),
    case("bucket-63-characters", None, bucket="b" * 63),
    case("bucket-64-characters", "IMG.0109", bucket="b" * 64),
    case("bucket-capitals", "IMG.0109", bucket="Agree-Bucket"),
    case("bucket-underscore", "IMG.0109", bucket="agree_bucket"),
    case("bucket-starts-with-hyphen", "IMG.0109", bucket="-agree-bucket"),
    case("bucket-ends-with-period", "IMG.0109", bucket="agree-bucket."),
    case("bucket-two-periods", "IMG.0109", bucket="agree..bucket"),
    case("bucket-period-hyphen", "IMG.0109", bucket="agree.-bucket"),
    case("bucket-hyphen-period", "IMG.0109", bucket="agree-.bucket"),
    case("bucket-shaped-like-an-IP-address", "IMG.0109", bucket="192.168.1.10"),
    case("bucket-with-periods", None, bucket="exports.eu-de.example"),
    # --- object names ----------------------------------------------------------------------
    case("object-empty", "IMG.0073", object_name=""),
    case("object-1024-bytes", None, object_name="o" * 1018 + ".qcow2"),
    case("object-1025-bytes", "IMG.0074", object_name="o" * 1019 + ".qcow2"),
    case("object-1026-bytes-in-fewer-characters", "IMG.0074", object_name="ü" * 513),
    case("object-leading-slash", "IMG.0075", object_name="/disk.qcow2"),
    case("object-control-character", "IMG.0075", object_name="disk\t.qcow2"),
    case("object-in-a-folder", None, object_name="exports/2025/disk.qcow2"),
    case("object-with-a-colon", None, object_name="disk:v2.qcow2"),
    case("bucket-and-object-both-wrong", "IMG.0068", bucket="", object_name=""),
    # --- what only the cloud knows -------------------------------------------------------------
    case(
        "object-already-exists",
        "IMG.0070",
        bucket="ims-exports",
        object_name="existing.qcow2",
        differs="only OBS knows which objects exist; the portal has no OBS pre-flight yet",
    ),
    case(
        "bucket-does-not-exist",
        "IMG.0069",
        bucket="no-such-bucket",
        differs="only OBS knows which buckets exist",
    ),
    case(
        "bucket-storage-class-archive",
        "IMG.0069",
        bucket="archive-class-bucket",
        differs="a bucket's storage class is OBS metadata, not in the export form",
    ),
    case(
        "bucket-storage-class-warm",
        "IMG.0069",
        bucket="warm-class-bucket",
        differs="a bucket's storage class is OBS metadata, not in the export form",
    ),
    case(
        "bucket-in-another-region",
        "IMG.0069",
        bucket="other-region-bucket",
        differs="a bucket's region is OBS metadata, not in the export form",
    ),
    case(
        "image-already-being-exported",
        "IMG.0148",
        busy_with="image",
        differs="only IMS knows its running jobs (the portal's own table may miss other tools)",
    ),
    case(
        "object-being-written-by-a-running-export",
        "IMG.0070",
        busy_with="object",
        differs="only IMS knows where its running jobs write",
    ),
]


def image_record(project_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """An ordinary private image of the tenant, as the cloud lists it, with `changes`."""
    spec = seed.ImageSpec(
        id=str(uuid.uuid4()),
        name="agreement-case",
        created="2025-02-01T09:00:00Z",
        size_gib=6.0,
        platform="CentOS",
        os_version="CentOS 7.9 64bit",
        parent=seed.GOLD_CENTOS_7,
    )
    return {**seed.image_json(spec, project_id), **changes}


def portal_codes(record: dict[str, Any], c: Case) -> list[str]:
    """The codes of every rule the portal says the export breaks (empty: it may go)."""
    policy = replace(
        rules.DEFAULT_POLICY,
        **{
            name: frozenset(value) if name == "refused_platforms" else value
            for name, value in c.settings.items()
        },
    )
    violations = rules.check_export(
        Image.from_api(record), c.bucket, c.object_name, c.file_format, c.fast, policy
    )
    return [violation.code for violation in violations]


def export_body(c: Case, object_name: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "bucket_url": f"{c.bucket}:{object_name or c.object_name}",
        "is_quick_export": c.fast,
    }
    if c.file_format is not None:
        body["file_format"] = c.file_format
    return body


def cloud_code(sim, ims, record: dict[str, Any], c: Case) -> str | None:
    """What the simulator answers to the export call: None for 200, else the IMG code."""
    sim.control.add_image(record)
    if c.bucket and c.bucket not in SEEDED_BUCKETS and c.bucket != seed.NO_SUCH_BUCKET:
        # The case is about the name's spelling, not about whether OBS has the bucket: let
        # it exist, as an ordinary Standard bucket in the region.
        sim.control.add_bucket(c.bucket)
    if c.settings:
        sim.control.configure(**c.settings)
    if c.busy_with is not None:
        sim.control.configure(speed=1)  # the first job must still run at the second call
        first = {**export_body(c, "first.qcow2"), "file_format": "qcow2", "is_quick_export": False}
        if c.busy_with == "image":
            ims.post(f"/v1/cloudimages/{record['id']}/file", first).raise_for_status()
        else:
            first["bucket_url"] = export_body(c)["bucket_url"]
            ims.post(f"/v1/cloudimages/{seed.SMALL_UBUNTU}/file", first).raise_for_status()
    response = ims.post(f"/v1/cloudimages/{record['id']}/file", export_body(c))
    if response.status_code == 200:
        return None
    assert response.status_code == 400, response.text
    return response.json()["error"]["code"]


def test_the_table_is_broad_and_says_why_wherever_it_lets_them_differ():
    cases = [param.values[0] for param in CASES]
    refused = {c.cloud for c in cases if c.cloud}

    assert len(cases) >= 30
    assert len({param.id for param in CASES}) == len(CASES)
    assert sum(c.cloud is None for c in cases) >= 10  # accepted edges, not only refusals
    assert refused >= {"IMG.0001", "IMG.0068", "IMG.0069", "IMG.0070", "IMG.0071", "IMG.0072"}
    assert refused >= {"IMG.0073", "IMG.0074", "IMG.0075", "IMG.0077", "IMG.0109", "IMG.0128"}
    assert refused >= {"IMG.0148", "IMG.0160"}
    assert all(c.cloud for c in cases if c.differs)


@pytest.mark.parametrize("c", CASES)
def test_portal_and_cloud_agree(sim, ims, c: Case):
    record = image_record(sim.project_id, c.image)

    portal = portal_codes(record, c)
    cloud = cloud_code(sim, ims, record, c)

    assert cloud == c.cloud, f"the simulator answered {cloud}, the reference says {c.cloud}"
    if c.differs:
        assert portal == [], f"the portal now pre-checks this ({portal}): drop `differs`"
    else:
        assert bool(portal) == (cloud is not None), (portal, cloud)
        assert cloud is None or cloud in portal, (portal, cloud)
