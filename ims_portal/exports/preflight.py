"""The pre-flight: what OBS says of the destination, held against what IMS needs of it.

Before an export is submitted (as the user types, and again on the server at submit) the
bucket is asked for (`HEAD` on the bucket: does it exist, its storage class, its region) and
the object (`HEAD` on it: is it there already). Each check of `rules.PREFLIGHT_CHECKS` gives
one `Finding`: passed, failed (with a remedy, and for an existing object the first free
name), or unverified where OBS could not be reached or refused to answer: that one never
stops a submit, since IMS decides in the end. Nothing here raises for OBS.

The same checks name the cause when IMS refuses an export with IMG.0069 or IMG.0070
(`refusal_cause`): they are run again at that moment, because a pre-flight that found a
problem at submit never let the export reach IMS, so what it found then cannot be the cause.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ims_portal.cloud import BucketInfo, Client, CloudError, ConfigurationError, PermissionDenied
from ims_portal.exports import rules
from ims_portal.exports.cloud_access import describe_obs_error, get_client, image_region
from ims_portal.exports.models import Export
from ims_portal.exports.retry import first_free_name

log = logging.getLogger(__name__)

# Object names asked of OBS at most to find a free one (one HEAD each).
FREE_NAME_TRIES = 20
BEING_WRITTEN = "export #{number} is under way to it"
BEING_WRITTEN_OTHER = "an export by another user is under way to it"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's result, as a line of the page: the verdict, what was found, what to do."""

    check: rules.PreflightCheck
    verdict: rules.Verdict
    message: str
    remedy: str = ""
    free_name: str = ""  # for an object that exists: the first name that does not

    @property
    def failed(self) -> bool:
        return self.verdict == rules.Verdict.FAILED

    @property
    def passed(self) -> bool:
        return self.verdict == rules.Verdict.PASSED

    @property
    def unverified(self) -> bool:
        return self.verdict == rules.Verdict.UNVERIFIED

    @property
    def field(self) -> str:
        return self.check.field

    @property
    def verdict_label(self) -> str:
        return self.verdict.label

    @property
    def suggestion_note(self) -> str:
        """Why the page put the free name in the file name field by itself."""
        if not self.free_name:
            return ""
        return rules.FREE_NAME_SUGGESTED.format(found=self.message, free=self.free_name)

    @property
    def error(self) -> str:
        """The field error a failure puts on its field: what was found and the remedy."""
        return f"{self.message} {self.remedy}".strip()


@dataclass(frozen=True, slots=True)
class Preflight:
    """Every check's finding for one bucket and object, in the order of the checks."""

    bucket: str
    object_name: str
    region: str
    findings: tuple[Finding, ...] = field(default=())

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.failed]

    @property
    def unverified(self) -> list[Finding]:
        return [f for f in self.findings if f.unverified]

    def finding(self, check: str) -> Finding | None:
        return next((f for f in self.findings if f.check.name == check), None)

    def audit_facts(self) -> dict[str, Any]:
        """The verdicts, for the audit event of the request: evidence of what was known."""
        return {f.check.name: f.verdict for f in self.findings}


def run(
    bucket: str,
    object_name: str,
    region: str,
    *,
    owner_id: int | None = None,
    excluding: int | None = None,
    client: Client | None = None,
) -> Preflight:
    """Ask OBS about `bucket` and `object_name` for an image in `region`; never raises.

    An empty `object_name` checks the bucket alone. `owner_id` is the user asking: an
    export of theirs under way to the object is named by its number. `excluding` is an
    export not to count as under way to it (the one whose refusal is being explained).
    """
    facts = {
        "bucket": bucket,
        "object": object_name,
        "image_region": region,
        "usable": rules.exportable_storage_classes(),
    }
    findings: list[Finding] = []
    try:
        obs = client or get_client()
    except ConfigurationError as error:
        reason = describe_obs_error(error)
        return Preflight(
            bucket,
            object_name,
            region,
            tuple(_unverified(check, reason) for check in rules.PREFLIGHT_CHECKS),
        )
    info: BucketInfo | None = None
    bucket_unknown = ""
    obs_down = False
    try:
        info = obs.bucket_info(bucket)
    except (CloudError, ConfigurationError) as error:
        log.info("pre-flight: bucket %s: %s", bucket, error)
        bucket_unknown = describe_obs_error(error)
        # A bucket OBS refuses to describe may still let its objects be read; an OBS that
        # does not answer at all will not answer for the object either (and each try waits).
        obs_down = not isinstance(error, PermissionDenied)

    visible = rules.PREFLIGHT[rules.Check.BUCKET_VISIBLE]
    storage = rules.PREFLIGHT[rules.Check.STORAGE_CLASS]
    same_region = rules.PREFLIGHT[rules.Check.REGION]
    if bucket_unknown:
        findings += [_unverified(c, bucket_unknown) for c in (visible, storage, same_region)]
    elif info is None:
        findings.append(_failed(visible, facts))
        why = "the bucket does not exist"
        findings += [_skipped(c, why) for c in (storage, same_region)]
    else:
        facts |= {
            "storage_class": rules.storage_class_name(info.storage_class),
            "region": info.region,
        }
        findings.append(_passed(visible, facts))
        class_problem = rules.storage_class_problem(info.storage_class)
        findings.append(_failed(storage, facts) if class_problem else _passed(storage, facts))
        region_problem = rules.region_problem(info.region, region)
        findings.append(
            _failed(same_region, facts) if region_problem else _passed(same_region, facts)
        )
    if obs_down and object_name:
        findings.append(_unverified(rules.PREFLIGHT[rules.Check.OBJECT_ABSENT], bucket_unknown))
    else:
        findings.append(_object_finding(obs, info, bucket_unknown, facts, owner_id, excluding))
    return Preflight(bucket, object_name, region, tuple(findings))


