"""Sign-in and sign-out pages.

With `OIDC_ISSUER` set, the sign-in page offers company SSO only: `sso_start` sends the
browser to the provider (state, nonce and a PKCE challenge kept in the session) and
`sso_callback` takes the answer. Without it, in development, the page is the password form
of the demo users. Sign-out ends the portal session and, for SSO users whose provider has
an `end_session_endpoint`, the provider session too (RP-initiated logout).
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.shortcuts import resolve_url
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.generic import TemplateView
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from ims_portal.accounts import provider
from ims_portal.accounts.backends import SignInRefused
from ims_portal.accounts.signals import sign_in_refused

logger = logging.getLogger(__name__)

# What the person is told for each kind of refusal; the reason code is shown for support.
REFUSAL_MESSAGES = {
    "provider_unreachable": "The company sign-in service could not be reached. Try again in a moment.",
    "user_inactive": "Your portal account is switched off. Ask an administrator.",
}
DEFAULT_REFUSAL = (
    "The answer from the company sign-in service could not be accepted, so you were not "
    "signed in. Start again from the sign-in page."
)


class SignInView(LoginView):
    """The sign-in page: the company SSO button, or in development the password form."""

    template_name = "accounts/login.html"
    http_method_names = ["get", "head", "post"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Refuse a password POST unless the development sign-in is on."""
        # No password reaches the portal outside development: not even a superuser's, whose
        # way in is /admin/.
        if request.method == "POST" and not settings.DEVELOPMENT_SIGN_IN:
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """Add the SSO button's address (carrying `next`) and which ways in are on."""
        context = super().get_context_data(**kwargs)
        next_url = context.get("next") or ""
        sso_url = reverse("accounts:sso_start")
        context.update(
            sso_enabled=bool(settings.OIDC_ISSUER),
            development_sign_in=settings.DEVELOPMENT_SIGN_IN,
            sso_url=f"{sso_url}?{urlencode({'next': next_url})}" if next_url else sso_url,
        )
        return context


class SSOStartView(OIDCAuthenticationRequestView):
    """Send the browser to the provider's authorization endpoint (from discovery)."""

    def __init__(self, **kwargs: Any) -> None:
        # Not the parent's __init__, which reads a fixed endpoint setting.
        super(OIDCAuthenticationRequestView, self).__init__(**kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        """Redirect to the provider with state, nonce and a PKCE challenge."""
        if not settings.OIDC_ISSUER:
            raise Http404("Company SSO is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider.metadata().authorization_endpoint
        except provider.ProviderUnavailable:
            return refuse(request, SignInRefused("provider_unreachable", status=502))
        self.OIDC_RP_CLIENT_ID = settings.OIDC_CLIENT_ID
        return super().get(request)


class SSOCallbackView(OIDCAuthenticationCallbackView):
    """Take the provider's answer: check it, sign the user in, or say why not.

    Each refusal (an error from the provider, a missing or unknown state, a code the
    provider will not exchange, an ID token that fails a check) sends `sign_in_refused`
    and shows a page with HTTP 403 (502 when the provider cannot be reached).
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        """Verify the authorization response and sign the user in."""
        if not settings.OIDC_ISSUER:
            raise Http404("Company SSO is not configured.")
        try:
            self.user = self._authenticate(request)
        except SignInRefused as refusal:
            return refuse(request, refusal)
        return self.login_success()

    def _authenticate(self, request: HttpRequest) -> AbstractBaseUser:
        state = request.GET.get("state", "")
        states = request.session.get("oidc_states") or {}
        # A state is good for one answer only, whatever the answer: a replayed response
        # finds it gone.
        pending = states.pop(state, None) if state else None
        request.session["oidc_states"] = states
        # Save now, and let the session load afresh at its next use, after the (slow) token
        # exchange, as mozilla-django-oidc does: sign-ins started meanwhile in other tabs
        # are then not overwritten.
        request.session.save()
        request.session = request.session.__class__(request.session.session_key)

        error = request.GET.get("error")
        if error:
            raise SignInRefused(f"provider_error:{error[:64]}")
        if not state or "code" not in request.GET:
            raise SignInRefused("response_incomplete")
        if pending is None:
            raise SignInRefused("state_mismatch")
        # RFC 9207: a provider that names itself must be ours (mix-up attacks).
        if request.GET.get("iss", settings.OIDC_ISSUER) != settings.OIDC_ISSUER:
            raise SignInRefused("issuer_mismatch")
        user = auth.authenticate(
            request, nonce=pending["nonce"], code_verifier=pending.get("code_verifier")
        )
        if user is None:
            raise SignInRefused("not_configured")
        return user


def refuse(request: HttpRequest, refusal: SignInRefused) -> HttpResponse:
    """Report a refused SSO sign-in (signal, log) and tell the person, politely."""
    logger.warning("SSO sign-in refused: %s %s", refusal.reason, refusal.username)
    sign_in_refused.send(
        sender=SSOCallbackView, request=request, reason=refusal.reason, username=refusal.username
    )
    message = REFUSAL_MESSAGES.get(refusal.reason, DEFAULT_REFUSAL)
    context = {"message": message, "reason": refusal.reason}
    return TemplateResponse(
        request, "accounts/sign_in_refused.html", context, status=refusal.status
    )


class SignOutView(OIDCLogoutView):
    """End the portal session (POST only), then the provider's where it offers that."""

    @property
    def redirect_url(self) -> str:
        """Where the browser lands when the provider offers no sign-out of its own."""
        return resolve_url("accounts:signed_out")


def provider_sign_out_url(request: HttpRequest) -> str:
    """Where sign-out sends the browser: the provider's `end_session_endpoint` for an SSO
    session (RP-initiated logout, back to the signed-out page), else the signed-out page.

    Named by OIDC_OP_LOGOUT_URL_METHOD; called before the portal session ends, while the
    session still holds the ID token that the provider wants as a hint.
    """
    signed_out = reverse("accounts:signed_out")
    id_token = request.session.get("oidc_id_token")
    if not id_token or not settings.OIDC_ISSUER:
        return signed_out
    try:
        endpoint = provider.metadata().end_session_endpoint
    except provider.ProviderUnavailable:
        endpoint = None
    if not endpoint:
        return signed_out
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": request.build_absolute_uri(signed_out),
            "client_id": settings.OIDC_CLIENT_ID,
        }
    )
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


class SignedOutView(TemplateView):
    """Where sign-out ends (and the provider sends the browser back to)."""

    template_name = "accounts/signed_out.html"
    http_method_names = ["get", "head"]
