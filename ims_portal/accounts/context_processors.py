from django.http import HttpRequest

from ims_portal.accounts.roles import is_auditor, is_exporter


def roles(request: HttpRequest) -> dict[str, bool]:
    """Let templates ask `is_exporter` / `is_auditor` to show or hide actions."""
    user = request.user
    return {"is_exporter": is_exporter(user), "is_auditor": is_auditor(user)}
