"""The API's access check: the pages' own (`accounts.access.refused_for`), plus the scope
of the token a call comes with."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from ims_portal.accounts.access import refused_for
from ims_portal.accounts.signals import access_refused
from ims_portal.api.models import ApiToken
from ims_portal.api.problems import Problem


class PortalAccess(BasePermission):
    """Views name the roles they are open to in `roles`; unsafe methods need an exporter,
    and with a token, a token of the export scope. A missing role is audited as the "no
    access" page is; an anonymous call answers 401 (REST framework's NotAuthenticated)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        roles: tuple[str, ...] = view.roles
        if not request.user.is_authenticated:
            return False
        needed = refused_for(request.user, roles, request.method or "GET")
        if needed:
            access_refused.send(sender=PortalAccess, request=request, needed_roles=needed)
            raise Problem(
                403,
                "no-access",
                "This needs the role " + " or ".join(needed) + ".",
                needed_roles=list(needed),
            )
        token = request.auth
        if (
            isinstance(token, ApiToken)
            and request.method not in SAFE_METHODS
            and not token.may_export
        ):
            raise Problem(
                403,
                "insufficient-scope",
                "This token is read-only; changing anything needs a token of the export scope.",
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="export"'},
            )
        return True
