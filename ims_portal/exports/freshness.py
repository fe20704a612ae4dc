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
from django.db import connection
from django.db.models import QuerySet, Subquery
from django.db.models.sql.compiler import SQLCompiler
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.cache import patch_cache_control
from django.utils.http import parse_etags, quote_etag

from ims_portal.accounts.roles import is_auditor, roles_of
from ims_portal.audit.models import AuditEvent
from ims_portal.exports.models import Export
from ims_portal.exports.progress import remaining_time, time_left_words
from ims_portal.exports.templatetags.export_tags import duration
from ims_portal.exports.workflow import is_stalled

# What the version reads of the export: its row's stamp and what the clock's words are
# worked out from (`clock_words`), and who may see it.
VERSION_FIELDS = (
    "id",
    "owner_id",
    "status",
    "updated_at",
    "created_at",
    "finished_at",
    "eta_seconds",
    "eta_at",
    "eta_prior_only",
    "last_change_at",
)
_SENTINEL = -7_310_573  # stands for the export's id while the query is compiled


def _version_query(pk: int) -> QuerySet[Export, tuple[Any, ...]]:
    head = AuditEvent.objects.for_target("export", pk).order_by("-id").values("id")[:1]
    found = Export.objects.filter(pk=pk).order_by().annotate(timeline_head=Subquery(head))
    return found.values_list(*VERSION_FIELDS, "timeline_head")[:1]


@cache
def _compiled() -> tuple[str, tuple[object, ...], SQLCompiler, dict[int, Any]]:
    """The version query as SQL, compiled once: per poll, compiling it would cost more than
    running it. Its parameters name the export where they hold the sentinel. With it, the
    converters the ORM applies to its columns (on SQLite a timestamp comes back naive, and
    only the converter makes it the aware datetime the rest of the portal reckons with)."""
    compiler = _version_query(_SENTINEL).query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    converters = compiler.get_converters([column for column, _, _ in compiler.select])
    return sql, tuple(params), compiler, converters


def load(pk: int) -> tuple[Export, int | None] | None:
    """The export's fields the version needs (an unsaved `Export` holding only those) and
    the id of the newest event of its timeline, in one query; None if there is no such
    export."""
    sql, params, compiler, converters = _compiled()
    values: list[Any] = [
        pk if p == _SENTINEL else str(pk) if p == str(_SENTINEL) else p for p in params
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = next(iter(compiler.apply_converters([row], converters)))
    return Export(**dict(zip(VERSION_FIELDS, row[:-1], strict=True))), row[-1]


def may_see(request: HttpRequest, export: Export) -> bool:
    """The rule of `Export.objects.visible_to`, asked of an export already loaded."""
    user = request.user
    return user.is_authenticated and (export.owner_id == user.pk or is_auditor(user))


def clock_words(export: Export, now: datetime) -> tuple[str, str, bool]:
    """What the fragment says that moves with the clock alone, as the page words it."""
    # Without a stored estimate the words come from the row ("estimating…" or "unknown"),
    # whose changes move the version anyway; this `export` holds only VERSION_FIELDS.
    left = time_left_words(export, remaining_time(export, now))
    return duration(export.elapsed(now)), left, is_stalled(export, now)


def version(request: HttpRequest, export: Export, timeline_head: int | None, now: datetime) -> str:
    """The fragment's ETag (weak: the CSRF token in its forms is masked anew each time)."""
    parts = (
        export.pk,
        export.updated_at.isoformat(),
        timeline_head,
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
