"""The ways into the portal, as Django authentication backends.

- `SSOBackend`: company SSO, OpenID Connect authorization code flow (mozilla-django-oidc),
  with the ID token checked in full: signature against the provider's published keys,
  issuer, audience, expiry and nonce.
- `DevelopmentBackend`: the password sign-in of the demo users, only while
  `DEVELOPMENT_SIGN_IN` (DEBUG on and no OIDC_ISSUER).
- `BreakGlassBackend`: otherwise a password lets only a superuser in, through /admin/, for
  when the identity provider is down. A `user_logged_in` whose `user.backend` is
  `BREAK_GLASS` is such a sign-in. Such a session holds no portal role, even for a
  superuser who also has one from SSO: portal roles come from SSO sessions alone, so no
  password opens the portal.

Each finds the session's user through the shared cache (`accounts.user_cache`) and checks it
at every request.
"""

from __future__ import annotations

from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractBaseUser, User
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from ims_portal.accounts import provider
from ims_portal.accounts.identities import UnusableClaims, sign_in_from_claims
from ims_portal.accounts.roles import hold_no_roles
from ims_portal.accounts.signals import roles_changed
from ims_portal.accounts.user_cache import CachedUserMixin

BREAK_GLASS = "ims_portal.accounts.backends.BreakGlassBackend"

# How far the provider's clock may be off ours when checking `exp` and `iat`.
CLOCK_SKEW_SECONDS = 60


class SignInRefused(Exception):
    """An SSO sign-in that must not succeed, with a short machine-readable reason.

    `username` is set only once the provider's answer has been verified far enough to
    trust the name; `status` is the HTTP status of the page that says so.
    """

    def __init__(self, reason: str, username: str = "", status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.username = username
        self.status = status


# PyJWT's verdicts, most specific first, as reasons for `sign_in_refused`.
TOKEN_ERRORS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "token_expired"),
    (jwt.InvalidSignatureError, "token_signature_invalid"),
    (jwt.InvalidAudienceError, "token_audience_invalid"),
    (jwt.InvalidIssuerError, "token_issuer_invalid"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid"),
    (jwt.MissingRequiredClaimError, "token_claim_missing"),
    (jwt.InvalidTokenError, "token_invalid"),
)


