"""Whether a polling export page already shows the current status fragment.

Every open export page asks for its status fragment every two seconds, and mostly nothing
has changed. The fragment's version (its ETag) names everything the fragment is drawn from:
the export's row (every write stamps `updated_at`), the newest audit event of its timeline,
who is looking (their roles decide what the timeline and the buttons show, their CSRF
cookie the token in its forms), the templates, and the parts that move with the clock alone
as the page words them: the elapsed time, the time left counted down, whether the job looks
stalled. A poll whose version is the one the browser holds is answered 304 with no
rendering; the browser keeps the fragment it has, which then still says what a fresh render
would. The version is always worked out from a read made before the one the fragment is
rendered from, so a fragment is never older than the version sent with it.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Subquery
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control
from django.utils.http import parse_etags, quote_etag

from ims_portal.accounts.roles import is_auditor, roles_of
from ims_portal.audit.models import AuditEvent
from ims_portal.exports.models import Export
from ims_portal.exports.progress import remaining_time
from ims_portal.exports.templatetags.export_tags import duration, time_left
from ims_portal.exports.workflow import is_stalled


def load(pk: int) -> Export | None:
    """The export with `timeline_head`, the id of its newest audit event: one query."""
    head = AuditEvent.objects.for_target("export", pk).order_by("-id").values("id")
    found = Export.objects.select_related("owner").annotate(timeline_head=Subquery(head[:1]))
    return found.filter(pk=pk).first()


def may_see(request: HttpRequest, export: Export) -> bool:
    """The rule of `Export.objects.visible_to`, asked of an export already loaded."""
    user = request.user
    return user.is_authenticated and (export.owner_id == user.pk or is_auditor(user))


def clock_words(export: Export, now: datetime) -> tuple[str, str, bool]:
    """What the fragment says that moves with the clock alone, as the page words it."""
    remaining = remaining_time(export, now)
    if remaining is None:
        left = ""  # "estimating…" or "unknown": read from the row
    elif remaining:
        left = time_left(remaining)
    else:
        left = "finishing"
    return duration(export.elapsed(now)), left, is_stalled(export, now)


def version(request: HttpRequest, export: Export, now: datetime) -> str:
    """The fragment's ETag (weak: the CSRF token in its forms is masked anew each time)."""
    parts = (
        export.pk,
        export.updated_at.isoformat(),
        getattr(export, "timeline_head", None),
        request.user.pk,
        sorted(roles_of(request.user)),
        request.META.get("CSRF_COOKIE", ""),
        clock_words(export, now),
        _templates_digest(),
    )
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()
    return "W/" + quote_etag(digest)


def is_current(request: HttpRequest, etag: str) -> bool:
    """The browser's `If-None-Match` names this version."""
    held = request.headers.get("If-None-Match")
    if not held:
        return False
    bare = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == bare for tag in parse_etags(held))


def stamp(response: HttpResponseBase, etag: str) -> HttpResponseBase:
    """Send the version, and have the browser ask again with it at every poll."""
    response["ETag"] = etag
    patch_cache_control(response, private=True, no_cache=True)
    return response


@cache
def _templates_digest() -> str:
    """A new release with other markup is a new version of every fragment."""
    digest = hashlib.blake2b(digest_size=8)
    engine: dict[str, Any] = settings.TEMPLATES[0]
    for folder in engine["DIRS"]:
        for path in sorted(Path(folder).rglob("*.html")):
            digest.update(path.read_bytes())
    return digest.hexdigest()
