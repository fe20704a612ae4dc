"""Who may do what, for every URL the project defines.

The routes come from the URL resolver, so a new view cannot escape: a route missing from
`MATRIX` fails `test_every_route_of_the_project_is_in_the_matrix`. Each portal route is
requested with every method by six personas (anonymous, two exporters, an auditor, a user
with no role, a superuser with no role) and must answer exactly the status in the table.
The admin site is checked as a whole: no portal persona gets in, the superuser does.

Company SSO is on (password sign-in off), as in production.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from ims_portal.accounts.roles import AUDITOR, EXPORTER
from ims_portal.exports.models import Export, Status

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "exporter_a", "exporter_b", "auditor", "no_role", "superuser")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
METHODS = ("GET", *UNSAFE)

SIGN_IN = "302 to sign-in"
PROVIDER = "302 to the provider"
Expected = tuple[int | str, int | str, int | str, int | str, int | str, int | str]


def everyone(status: int | str) -> Expected:
    return (status,) * 6


def table(get: Expected, unsafe: Expected, **per_method: Expected) -> dict[str, Expected]:
    """Expected statuses by method: GET, then every unsafe method unless named."""
    return {"GET": get, **dict.fromkeys(UNSAFE, unsafe), **per_method}


# Personas:                 anonymous  exp. A  exp. B  auditor  no role  superuser
READ_ALL = table(
    get=(SIGN_IN, 200, 200, 200, 403, 403),
    unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
)
EXPORTER_PAGE = table(
    get=(SIGN_IN, 200, 200, 403, 403, 403),
    unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
)
OWN_EXPORT = table(
    get=(SIGN_IN, 200, 404, 200, 403, 403),
    unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
)
AUDITOR_PAGE = table(
    get=(SIGN_IN, 403, 403, 200, 403, 403),
    unsafe=(SIGN_IN, 403, 403, 403, 403, 403),
)
PUBLIC_PAGE = table(get=everyone(200), unsafe=everyone(405))
# The pages' own settings (API tokens): every role may change what it holds.
OWN_SETTINGS = table(
    get=(SIGN_IN, 200, 200, 200, 403, 403),
    unsafe=(SIGN_IN, 405, 405, 405, 403, 403),
)

# The REST API: the same access as the pages, but 401 for nobody signed in, not a redirect.
API_READ_ALL = table(get=(401, 200, 200, 200, 403, 403), unsafe=(401, 405, 405, 403, 403, 403))
API_EXPORTER = table(get=(401, 200, 200, 403, 403, 403), unsafe=(401, 405, 405, 403, 403, 403))
API_OWN_EXPORT = table(get=(401, 200, 404, 200, 403, 403), unsafe=(401, 405, 405, 403, 403, 403))
API_AUDITOR = table(get=(401, 403, 403, 200, 403, 403), unsafe=(401, 403, 403, 403, 403, 403))


def api_action(post: Expected) -> dict[str, Expected]:
    """An action on one export (POST only): the persona's answer to a POST is `post`."""
    return table(
        get=(401, 405, 405, 403, 403, 403), unsafe=(401, 405, 405, 403, 403, 403), POST=post
    )


@dataclass(frozen=True)
class World:
    """What the matrix's URLs point at."""

    export: Export  # exporter A's
    auditor: Any

    def token_pk(self) -> int:
        """A personal API token of exporter A's."""
        from ims_portal.api import tokens
        from ims_portal.api.models import Scope

        return tokens.issue(self.export.owner, "matrix", Scope.READ, 7).token.pk

    def running_export_pk(self) -> int:
        """Another export of exporter A's, one the cloud is running: it can be abandoned."""
        mine = self.export
        return Export.objects.create(
            owner=mine.owner,
            image_id=f"{mine.image_id}-running",
            image_name=mine.image_name,
            image_size=mine.image_size,
            bucket=mine.bucket,
            object_name=f"running-{mine.object_name}",
            file_format=mine.file_format,
            status=Status.RUNNING,
        ).pk

    def webhook_pk(self) -> int:
        """A webhook of exporter A's: only A may see, change, test or remove it."""
        from ims_portal.notifications.models import Channel, Subscription, new_secret

        return Subscription.objects.create(
            owner=self.export.owner,
            channel=Channel.WEBHOOK,
            url="https://hooks.example.com/ims",
            secret=new_secret(),
        ).pk

    def audit_event_pk(self) -> int:
        """An event of the audit trail: the auditor's sign-in, which the trail records."""
        from ims_portal.audit.models import AuditEvent

        Client().force_login(self.auditor)
        return AuditEvent.objects.latest("pk").pk


