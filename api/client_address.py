"""Who is asking: the client's address, for throttling.

The socket's peer, unless that peer is one of our own proxies (``TRUSTED_PROXIES``): then the
``X-Forwarded-For`` chain is read from the right, past every proxy we trust, and the first
address we do not trust is the client. Anything a client writes there itself sits to the left of
that address and is never read, so nobody can pick their own address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.requests import HTTPConnection

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

# IPv6 hosts get a /64 each, and can change address within it at will: it counts as one client.
_IPV6_CLIENT_PREFIX = 64


def client_address(connection: HTTPConnection, trusted: Sequence[Network]) -> Address | None:
    """The client's address; None when the server does not know its peer (not over TCP)."""
    peer = _parse(connection.client.host if connection.client else None)
    if peer is None or not _is_trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for header in connection.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
    ]
    return _first_untrusted(peer, reversed(hops), trusted)


def _first_untrusted(peer: Address, hops: Iterable[str], trusted: Sequence[Network]) -> Address:
    nearest = peer
    for hop in hops:
        address = _parse(hop)
        if address is None:  # our proxy would not write that: stop at the last address we know
            return nearest
        if not _is_trusted(address, trusted):
            return address
        nearest = address
    return nearest


def throttle_key(address: Address | None) -> str:
    """The address as throttles count it: IPv4 as is, IPv6 by its /64."""
    if address is None:
        return "unknown"
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, _IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


def _parse(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)
