"""Where a webhook may be sent: never to the portal's own network, unless an operator says so.

A webhook URL is typed by a user and fetched by a worker inside the company network, so an
unchecked one would let anyone make the worker call internal services (SSRF). The host is
resolved and *every* address it resolves to must be public (`ipaddress.is_global`, and not
multicast); loopback, private, link-local, carrier-grade NAT, reserved and unspecified
addresses are refused. The check runs when a URL is saved and again at each delivery, and
the delivery connects to the very address it checked (`webhooks.post`), so a name that
resolves differently the second time (DNS rebinding) cannot slip through.
NOTIFY_WEBHOOK_ALLOW_PRIVATE lifts the address rule for receivers on the company network.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

SCHEMES = {"http": 80, "https": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedTarget(Exception):
    """The URL may never be delivered to as it stands (scheme, credentials, address)."""


class UnresolvedTarget(Exception):
    """The host name did not resolve now; it may later."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked webhook URL: where to connect, and what to call the host on the wire."""

    scheme: str
    host: str  # as written in the URL (the Host header, TLS server name)
    port: int
    path: str  # with the query
    addresses: tuple[IPAddress, ...]  # every address the host resolved to, all allowed

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == SCHEMES[self.scheme] else f"{host}:{self.port}"


def where_receivers_may_be() -> str:
    """Where this portal delivers webhooks to, in the settings page's words."""
    if settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE:
        return "on the internet or on the company network"
    return "on the internet"


def is_public(address: IPAddress) -> bool:
    """An address on the public internet: not the portal's own or its network's."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse(url: str) -> tuple[str, str, int, str]:
    """The scheme, host, port and path of a webhook URL, or `RefusedTarget`."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise RefusedTarget("only http and https URLs can receive webhooks")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget("leave credentials out of the URL: the signature proves the sender")
    try:
        port = parts.port or SCHEMES[scheme]
    except ValueError as error:
        raise RefusedTarget(f"the port is not valid ({error})") from error
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise RefusedTarget("the URL names no host")
    path = parts.path or "/"
    return scheme, host, port, path + (f"?{parts.query}" if parts.query else "")


def check(url: str) -> Target:
    """Resolve a webhook URL and check every address it resolves to; raise `RefusedTarget`
    or `UnresolvedTarget`."""
    scheme, host, port, path = parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnresolvedTarget(f"{host} does not resolve ({error})") from error
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvedTarget(f"{host} resolves to no address")
    if not settings.NOTIFY_WEBHOOK_ALLOW_PRIVATE:
        refused = [str(a) for a in addresses if not is_public(a)]
        if refused:
            raise RefusedTarget(
                f"{host} resolves to an address on a private, loopback or link-local network"
                f" ({', '.join(refused)}); webhooks go to public addresses only"
            )
    return Target(scheme, host, port, path, tuple(addresses))
