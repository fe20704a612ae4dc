"""What the cloud's error codes mean for someone exporting an image, and what they can do.

The cloud's own texts are terse and sometimes misleading for our use ("Contact technical
support" for a bucket the portal's account simply cannot write to). Each entry here says, in
our words, what went wrong in export terms and the next step a person can take. Codes come
from the IMS error-code table and the API gateway's common errors; the gateway writes its
codes both as `APIG.xxxx` and `APIGW.xxxx`, so both spellings are looked up.
"""

from __future__ import annotations

from typing import NamedTuple


class Explanation(NamedTuple):
    """A short statement of the problem and a remedy a person can act on."""

    message: str
    remedy: str


_ASK_ADMIN = "Ask the cloud account administrator to check the portal's IAM user and its policies."
_PICK_ANOTHER = "Pick another image; this one cannot be exported by any means."

CATALOGUE: dict[str, Explanation] = {
    # --- the request itself -------------------------------------------------------------------
    "IMG.0001": Explanation(
        "The cloud could not read the export request.",
        "Check the bucket, file name and format, then submit again; if it keeps failing, report it"
        " as a portal bug with the request id.",
    ),
    "IMG.0007": Explanation(
        "The export request reached the cloud without a body.",
        "Submit the export again; if it keeps happening, report it as a portal bug.",
    ),
    "IMG.0017": Explanation(
        "The cloud rejected the address of the export file.",
        "Write the destination as bucket:file, e.g. my-bucket:images/web01.qcow2.",
    ),
    # --- which image --------------------------------------------------------------------------
    "IMG.0027": Explanation(
        "The image no longer exists in this project.",
        "Reload the image list; the image may have been deleted or belong to another project.",
    ),
    "IMG.0046": Explanation(
        "The image is not available right now.",
        "Wait until the image's status is active, then export it.",
    ),
    "IMG.0066": Explanation(
        "The image id is not valid.",
        "Choose the image from the list instead of typing its id.",
    ),
    "IMG.0086": Explanation(
        "The cloud found no such image.",
        "Reload the image list and choose an image that is still there.",
    ),
    "IMG.0144": Explanation(
        "The image does not exist.",
        "Reload the image list; the image may have been deleted.",
    ),
    "IMG.0047": Explanation(
        "Only the image's owner may export it.",
        "Export it from the project that owns the image, or ask its owner to export it.",
    ),
    "IMG.0106": Explanation(
        "The image belongs to another tenant.",
        "Shared images cannot be exported; ask the owning tenant to export it.",
    ),
    "IMG.0167": Explanation(
        "ISO images cannot be exported.",
        _PICK_ANOTHER,
    ),
    # --- the bucket and the file --------------------------------------------------------------
    "IMG.0068": Explanation(
        "No bucket name was given.",
        "Enter the name of the OBS bucket that should receive the image file.",
    ),
    "IMG.0069": Explanation(
        "The cloud cannot write to that bucket.",
        "Check that the bucket exists in this region, is a Standard bucket, and that the portal's"
        " account may write to it.",
    ),
    "IMG.0070": Explanation(
        "A file with that name already exists in the bucket.",
        "Choose a different file name, or delete the existing object in OBS first.",
    ),
    "IMG.0073": Explanation(
        "No file name was given.",
        "Enter the name the exported file should have in the bucket.",
    ),
    "IMG.0074": Explanation(
        "The file name is too long.",
        "Shorten the file name.",
    ),
    "IMG.0075": Explanation(
        "The file name contains characters the cloud does not accept.",
        "Use letters, digits, hyphens, dots and underscores, with no leading or trailing space.",
    ),
    "IMG.0109": Explanation(
        "The bucket name contains characters that are not allowed.",
        "Use the bucket's exact name: 3-63 lowercase letters, digits, hyphens and dots.",
    ),
    "IMG.0121": Explanation(
        "The cloud could not find the object it was asked about.",
        "Check the bucket and file name and try again.",
    ),
    "IMG.0175": Explanation(
        "Folder and file names in the destination may not contain spaces.",
        "Remove the spaces from the folder and file name.",
    ),
    "IMG.0076": Explanation(
        "The cloud read the request as sharing the image with its own project.",
        "Exports never share images; report it as a portal bug with the request id.",
    ),
    # --- the format ---------------------------------------------------------------------------
    "IMG.0072": Explanation(
        "The cloud does not support that file format (or it was missing).",
        "Choose qcow2, vhd, zvhd or vmdk, or switch on fast export and leave the format out.",
    ),
    # --- images that cannot be exported -------------------------------------------------------
    "IMG.0071": Explanation(
        "This image cannot be exported.",
        "Images made from some public images (such as Windows or SUSE) and ISO images cannot be"
        " exported. " + _PICK_ANOTHER,
    ),
    "IMG.0077": Explanation(
        "Public images cannot be exported.",
        "Only private images can be exported; pick one of the project's own images.",
    ),
    "IMG.0079": Explanation(
        "Images made from a paid (charged) image cannot be exported.",
        _PICK_ANOTHER,
    ),
    "IMG.0080": Explanation(
        "Images created from a cloud server backup cannot be exported.",
        "Create a system disk image from the server itself and export that instead.",
    ),
    "IMG.0081": Explanation(
        "Images created from an uploaded image file cannot be exported.",
        "Use the original image file you uploaded, which you still have in OBS or locally.",
    ),
    "IMG.0128": Explanation(
        "Full-ECS images (server plus all its disks) cannot be exported.",
        "Export a system disk image of the server instead.",
    ),
    "IMG.0130": Explanation(
        "Full-ECS images cannot be exported or replicated.",
        "Export a system disk image of the server instead.",
    ),
    "IMG.0160": Explanation(
        "The image is too large for a normal export.",
        "Switch on fast export (it handles images of 128 GB and more, up to 1 TB).",
    ),
    # --- timing -------------------------------------------------------------------------------
    "IMG.0148": Explanation(
        "This image is already being exported.",
        "Wait for the running export to finish, then start another one if you still need it.",
    ),
    "IMG.0060": Explanation(
        "The cloud is running too many image jobs for this account.",
        "Wait a few minutes and submit again.",
    ),
    "IMG.0014": Explanation(
        "The cloud's backend failed while running the job.",
        "Try again later; if it fails again, open a ticket with the cloud provider and quote the"
        " request id.",
    ),
    "IMG.0018": Explanation(
        "The cloud could not start the export job.",
        "Try again later; if it fails again, open a ticket with the cloud provider.",
    ),
    "IMG.0061": Explanation(
        "The cloud hit an unexpected error.",
        "Try again later; if it fails again, open a ticket with the cloud provider and quote the"
        " request id.",
    ),
    # --- who is asking (IMS) ------------------------------------------------------------------
    "IMG.0026": Explanation(
        "The portal's cloud account lacks the permission for this operation.",
        _ASK_ADMIN + " Exporting needs IMS export rights and OBS Tenant Administrator rights.",
    ),
    "IMG.0030": Explanation(
        "The cloud did not accept the portal's project and token together.",
        "Check that IMS_PROJECT_ID is the project the IAM user signs in to.",
    ),
    "IMG.0067": Explanation(
        "The project id is not valid.",
        "Check the IMS_PROJECT_ID setting against the project id shown in the cloud console.",
    ),
    "IMG.0087": Explanation(
        "The cloud did not accept the portal's token.",
        "Try again; if it persists, check the portal's IAM user and IAM_DOMAIN.",
    ),
    # --- who is asking (API gateway) ----------------------------------------------------------
    "APIGW.0101": Explanation(
        "This cloud does not offer that API at this address.",
        "Check IMS_ENDPOINT; it should be the IMS endpoint of the region the images are in.",
    ),
    "APIGW.0201": Explanation(
        "The API gateway rejected the request as malformed.",
        "Report it as a portal bug with the request id.",
    ),
    "APIGW.0301": Explanation(
        "The cloud rejected the portal's credentials (token or request signature).",
        "Check the configured access key and secret key (no stray spaces) or the IAM user's"
        " password, and that the server's clock is correct; repeated failures lock an access key"
        " for a few minutes.",
    ),
    "APIGW.0302": Explanation(
        "The portal's IAM user may not call this API.",
        _ASK_ADMIN,
    ),
    "APIGW.0303": Explanation(
        "The cloud rejected the portal's app credentials.",
        "Check the configured access key and secret key.",
    ),
    "APIGW.0304": Explanation(
        "The portal's app is not allowed to call this API.",
        _ASK_ADMIN,
    ),
    "APIGW.0305": Explanation(
        "The cloud rejected the request's authentication.",
        "Check the portal's cloud credentials and the server's clock.",
    ),
    "APIGW.0306": Explanation(
        "The cloud denied access to this API.",
        _ASK_ADMIN,
    ),
    "APIGW.0307": Explanation(
        "The portal's token has expired.",
        "Try again; the portal fetches a new token on its own.",
    ),
    "APIGW.0308": Explanation(
        "Too many requests: the cloud is throttling the portal.",
        "Wait a minute and try again.",
    ),
}

_BY_STATUS: dict[int, Explanation] = {
    401: Explanation(
        "The cloud did not accept the portal's credentials.",
        "Check the portal's cloud credentials (IMS_AK/IMS_SK or the IAM user) and the clock.",
    ),
    403: Explanation("The portal's cloud account is not allowed to do this.", _ASK_ADMIN),
    404: Explanation("The cloud does not know this item.", "Reload the page; it may be gone."),
    429: Explanation("The cloud is throttling the portal.", "Wait a minute and try again."),
}

_SERVER_TROUBLE = Explanation(
    "The cloud had a problem answering.",
    "Try again later; if it persists, check the cloud provider's status page.",
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
