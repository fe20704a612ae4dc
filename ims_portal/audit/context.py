"""Where the current piece of work comes from: request id, source IP and user agent.

The request middleware (and, in workers, the Celery task hooks) bind an `Origin` for the
duration of one request or task; `trail.record` and the logging filter read it, so neither
needs the request passed down through every call.

The request id is the correlation id: a task sent while a request or task is bound carries
its id on (`task_origin.py`), and the cloud client sends it as `X-Request-Id`, so one id
follows an export from the click through every task to the cloud.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# What an incoming X-Request-Id must look like to be kept: a proxy's or load balancer's id
# (UUIDs, hex, AWS-style `Root=1-...`). Anything else, log injection included, is replaced.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+-]{7,63}")
USER_AGENT_MAX = 512


@dataclass(frozen=True)
class Origin:
    request_id: str = ""
    ip: str = ""
    user_agent: str = ""
    task_id: str = ""  # in a worker: the Celery task at work (logs name it beside the id)


NOWHERE = Origin()  # outside any request or task (frozen, so safe to share)
_current: ContextVar[Origin] = ContextVar("audit_origin", default=NOWHERE)


def current() -> Origin:
    """The origin of the work in progress (empty outside a request or task)."""
    return _current.get()


def bind(origin: Origin) -> Token[Origin]:
    """Make `origin` current until `unbind(token)`, for hooks that open and close apart."""
    return _current.set(origin)


def unbind(token: Token[Origin]) -> None:
    """Restore the origin that was current before `bind` returned `token`."""
    _current.reset(token)


@contextmanager
def bound(origin: Origin) -> Iterator[Origin]:
    """Make `origin` current for the duration of the block."""
    token = bind(origin)
    try:
        yield origin
    finally:
        unbind(token)


@contextmanager
def continuing(request_id: str) -> Iterator[Origin]:
    """Carry on the work of an earlier request for the block: the current origin with its
    request id replaced by `request_id` (unchanged if that is blank).

    For a worker acting on something a request started (the reconciler re-sending an
    export's task), so what it logs, audits and sends stays under the export's one id.
    """
    origin = current()
    if request_id:
        origin = replace(origin, request_id=request_id)
    with bound(origin) as bound_origin:
        yield bound_origin


def request_id_from(incoming: str | None) -> str:
    """Keep a well-formed incoming request id, or make a new one."""
    if incoming and REQUEST_ID_PATTERN.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def from_trusted_proxy(meta: Mapping[str, str], trusted: Iterable[IpNetwork]) -> bool:
    """Whether the request's socket peer is one of the trusted reverse proxies."""
    peer = _address(meta.get("REMOTE_ADDR", ""))
    return peer is not None and any(peer in network for network in trusted)


def parse_networks(values: Iterable[str]) -> tuple[IpNetwork, ...]:
    """`TRUSTED_PROXIES` entries (addresses or CIDR networks); raises ValueError on junk."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped  # one spelling per client
    return address


def client_ip(meta: Mapping[str, str], trusted: Iterable[IpNetwork]) -> str:
    """The client's address: the socket peer, unless that peer is a trusted proxy.

    Only then is `X-Forwarded-For` read, right to left, skipping further trusted proxies:
    the first address no trusted proxy vouches for is the client. Anything left of it
    could have been written by the client itself.
    """
    trusted = tuple(trusted)
    peer = _address(meta.get("REMOTE_ADDR", ""))
    if peer is None:
        return ""

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in trusted)

    if not is_trusted(peer):
        return str(peer)
    forwarded = [part for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    client = peer
    for part in reversed(forwarded):
        address = _address(part)
        if address is None:
            break  # a malformed hop: trust nothing beyond it
        client = address
        if not is_trusted(address):
            break
    return str(client)


def origin_of_request(meta: Mapping[str, str], trusted: Iterable[IpNetwork]) -> Origin:
    """The origin of a request, from its WSGI environ (`request.META`)."""
    trusted = tuple(trusted)
    # A request id names the request in the proxy's logs too; only a proxy we trust may set
    # it, or a client could make its events look like someone else's in the trail.
    incoming = meta.get("HTTP_X_REQUEST_ID") if from_trusted_proxy(meta, trusted) else None
    return Origin(
        request_id=request_id_from(incoming),
        ip=client_ip(meta, trusted),
        user_agent=meta.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
    )
