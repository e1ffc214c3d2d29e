"""Who a request comes from, for the per-client-address limits (streams, guest sign-ins,
queue joins): the socket's peer, or, only when that peer is a trusted proxy, the
right-most ``X-Forwarded-For`` entry that is not a trusted proxy itself (entries left of
it were written by whoever sent the request and prove nothing).

Addresses in the exempt list (loopback by default) are not limited: a client on this host
is the operator or a test; behind a local proxy, list it in ``TICKETMASTER_TRUSTED_PROXIES``
so clients are seen by their real address. An IPv6 client is limited by its /64, which one
subscriber usually holds whole (limiting single addresses would let them rotate).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

from ticketmaster.config import Network, Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_IPV6_SUBSCRIBER_PREFIX = 64


def _parse(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address, networks: Iterable[Network]) -> bool:
    return any(address in network for network in networks)


class ClientAddresses:
    """Resolves the limiting key of a request's client (None: not limited)."""

    def __init__(self, trusted_proxies: tuple[Network, ...], exempt: tuple[Network, ...]) -> None:
        self._trusted = trusted_proxies
        self._exempt = exempt

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientAddresses:
        return cls(settings.trusted_proxies, settings.client_limit_exempt)

    def address(self, scope: Scope) -> Address | None:
        """The client's address, or None when the socket has no IP peer (a Unix socket)."""
        peer = scope.get("client")
        client = _parse(peer[0]) if peer else None
        if client is None or not self._trusted or not _within(client, self._trusted):
            return client
        forwarded = [
            value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"
        ]
        for entry in reversed(",".join(forwarded).split(",")):
            hop = _parse(entry)
            if hop is None:
                break  # a garbled hop: the last trusted proxy stands for the client
            client = hop
            if not _within(hop, self._trusted):
                break
        return client

    def limit_key(self, scope: Scope) -> str | None:
        """What the per-client limits count by: the address (an IPv6 client's /64), or None
        when the client is exempt or has no address."""
        client = self.address(scope)
        if client is None or _within(client, self._exempt):
            return None
        if isinstance(client, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((client, _IPV6_SUBSCRIBER_PREFIX), strict=False))
        return str(client)