class SSOBackend(CachedUserMixin, OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with the provider's endpoints from discovery, the ID
    token checked in full, and users keyed by issuer + subject with roles from groups."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Deliberately not the parent's __init__: it reads fixed endpoint settings, and
        # Django builds a backend on every request (get_user), where no discovery belongs.
        self.UserModel = get_user_model()

    # What the parent reads as attributes, looked up when used (settings can change in tests).
    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return provider.metadata().token_endpoint

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str | None:
        return provider.metadata().userinfo_endpoint

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return provider.metadata().jwks_uri

    @property
    def OIDC_RP_CLIENT_ID(self) -> str:
        return settings.OIDC_CLIENT_ID

    @property
    def OIDC_RP_CLIENT_SECRET(self) -> str:
        return settings.OIDC_CLIENT_SECRET

    @property
    def OIDC_RP_SIGN_ALGO(self) -> str:
        return settings.OIDC_RP_SIGN_ALGO

    OIDC_RP_IDP_SIGN_KEY = None  # keys come from the provider's JWKS, never a fixed key

    def get_settings(self, attr: str, *args: Any) -> Any:
        if attr == "OIDC_TOKEN_USE_BASIC_AUTH":
            return provider.metadata().client_secret_in_header
        return import_from_settings(attr, *args)

    def authenticate(
        self,
        request: HttpRequest | None,
        nonce: str | None = None,
        code_verifier: str | None = None,
    ) -> AbstractBaseUser | None:
        """Exchange the callback's code for tokens, verify the ID token and sign the user in.

        Called only by the callback view (these keyword arguments keep Django from offering
        it username/password sign-ins). Never answers None for a callback: an answer that
        cannot be trusted raises `SignInRefused`, which the callback view reports.
        """
        if request is None or nonce is None or not settings.OIDC_ISSUER:
            return None
        try:
            user = super().authenticate(request, nonce=nonce, code_verifier=code_verifier)
        except SignInRefused:
            raise
        except provider.ProviderUnavailable as error:
            raise SignInRefused("provider_unreachable", status=502) from error
        except requests.HTTPError as error:
            # The provider refused the code: used twice, expired, or the PKCE verifier does
            # not match the challenge.
            raise SignInRefused("code_exchange_refused") from error
        except requests.RequestException as error:
            raise SignInRefused("provider_unreachable", status=502) from error
        except jwt.InvalidTokenError as error:  # not a JWT at all
            raise SignInRefused("token_invalid") from error
        if user is None:
            raise SignInRefused("no_id_token")
        return user

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The ID token's claims, once its signature, claims and nonce have been checked.

        Replaces the parent's, which would also accept unsigned tokens if a setting allowed.
        """
        self._check_algorithm(token)  # before any key is looked up for it
        claims = self._verify_jws(token, self.retrieve_matching_jwk(token))
        if claims.get("nonce") != kwargs.get("nonce"):
            # Not the answer to this browser's request: a token injected or replayed.
            raise SignInRefused("nonce_mismatch")
        return claims

    def retrieve_matching_jwk(self, token: bytes | str) -> jwt.PyJWK:
        """The provider's key for this token, from the cached JWKS (re-read on rotation)."""
        try:
            return provider.signing_key(token.decode() if isinstance(token, bytes) else token)
        except provider.UnknownSigningKey as error:
            raise SignInRefused("token_key_unknown") from error

    def _verify_jws(self, payload: bytes | str, key: Any) -> dict[str, Any]:
        """Check the ID token's signature and its claims (OpenID Connect Core 3.1.3.7):
        issuer, audience, expiry, issue time; the parent checks only the signature."""
        algorithm = self._check_algorithm(payload)
        try:
            claims = jwt.decode(
                payload,
                key,
                algorithms=[algorithm],
                audience=settings.OIDC_CLIENT_ID,
                issuer=settings.OIDC_ISSUER,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.InvalidTokenError as error:
            reason = next(name for kind, name in TOKEN_ERRORS if isinstance(error, kind))
            raise SignInRefused(reason) from error
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != settings.OIDC_CLIENT_ID:
            raise SignInRefused("token_audience_invalid")
        return claims

    def _check_algorithm(self, token: bytes | str) -> str:
        """The token's signature algorithm, if it is the one we accept (OIDC_SIGN_ALGO).

        Never let the token choose: "none", or HS256 keyed with the provider's public key.
        """
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.InvalidTokenError as error:
            raise SignInRefused("token_invalid") from error
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise SignInRefused("token_algorithm_refused")
        return algorithm

    def get_userinfo(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """The userinfo claims, where the provider has that endpoint (Entra ID puts groups
        only in the ID token; others only in userinfo)."""
        if not self.OIDC_OP_USER_ENDPOINT:
            return {}
        try:
            return super().get_userinfo(access_token, id_token, payload)
        except requests.HTTPError as error:
            raise SignInRefused("userinfo_refused") from error

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> AbstractBaseUser:
        """The user of issuer + subject, created or updated from the claims, roles
        recomputed from the groups claim; `roles_changed` is sent when they moved."""
        userinfo = self.get_userinfo(access_token, id_token, payload)
        # Core 5.3.4: userinfo about another subject must not be mixed with this token.
        if userinfo.get("sub", payload["sub"]) != payload["sub"]:
            raise SignInRefused("userinfo_subject_mismatch")
        claims = {**payload, **userinfo}
        try:
            outcome = sign_in_from_claims(payload["iss"], claims)
        except UnusableClaims as error:
            raise SignInRefused("claims_unusable") from error
        user = outcome.user
        if outcome.roles_changed:
            roles_changed.send(
                sender=SSOBackend,
                request=self.request,
                user=user,
                before=outcome.roles_before,
                after=outcome.roles_after,
            )
        if not user.is_active:
            raise SignInRefused("user_inactive", username=user.get_username())
        return user

    def get_user(self, user_id: int) -> User | None:
        """The session's user, unless deactivated since (the parent does not check)."""
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None


class DevelopmentBackend(CachedUserMixin, ModelBackend):
    """Username and password, for the demo users, only while DEVELOPMENT_SIGN_IN is on."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not settings.DEVELOPMENT_SIGN_IN:
            return None
        return super().authenticate(request, username, password, **kwargs)


class BreakGlassBackend(CachedUserMixin, ModelBackend):
    """Username and password of a superuser, for /admin/ when SSO is on (or not set up).

    The portal's own sign-in page takes no password then; only the admin site's does.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if settings.DEVELOPMENT_SIGN_IN:
            return None
        user = super().authenticate(request, username, password, **kwargs)
        return self._admin_only(user)

    def get_user(self, user_id: int) -> User | None:
        """The session's user while still a superuser (a demoted one is signed out), with
        no portal role: the session reaches /admin/ only."""
        return self._admin_only(super().get_user(user_id))

    @staticmethod
    def _admin_only(user: User | None) -> User | None:
        if user is None or not user.is_superuser:
            return None
        hold_no_roles(user)
        return user