@dataclass(frozen=True)
class Row:
    expected: dict[str, Expected]
    kwargs: Callable[[World], dict[str, Any]] = lambda world: {}


EXPORTER_ACTION = table(
    get=(SIGN_IN, 405, 405, 403, 403, 403),
    unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
    POST=(SIGN_IN, 302, 302, 403, 403, 403),
)


def own_webhook_action(status: int) -> dict[str, Expected]:
    """A POST on exporter A's webhook: A gets `status`, everyone else cannot see it."""
    return table(
        get=(SIGN_IN, 405, 405, 403, 403, 403),
        unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
        POST=(SIGN_IN, status, 404, 403, 403, 403),
    )


def WEBHOOK(world: World) -> dict[str, Any]:
    return {"pk": world.webhook_pk()}


MATRIX: dict[str, Row] = {
    "home": Row(READ_ALL),  # the overview
    "overview_live": Row(READ_ALL),
    # The overview's live stream: here (no ASGI server) 204, "no stream, poll".
    "overview_events": Row(
        table(get=(SIGN_IN, 204, 204, 204, 403, 403), unsafe=(SIGN_IN, 405, 405, 403, 403, 403))
    ),
    "exports:history": Row(READ_ALL),
    # The history's live stream: here (no ASGI server) 204, "no stream, poll"; refused as the
    # page is.
    "exports:history_events": Row(
        table(get=(SIGN_IN, 204, 204, 204, 403, 403), unsafe=(SIGN_IN, 405, 405, 403, 403, 403))
    ),
    "exports:new": Row(
        table(
            get=(SIGN_IN, 200, 200, 403, 403, 403),
            unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
            POST=(SIGN_IN, 422, 422, 403, 403, 403),  # an empty form: nothing saved
        )
    ),
    "exports:check_field": Row(
        table(
            get=(SIGN_IN, 405, 405, 403, 403, 403),
            unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
            POST=(SIGN_IN, 200, 200, 403, 403, 403),
        ),
        lambda world: {"field": "bucket"},
    ),
    "exports:image_picker": Row(EXPORTER_PAGE),
    "exports:bucket_picker": Row(EXPORTER_PAGE),
    "exports:detail": Row(OWN_EXPORT, lambda world: {"pk": world.export.pk}),
    "exports:status": Row(OWN_EXPORT, lambda world: {"pk": world.export.pk}),
    # The live stream: here (no ASGI server) 204, "no stream, poll"; refused as a poll is.
    "exports:events": Row(
        table(get=(SIGN_IN, 204, 404, 204, 403, 403), unsafe=(SIGN_IN, 405, 405, 403, 403, 403)),
        lambda world: {"pk": world.export.pk},
    ),
    "exports:verification": Row(OWN_EXPORT, lambda world: {"pk": world.export.pk}),
    "exports:cancel": Row(
        table(
            get=(SIGN_IN, 405, 405, 403, 403, 403),
            unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
            POST=(SIGN_IN, 302, 404, 403, 403, 403),
        ),
        lambda world: {"pk": world.export.pk},
    ),
    "exports:abandon": Row(
        table(
            get=(SIGN_IN, 200, 404, 403, 403, 403),
            unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
            POST=(SIGN_IN, 422, 404, 403, 403, 403),  # no reason given: nothing changes
        ),
        lambda world: {"pk": world.running_export_pk()},
    ),
    "notifications:settings": Row(EXPORTER_PAGE),
    "notifications:email_log": Row(EXPORTER_PAGE),
    "notifications:email": Row(EXPORTER_ACTION),  # nothing ticked: no e-mail at all
    "notifications:email_test": Row(EXPORTER_ACTION),
    "notifications:add_webhook": Row(
        table(
            get=(SIGN_IN, 405, 405, 403, 403, 403),
            unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
            POST=(SIGN_IN, 422, 422, 403, 403, 403),  # an empty form: nothing saved
        )
    ),
    "notifications:webhook": Row(own_webhook_action(422), WEBHOOK),  # empty: nothing changes
    "notifications:delete_webhook": Row(own_webhook_action(302), WEBHOOK),
    "notifications:secret": Row(own_webhook_action(200), WEBHOOK),
    "notifications:rotate_secret": Row(own_webhook_action(200), WEBHOOK),
    "notifications:webhook_test": Row(own_webhook_action(302), WEBHOOK),
    "notifications:webhook_log": Row(
        table(
            get=(SIGN_IN, 200, 404, 403, 403, 403),
            unsafe=(SIGN_IN, 405, 405, 403, 403, 403),
        ),
        WEBHOOK,
    ),
    "accounts:login": Row(PUBLIC_PAGE),  # no password is taken: SSO is on
    "accounts:logout": Row(table(get=everyone(405), unsafe=everyone(405), POST=everyone(302))),
    "accounts:signed_out": Row(PUBLIC_PAGE),
    "accounts:sso_start": Row(table(get=everyone(PROVIDER), unsafe=everyone(405))),
    "accounts:sso_callback": Row(table(get=everyone(403), unsafe=everyone(405))),
    "audit:events": Row(AUDITOR_PAGE),
    "audit:detail": Row(AUDITOR_PAGE, lambda world: {"pk": world.audit_event_pk()}),
    "audit:export": Row(AUDITOR_PAGE, lambda world: {"fmt": "csv"}),
    "audit:key": Row(AUDITOR_PAGE),
    "audit:key_pem": Row(AUDITOR_PAGE),
    "exports:evidence": Row(AUDITOR_PAGE, lambda world: {"pk": world.export.pk}),
    "exports:evidence_json": Row(AUDITOR_PAGE, lambda world: {"pk": world.export.pk}),
    "tokens:list": Row(
        {**OWN_SETTINGS, "POST": (SIGN_IN, 422, 422, 422, 403, 403)}  # an empty form
    ),
    "tokens:revoke": Row(
        table(
            get=(SIGN_IN, 405, 405, 405, 403, 403),
            unsafe=(SIGN_IN, 405, 405, 405, 403, 403),
            POST=(SIGN_IN, 302, 404, 404, 403, 403),  # only its owner finds it
        ),
        lambda world: {"pk": world.token_pk()},
    ),
    "api:reference": Row(PUBLIC_PAGE),
    "api:schema": Row(PUBLIC_PAGE),
    "api:unknown_endpoint": Row(table(get=everyone(404), unsafe=everyone(404))),
    "api:images": Row(API_EXPORTER),
    "api:buckets": Row(API_EXPORTER),
    "api:exports": Row(
        {**API_READ_ALL, "POST": (401, 422, 422, 403, 403, 403)}  # an empty body: nothing saved
    ),
    "api:export": Row(API_OWN_EXPORT, lambda world: {"pk": world.export.pk}),
    "api:retry": Row(
        api_action((401, 409, 404, 403, 403, 403)),  # queued: nothing to retry yet
        lambda world: {"pk": world.export.pk},
    ),
    "api:abandon": Row(
        api_action((401, 422, 404, 403, 403, 403)),  # no reason given: nothing changes
        lambda world: {"pk": world.running_export_pk()},
    ),
    "api:cancel": Row(
        api_action((401, 200, 404, 403, 403, 403)), lambda world: {"pk": world.export.pk}
    ),
    "api:audit_events": Row(API_AUDITOR),
    "api:audit_event": Row(API_AUDITOR, lambda world: {"pk": world.audit_event_pk()}),
    "api:audit_export": Row(API_AUDITOR, lambda world: {"fmt": "csv"}),
}


