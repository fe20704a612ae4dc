"""An export's evidence pack, for auditors: the signed JSON document to take away, and the
same document as a printable page. Each download is itself recorded first."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.views.decorators.http import require_GET

from ims_portal.accounts.access import role_required
from ims_portal.accounts.roles import AUDITOR
from ims_portal.audit import keys, signing
from ims_portal.audit.models import Action
from ims_portal.audit.trail import record
from ims_portal.exports import evidence
from ims_portal.exports.models import Export
from ims_portal.pages import SignedInRequest

auditor_required = role_required(AUDITOR)


def _pack(request: SignedInRequest, pk: int, form: str) -> dict[str, Any] | HttpResponse:
    export = get_object_or_404(Export, pk=pk)
    if not keys.configured():
        return HttpResponse("No audit signing key is configured.", status=503)
    record(request.user, Action.AUDIT_EVIDENCE, export, form=form, **export.audit_facts())
    return evidence.pack(export, request.user.get_username())


@auditor_required
@require_GET
def evidence_json(request: SignedInRequest, pk: int) -> HttpResponse:
    """The evidence pack as a signed JSON file."""
    document = _pack(request, pk, "json")
    if isinstance(document, HttpResponse):
        return document
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="evidence-export-{pk}.json"'
    return response


@auditor_required
@require_GET
def evidence_page(request: SignedInRequest, pk: int) -> HttpResponse:
    """The evidence pack as a page to read or print (the JSON file is what verifies)."""
    document = _pack(request, pk, "page")
    if isinstance(document, HttpResponse):
        return document
    context = {
        "pack": document,
        "fingerprint": signing.fingerprint(keys.public_key()),
        "rows": [
            (event, json.dumps(event["details"], sort_keys=True, ensure_ascii=False))
            for event in document["events"]
        ],
    }
    return TemplateResponse(request, "exports/evidence.html", context)
