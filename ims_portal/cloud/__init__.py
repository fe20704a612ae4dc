"""A plain Python client for Huawei Cloud / Open Telekom Cloud IAM, IMS and OBS, over `requests`.

No Django here: the portal's apps, the simulator and scripts can all use it.

    client = Client.from_env()
    for image in client.list_images(__imagetype="private", status="active"):
        ...
    job_id = client.export_image(image.id, "my-bucket:web01.qcow2", file_format="qcow2")
    job = client.get_job(job_id)
    for bucket in client.list_buckets():           # OBS, signed with the same credentials
        info = client.bucket_info(bucket.name)      # region, storage class; None: no such bucket
    found = client.object_info("my-bucket", "web01.qcow2")  # size, ETag; None: absent
"""

from ims_portal.cloud.auth import AkSkAuth, Auth, Secret, TokenAuth
from ims_portal.cloud.catalogue import Explanation, explain
from ims_portal.cloud.client import Client
from ims_portal.cloud.errors import (
    AuthenticationError,
    CloudError,
    ConfigurationError,
    ConnectionFailed,
    InvalidResponse,
    NotFound,
    PermissionDenied,
    RequestRejected,
    ServerError,
    Throttled,
    Timeout,
    TransportError,
)
from ims_portal.cloud.models import Bucket, BucketInfo, Image, Job, ObjectInfo

__all__ = [
    "AkSkAuth",
    "Auth",
    "AuthenticationError",
    "Bucket",
    "BucketInfo",
    "Client",
    "CloudError",
    "ConfigurationError",
    "ConnectionFailed",
    "Explanation",
    "Image",
    "InvalidResponse",
    "Job",
    "NotFound",
    "ObjectInfo",
    "PermissionDenied",
    "RequestRejected",
    "Secret",
    "ServerError",
    "Throttled",
    "Timeout",
    "TokenAuth",
    "TransportError",
    "explain",
]