@dataclass(frozen=True)
class Route:
    name: str  # namespace:name, or the route itself for an unnamed one
    route: str  # the pattern, as written, from the root


def project_routes() -> list[Route]:
    """Every route of the project, from the URL resolver."""

    def walk(patterns: list[Any], prefix: str, namespace: str) -> list[Route]:
        found = []
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = ":".join(filter(None, [namespace, pattern.namespace]))
                found += walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                name = ":".join(filter(None, [namespace, pattern.name])) if pattern.name else route
                found.append(Route(name, route))
        return found

    return walk(get_resolver().url_patterns, "", "")


PORTAL_ROUTES = [r for r in project_routes() if not r.route.startswith("admin/")]
ADMIN_ROUTES = [r for r in project_routes() if r.route.startswith("admin/")]


def path_of(route: str, values: dict[str, Any]) -> str:
    """The URL of a route with its parameters filled in (route syntax or regex)."""

    def value(match: re.Match[str]) -> str:
        return str(values.get(match[1], "1"))

    path = re.sub(r"<(?:\w+:)?(\w+)>", value, route)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", value, path)
    return "/" + path.replace("^", "").replace("$", "")


@pytest.fixture
def world(make_user, make_export, cloud_settings, sim) -> tuple[World, Callable[[str], Client]]:
    """Exporter A's export, and a browser for a persona, freshly signed in (each request
    gets its own, so that a sign-out or a cancel by one cannot change the next)."""
    users = {
        "exporter_a": make_user("alice", EXPORTER),
        "exporter_b": make_user("bob", EXPORTER),
        "auditor": make_user("carol", AUDITOR),
        "no_role": make_user("dave"),
        "superuser": get_user_model().objects.create_superuser("root", "root@example.com", "pw"),
    }

    secrets: dict[str, str] = {}

    def browser(persona: str, via: str = "session") -> Client:
        if persona == "anonymous":
            return Client()
        if via == "token":
            # A token changes nothing by being used: one per persona serves every request.
            if persona not in secrets:
                from ims_portal.api import tokens
                from ims_portal.api.models import Scope

                secrets[persona] = tokens.issue(users[persona], "matrix", Scope.EXPORT, 7).secret
            return Client(HTTP_AUTHORIZATION=f"Bearer {secrets[persona]}")
        client = Client()
        client.force_login(users[persona])
        return client

    return World(export=make_export(users["exporter_a"]), auditor=users["auditor"]), browser


