"""The API tokens page: a person makes, lists and revokes their own tokens.

Any portal role may hold tokens (auditors script their reading too), so the page is one
of the user's own settings (`own_settings_required`). A new token's secret is shown in the
answer to the POST that made it and never again: the portal keeps only its digest.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from ims_portal.accounts.access import own_settings_required
from ims_portal.api import tokens
from ims_portal.api.forms import TokenForm
from ims_portal.api.models import ApiToken, Scope
from ims_portal.pages import SignedInRequest


@own_settings_required
@require_http_methods(["GET", "POST"])
def token_list(request: SignedInRequest) -> HttpResponse:
    """The user's tokens and the form that makes one; a valid POST shows the new secret."""
    issued = None
    status = 200
    if request.method == "POST":
        form = TokenForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            issued = tokens.issue(request.user, data["name"], Scope(data["scope"]), data["days"])
            form = TokenForm(user=request.user)
            status = 201
        else:
            status = 422
    else:
        form = TokenForm(user=request.user)
    context = {
        "form": form,
        "issued": issued,
        "tokens": ApiToken.objects.filter(user=request.user),
        "api_url": request.build_absolute_uri(reverse("api:reference")),
    }
    return TemplateResponse(request, "api/tokens.html", context, status=status)


@own_settings_required
@require_POST
def revoke_token(request: SignedInRequest, pk: int) -> HttpResponse:
    """Revoke one of the user's own tokens (anyone else's is not found)."""
    token = ApiToken.objects.filter(pk=pk, user=request.user).first()
    if token is None:
        raise Http404("No such token.")
    if tokens.revoke(token, request.user):
        messages.success(request, f"Token “{token.name}” is revoked; it no longer opens anything.")
    return redirect("tokens:list")
