"""A plain Python client for Huawei Cloud / Open Telekom Cloud IAM and IMS, over `requests`.

No Django here: the portal's apps, the simulator and scripts can all use it.

    client = Client.from_env()
    for image in client.list_images(__imagetype="private", status="active"):
        ...
    job_id = client.export_image(image.id, "my-bucket:web01.qcow2", file_format="qcow2")
    job = client.get_job(job_id)
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
from ims_portal.cloud.models import Image, Job

__all__ = [
    "AkSkAuth",
    "Auth",
    "AuthenticationError",
    "Client",
    "CloudError",
    "ConfigurationError",
    "ConnectionFailed",
    "Explanation",
    "Image",
    "InvalidResponse",
    "Job",
    "NotFound",
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
