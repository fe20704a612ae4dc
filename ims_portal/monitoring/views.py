"""The operations endpoints: `/healthz`, `/readyz` and `/metrics`.

Served by `middleware.OperationsMiddleware` ahead of sessions, sign-in, CSRF and the host
check, so that a probe from an orchestrator or a scrape by Prometheus costs no database
read, needs no account and writes no audit event. `/metrics` alone is protected: a bearer
token (`METRICS_TOKEN`) or a source network (`METRICS_ALLOWED_NETWORKS`).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ims_portal.audit import context
from ims_portal.monitoring import readiness, scrape

BEARER = "Bearer "


def healthz(request: HttpRequest) -> HttpResponse:
    """The process answers. Touches nothing else, so it fails only when the process does."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    """Each dependency's state and latency as JSON; 503 when a required one failed."""
    report = readiness.readiness()
    response = JsonResponse(report.as_json(), status=200 if report.ready else 503)
    # Each failed check has logged its warning already; Django would add an ERROR line for
    # every 503, and an orchestrator probes every few seconds.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def metrics(request: HttpRequest, networks: Sequence[context.IpNetwork]) -> HttpResponse:
    """The Prometheus exposition of every process's metrics, for an allowed scraper."""
    refusal = _refusal(request, networks)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(scrape.registry()), content_type=CONTENT_TYPE_LATEST)


def _refusal(request: HttpRequest, networks: Sequence[context.IpNetwork]) -> HttpResponse | None:
    """None if the scraper may read the metrics, else the answer that says why not."""
    token = settings.METRICS_TOKEN
    presented = request.headers.get("Authorization", "")
    if (
        token
        and presented.startswith(BEARER)
        and hmac.compare_digest(presented[len(BEARER) :].encode(), token.encode())
    ):
        return None
    # The client as the audit trail sees it: the socket peer, or what a trusted proxy says.
    client = getattr(request, "client_ip", "")
    if client and any(_address_in(client, network) for network in networks):
        return None
    if token:
        response = HttpResponse("A valid bearer token is required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not networks:
        return HttpResponse(
            "Metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS.\n", status=403
        )
    return HttpResponse("This address may not read the metrics.\n", status=403)


def _address_in(address: str, network: context.IpNetwork) -> bool:
    try:
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False
