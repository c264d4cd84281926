"""Which network addresses a webhook may reach: the rule the API applies to a URL at create
time and the notifier to every address a name resolves to at send time.

A webhook URL is a user's input that makes our server connect somewhere: without this rule it
could make the notifier call into our own network (SSRF), the cloud's metadata service at
169.254.169.254 included. Only addresses routable on the public internet are allowed: not
private, loopback, link-local, shared (carrier-grade NAT), reserved, unspecified or multicast,
nor the IPv4-mapped IPv6 forms of those (``ipaddress``'s ``is_global`` is the test).
``WEBHOOK_ALLOW_PRIVATE=true`` lifts the rule (for tests, and for webhooks inside one's own
network on purpose).
"""

from __future__ import annotations

import ipaddress


def is_public(address: str) -> bool:
    """Whether ``address`` (an IPv4 or IPv6 literal) is routable on the public internet."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone is not part of it
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def ip_literal(host: str) -> str | None:
    """``host`` as an IP address if it is one (``[::1]`` included), else None."""
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None