def _object_finding(
    obs: Client,
    info: BucketInfo | None,
    bucket_unknown: str,
    facts: dict[str, str],
    owner_id: int | None,
    excluding: int | None,
) -> Finding:
    check = rules.PREFLIGHT[rules.Check.OBJECT_ABSENT]
    bucket, object_name = facts["bucket"], facts["object"]
    if not object_name:
        return _skipped(check, "no file name yet")
    if info is None and not bucket_unknown:
        return _skipped(check, "the bucket does not exist")
    if info is not None and rules.region_problem(info.region, facts["image_region"]):
        return _skipped(check, "the bucket is in another region")
    taken = TakenInBucket(obs, bucket, excluding=excluding)
    writer = taken.writer(object_name)
    if writer is not None:
        which = (
            BEING_WRITTEN.format(number=writer.pk)
            if writer.owner_id == owner_id
            else BEING_WRITTEN_OTHER
        )
        found = f"{object_name} will exist: {which}."
    else:
        try:
            exists = taken.exists(object_name)
        except (CloudError, ConfigurationError) as error:
            log.info("pre-flight: object %s:%s: %s", bucket, object_name, error)
            return _unverified(check, describe_obs_error(error))
        if not exists:
            return _passed(check, facts)
        found = check.failed.format(**facts)
    free = taken.free_name(object_name)
    remedy = (
        rules.OBJECT_FREE_NAME_REMEDY.format(free=free) if free else check.remedy.format(**facts)
    )
    return Finding(check, rules.Verdict.FAILED, found, remedy, free)


class TakenInBucket:
    """ "Is this object name taken in the bucket?" for `retry.first_free_name`: an object
    OBS has, or one an export of the portal's is under way to (IMS refuses both)."""

    def __init__(self, obs: Client, bucket: str, *, excluding: int | None = None) -> None:
        self.obs = obs
        self.bucket = bucket
        under_way = Export.objects.in_flight().filter(bucket=bucket)
        if excluding is not None:
            under_way = under_way.exclude(pk=excluding)
        self._writers = {export.object_name: export for export in under_way.order_by("id")}

    def writer(self, object_name: str) -> Export | None:
        """The export under way to this object, if any."""
        return self._writers.get(object_name)

    def exists(self, object_name: str) -> bool:
        """Whether OBS has the object; raises `CloudError` (or `ConfigurationError`, with
        no OBS endpoint) when it cannot say."""
        return self.obs.object_info(self.bucket, object_name) is not None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        return name in self._writers or self.exists(name)

    def free_name(self, object_name: str) -> str:
        """The first free name counted from `object_name`; "" when OBS stops answering or
        every name tried is taken."""
        try:
            found = first_free_name(object_name, self, tries=FREE_NAME_TRIES)
        except (CloudError, ConfigurationError) as error:
            log.info("pre-flight: no free name in %s: %s", self.bucket, error)
            return ""
        if found is None or rules.check_file_name(found):
            return ""
        return found


def refusal_causes(export: Export, code: str) -> list[Finding]:
    """The pre-flight failures behind IMS's refusal of `export` with `code` (IMG.0069 for
    the bucket, IMG.0070 for the object), asked of OBS now: usually one. Empty when OBS
    shows none or cannot say; the catalogue's general message then stands."""
    if code not in {check.code for check in rules.PREFLIGHT_CHECKS}:
        return []
    found = run(
        export.bucket,
        export.object_name,
        image_region(export.image_id),
        owner_id=export.owner_id,
        excluding=export.pk,
    )
    return [f for f in found.failures if f.check.code == code]


def _passed(check: rules.PreflightCheck, facts: dict[str, str]) -> Finding:
    return Finding(check, rules.Verdict.PASSED, check.passed.format(**facts))


def _failed(check: rules.PreflightCheck, facts: dict[str, str]) -> Finding:
    return Finding(
        check, rules.Verdict.FAILED, check.failed.format(**facts), check.remedy.format(**facts)
    )


def _unverified(check: rules.PreflightCheck, reason: str) -> Finding:
    return Finding(
        check, rules.Verdict.UNVERIFIED, rules.PREFLIGHT_UNVERIFIED.format(reason=reason)
    )


def _skipped(check: rules.PreflightCheck, reason: str) -> Finding:
    return Finding(check, rules.Verdict.SKIPPED, rules.PREFLIGHT_SKIPPED.format(reason=reason))
