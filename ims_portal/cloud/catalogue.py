"""What the cloud's error codes mean for someone exporting an image, and what they can do.

The cloud's own texts are terse and sometimes misleading for our use ("Contact technical
support" for a bucket the portal's account simply cannot write to). Each entry here says, in
our words, what went wrong in export terms and the next step a person can take. Codes come
from the IMS error-code table and the API gateway's common errors; the gateway writes its
codes both as `APIG.xxxx` and `APIGW.xxxx`, so both spellings are looked up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Retry(StrEnum):
    """Whether sending the same export again can succeed where this one did not."""

    HELPS = "helps"  # the cause passes by itself: throttling, a cloud briefly unavailable
    USELESS = "useless"  # the same request meets the same refusal until something is changed
    MAYBE = "maybe"  # the code does not tell

    @property
    def verdict(self) -> str:
        """The answer a failure message gives to "should I just try again?"."""
        return _VERDICTS[self]


_VERDICTS = {
    Retry.HELPS: "Trying again can help.",
    Retry.USELESS: "Trying again as it is will not help.",
    Retry.MAYBE: "Trying again may or may not help.",
}


class Explanation(NamedTuple):
    """A short statement of the problem, a remedy a person can act on, and whether a plain
    retry of the same export stands a chance."""

    message: str
    remedy: str
    retry: Retry = Retry.MAYBE


_ASK_ADMIN = "Ask the cloud account administrator to check the portal's IAM user and its policies."
_PICK_ANOTHER = "Pick another image; this one cannot be exported by any means."

CATALOGUE: dict[str, Explanation] = {
    # --- the request itself -------------------------------------------------------------------
    "IMG.0001": Explanation(
        "The cloud could not read the export request.",
        "Check the bucket, file name and format, then submit again; if it keeps failing, report it"
        " as a portal bug with the request id.",
        retry=Retry.USELESS,
    ),
    "IMG.0007": Explanation(
        "The export request reached the cloud without a body.",
        "Submit the export again; if it keeps happening, report it as a portal bug.",
        retry=Retry.MAYBE,
    ),
    "IMG.0017": Explanation(
        "The cloud rejected the address of the export file.",
        "Write the destination as bucket:file, e.g. my-bucket:images/web01.qcow2.",
        retry=Retry.USELESS,
    ),
    # --- which image --------------------------------------------------------------------------
    "IMG.0027": Explanation(
        "The image no longer exists in this project.",
        "Reload the image list; the image may have been deleted or belong to another project.",
        retry=Retry.USELESS,
    ),
    "IMG.0046": Explanation(
        "The image is not available right now.",
        "Wait until the image's status is active, then export it.",
        retry=Retry.HELPS,
    ),
    "IMG.0066": Explanation(
        "The image id is not valid.",
        "Choose the image from the list instead of typing its id.",
        retry=Retry.USELESS,
    ),
    "IMG.0086": Explanation(
        "The cloud found no such image.",
        "Reload the image list and choose an image that is still there.",
        retry=Retry.USELESS,
    ),
    "IMG.0144": Explanation(
        "The image does not exist.",
        "Reload the image list; the image may have been deleted.",
        retry=Retry.USELESS,
    ),
    "IMG.0047": Explanation(
        "Only the image's owner may export it.",
        "Export it from the project that owns the image, or ask its owner to export it.",
        retry=Retry.USELESS,
    ),
    "IMG.0106": Explanation(
        "The image belongs to another tenant.",
        "Shared images cannot be exported; ask the owning tenant to export it.",
        retry=Retry.USELESS,
    ),
    "IMG.0167": Explanation(
        "ISO images cannot be exported.",
        _PICK_ANOTHER,
        retry=Retry.USELESS,
    ),
    # --- the bucket and the file --------------------------------------------------------------
    "IMG.0068": Explanation(
        "No bucket name was given.",
        "Enter the name of the OBS bucket that should receive the image file.",
        retry=Retry.USELESS,
    ),
    "IMG.0069": Explanation(
        "The cloud cannot write to that bucket.",
        "Check that the bucket exists in this region, is a Standard bucket, and that the portal's"
        " account may write to it.",
        retry=Retry.USELESS,
    ),
    "IMG.0070": Explanation(
        "A file with that name already exists in the bucket.",
        "Choose a different file name, or delete the existing object in OBS first.",
        retry=Retry.USELESS,
    ),
    "IMG.0073": Explanation(
        "No file name was given.",
        "Enter the name the exported file should have in the bucket.",
        retry=Retry.USELESS,
    ),
    "IMG.0074": Explanation(
        "The file name is too long.",
        "Shorten the file name.",
        retry=Retry.USELESS,
    ),
    "IMG.0075": Explanation(
        "The file name contains characters the cloud does not accept.",
        "Use letters, digits, hyphens, dots and underscores, with no leading or trailing space.",
        retry=Retry.USELESS,
    ),
    "IMG.0109": Explanation(
        "The bucket name contains characters that are not allowed.",
        "Use the bucket's exact name: 3-63 lowercase letters, digits, hyphens and dots.",
        retry=Retry.USELESS,
    ),
    "IMG.0121": Explanation(
        "The cloud could not find the object it was asked about.",
        "Check the bucket and file name and try again.",
        retry=Retry.USELESS,
    ),
    "IMG.0175": Explanation(
        "Folder and file names in the destination may not contain spaces.",
        "Remove the spaces from the folder and file name.",
        retry=Retry.USELESS,
    ),
    "IMG.0076": Explanation(
        "The cloud read the request as sharing the image with its own project.",
        "Exports never share images; report it as a portal bug with the request id.",
        retry=Retry.USELESS,
    ),
    # --- the format ---------------------------------------------------------------------------
    "IMG.0072": Explanation(
        "The cloud does not support that file format (or it was missing).",
        "Choose qcow2, vhd, zvhd or vmdk, or switch on fast export and leave the format out.",
        retry=Retry.USELESS,
    ),
    # --- images that cannot be exported -------------------------------------------------------
    "IMG.0071": Explanation(
        "This image cannot be exported.",
        "Images made from some public images (such as Windows or SUSE) and ISO images cannot be"
        " exported. " + _PICK_ANOTHER,
        retry=Retry.USELESS,
    ),
    "IMG.0077": Explanation(
        "Public images cannot be exported.",
        "Only private images can be exported; pick one of the project's own images.",
        retry=Retry.USELESS,
    ),
    "IMG.0079": Explanation(
        "Images made from a paid (charged) image cannot be exported.",
        _PICK_ANOTHER,
        retry=Retry.USELESS,
    ),
    "IMG.0080": Explanation(
        "Images created from a cloud server backup cannot be exported.",
        "Create a system disk image from the server itself and export that instead.",
        retry=Retry.USELESS,
    ),
    "IMG.0081": Explanation(
        "Images created from an uploaded image file cannot be exported.",
        "Use the original image file you uploaded, which you still have in OBS or locally.",
        retry=Retry.USELESS,
    ),
    "IMG.0128": Explanation(
        "Full-ECS images (server plus all its disks) cannot be exported.",
        "Export a system disk image of the server instead.",
        retry=Retry.USELESS,
    ),
    "IMG.0130": Explanation(
        "Full-ECS images cannot be exported or replicated.",
        "Export a system disk image of the server instead.",
        retry=Retry.USELESS,
    ),
    "IMG.0160": Explanation(
        "The image is too large for a normal export.",
        "Switch on fast export (it handles images of 128 GB and more, up to 1 TB).",
        retry=Retry.USELESS,
    ),
    # --- timing -------------------------------------------------------------------------------
    "IMG.0148": Explanation(
        "This image is already being exported.",
        "Wait for the running export to finish, then start another one if you still need it.",
        retry=Retry.HELPS,
    ),
    "IMG.0060": Explanation(
        "The cloud is running too many image jobs for this account.",
        "Wait a few minutes and submit again.",
        retry=Retry.HELPS,
    ),
    "IMG.0014": Explanation(
        "The cloud's backend failed while running the job, for instance on a damaged snapshot"
        " behind the image.",
        "The same image would most likely fail the same way. Open a ticket with the cloud"
        " provider quoting the identifiers shown with this message, or export a fresh image of"
        " the server instead.",
        retry=Retry.USELESS,
    ),
    "IMG.0018": Explanation(
        "The cloud could not start the export job.",
        "Try again later; if it fails again, open a ticket with the cloud provider.",
        retry=Retry.MAYBE,
    ),
    "IMG.0061": Explanation(
        "The cloud hit an unexpected error.",
        "Try again later; if it fails again, open a ticket with the cloud provider quoting the"
        " identifiers shown with this message.",
        retry=Retry.MAYBE,
    ),
    # --- who is asking (IMS) ------------------------------------------------------------------
    "IMG.0026": Explanation(
        "The portal's cloud account lacks the permission for this operation.",
        _ASK_ADMIN + " Exporting needs IMS export rights and OBS Tenant Administrator rights.",
        retry=Retry.USELESS,
    ),
    "IMG.0030": Explanation(
        "The cloud did not accept the portal's project and token together.",
        "Check that IMS_PROJECT_ID is the project the IAM user signs in to.",
        retry=Retry.USELESS,
    ),
    "IMG.0067": Explanation(
        "The project id is not valid.",
        "Check the IMS_PROJECT_ID setting against the project id shown in the cloud console.",
        retry=Retry.USELESS,
    ),
    "IMG.0087": Explanation(
        "The cloud did not accept the portal's token.",
        "Try again; if it persists, check the portal's IAM user and IAM_DOMAIN.",
        retry=Retry.MAYBE,
    ),
    # --- who is asking (API gateway) ----------------------------------------------------------
    "APIGW.0101": Explanation(
        "This cloud does not offer that API at this address.",
        "Check IMS_ENDPOINT; it should be the IMS endpoint of the region the images are in.",
        retry=Retry.USELESS,
    ),
    "APIGW.0201": Explanation(
        "The API gateway rejected the request as malformed.",
        "Report it as a portal bug with the request id.",
        retry=Retry.USELESS,
    ),
    "APIGW.0301": Explanation(
        "The cloud rejected the portal's credentials (token or request signature).",
        "Check the configured access key and secret key (no stray spaces) or the IAM user's"
        " password, and that the server's clock is correct; repeated failures lock an access key"
        " for a few minutes.",
        retry=Retry.USELESS,
    ),
    "APIGW.0302": Explanation(
        "The portal's IAM user may not call this API.",
        _ASK_ADMIN,
        retry=Retry.USELESS,
    ),
    "APIGW.0303": Explanation(
        "The cloud rejected the portal's app credentials.",
        "Check the configured access key and secret key.",
        retry=Retry.USELESS,
    ),
    "APIGW.0304": Explanation(
        "The portal's app is not allowed to call this API.",
        _ASK_ADMIN,
        retry=Retry.USELESS,
    ),
    "APIGW.0305": Explanation(
        "The cloud rejected the request's authentication.",
        "Check the portal's cloud credentials and the server's clock.",
        retry=Retry.USELESS,
    ),
    "APIGW.0306": Explanation(
        "The cloud denied access to this API.",
        _ASK_ADMIN,
        retry=Retry.USELESS,
    ),
    "APIGW.0307": Explanation(
        "The portal's token has expired.",
        "Try again; the portal fetches a new token on its own.",
        retry=Retry.HELPS,
    ),
    "APIGW.0308": Explanation(
        "Too many requests: the cloud is throttling the portal.",
        "Wait a minute and try again.",
        retry=Retry.HELPS,
    ),
}

_BY_STATUS: dict[int, Explanation] = {
    401: Explanation(
        "The cloud did not accept the portal's credentials.",
        "Check the portal's cloud credentials (IMS_AK/IMS_SK or the IAM user) and the clock.",
        Retry.USELESS,
    ),
    403: Explanation(
        "The portal's cloud account is not allowed to do this.", _ASK_ADMIN, Retry.USELESS
    ),
    404: Explanation(
        "The cloud does not know this item.", "Reload the page; it may be gone.", Retry.USELESS
    ),
    429: Explanation(
        "The cloud is throttling the portal.", "Wait a minute and try again.", Retry.HELPS
    ),
}

_SERVER_TROUBLE = Explanation(
    "The cloud had a problem answering.",
    "Try again later; if it persists, check the cloud provider's status page.",
    Retry.HELPS,
)
_UNKNOWN = Explanation(
    "The cloud refused the request.",
    "Read the cloud's message and the request id, and contact the portal's operators if it is"
    " unclear.",
)


def explain(code: str, *, status: int | None = None) -> Explanation:
    """Look up what an error code means; fall back on the HTTP status, then on a generic text."""
    key = code.strip().upper()
    if key.startswith("APIG."):
        key = "APIGW." + key.removeprefix("APIG.")
    if key in CATALOGUE:
        return CATALOGUE[key]
    if status is not None:
        if status in _BY_STATUS:
            return _BY_STATUS[status]
        if status >= 500:
            return _SERVER_TROUBLE
    return _UNKNOWN
