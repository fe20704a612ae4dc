"""Signals the accounts app sends, so that other apps (the audit trail) can record sign-in
events without the accounts code knowing about them.

Sent here, in addition to Django's own `user_logged_in`, `user_logged_out` and
`user_login_failed` (which cover successful sign-in, sign-out and password failures):

- `roles_changed(sender, request, user, before, after)` — at an OpenID Connect sign-in
  whose portal roles differ from the ones the user held before (including the very first
  sign-in, where `before` is empty). `before` and `after` are `frozenset[str]` of role
  names (`"exporter"`, `"auditor"`). Sent after the roles are saved, before the session is
  created.
- `sign_in_refused(sender, request, reason, username)` — an OpenID Connect callback was
  refused: bad or missing `state`, an ID token with a wrong signature, issuer, audience,
  nonce or expiry, an error answered by the provider, or an unusable set of claims.
  `reason` is a short machine-readable string (e.g. `"state_mismatch"`,
  `"token_invalid"`, `"provider_error:access_denied"`); `username` is the preferred
  username when the provider's answer was far enough along to name one, else `""`.
- `access_refused(sender, request, needed_roles)` — a signed-in user was shown the
  "no access" page (HTTP 403); `needed_roles` is the `tuple[str, ...]` of roles any one of
  which would have granted access.

`sender` is the module or class that sent the signal; receivers should accept `**kwargs`.

Telling sign-ins apart with Django's own signals: a `user_logged_in` whose `user.backend` is
`accounts.backends.BREAK_GLASS` is a superuser's password sign-in at /admin/ while SSO is
on; one by `...SSOBackend` came through the identity provider. A `user_logged_out` whose
`request.session_expired` is true ended a session that outlived SESSION_COOKIE_AGE
(`accounts.session_lifetime.SessionLifetimeMiddleware`), not a click on "Sign out".
"""

from django.dispatch import Signal

roles_changed = Signal()
sign_in_refused = Signal()
access_refused = Signal()