def test_every_route_of_the_project_is_in_the_matrix():
    names = {route.name for route in PORTAL_ROUTES}
    assert sorted(names - MATRIX.keys()) == [], "routes missing from MATRIX"
    assert sorted(MATRIX.keys() - names) == [], "MATRIX rows for routes that are gone"


def meets(response: Any, expected: int | str, oidc_issuer: str) -> bool:
    if expected == SIGN_IN:
        return response.status_code == 302 and response["Location"].startswith(
            reverse("accounts:login") + "?next="
        )
    if expected == PROVIDER:
        return response.status_code == 302 and response["Location"].startswith(oidc_issuer)
    return response.status_code == expected


@pytest.mark.parametrize(
    ("name", "via"),
    [(name, "session") for name in sorted(MATRIX)]
    # The API answers a personal token (of the export scope) exactly as it answers the session.
    + [(name, "token") for name in sorted(MATRIX) if name.startswith("api:")],
)
def test_each_persona_gets_the_expected_status_for_each_method(name, via, sso, world, settings):
    the_world, browser = world
    row = MATRIX[name]
    route = next(r.route for r in PORTAL_ROUTES if r.name == name)
    url = path_of(route, row.kwargs(the_world))
    wrong = []
    for method in METHODS:
        for persona, expected in zip(PERSONAS, row.expected[method], strict=True):
            response = browser(persona, via).generic(method, url)
            if not meets(response, expected, settings.OIDC_ISSUER):
                wrong.append(f"{method} {url} as {persona}: {response.status_code}, not {expected}")
    assert wrong == []


def test_no_portal_persona_gets_into_the_admin_and_the_superuser_does(sso, world):
    _, browser = world
    clients = {persona: browser(persona) for persona in PERSONAS}
    admin_values = {"app_label": "exports", "url": "nowhere/"}
    wrong = []
    for route in ADMIN_ROUTES:
        url = path_of(route.route, admin_values)
        for persona in PERSONAS[:-1]:
            for method in ("GET", "POST"):
                response = clients[persona].generic(method, url)
                # The admin's sign-in, behind the sign-in rate limit under its own name.
                shown_sign_in = (
                    route.name in ("admin:login", "admin_login") and response.status_code == 200
                )
                sent_away = response.status_code in (302, 405) and response.get(
                    "Location", "/admin/"
                ).startswith("/admin/")
                if not (shown_sign_in or sent_away):
                    wrong.append(f"{method} {url} as {persona}: {response.status_code}")
        response = clients["superuser"].get(url)
        if response.status_code >= 500 or response.get("Location", "").startswith("/admin/login/"):
            wrong.append(f"GET {url} as superuser: {response.status_code}")
    assert wrong == []
    assert clients["superuser"].get("/admin/").status_code == 200
