"""The client's address: the socket's, or X-Forwarded-For read only past our own proxies."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest
from starlette.requests import Request

from api.client_address import client_address, throttle_key

PROXIES = (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))


def _request(peer: str | None, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {
        "type": "http",
        "headers": headers,
        "client": (peer, 5000) if peer else None,
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.1", ["1.2.3.4"], "198.51.100.1"),  # not our proxy: its claim is ignored
        ("10.0.0.5", ["198.51.100.2"], "198.51.100.2"),
        ("10.0.0.5", ["6.6.6.6, 198.51.100.2"], "198.51.100.2"),  # the client's own claim, left
        ("10.0.0.5", ["6.6.6.6, 198.51.100.2, 10.1.1.1"], "198.51.100.2"),  # two proxies of ours
        ("10.0.0.5", ["6.6.6.6", "198.51.100.2"], "198.51.100.2"),  # the header twice
        ("10.0.0.5", ["garbage, 10.1.1.1"], "10.1.1.1"),
        ("10.0.0.5", [], "10.0.0.5"),
        ("::ffff:198.51.100.3", [], "198.51.100.3"),
        ("fd00::1", ["2001:db8::7"], "2001:db8::7"),
    ],
)
def test_the_client_is_the_first_address_we_do_not_trust(
    peer: str, forwarded: list[str], client: str
) -> None:
    assert client_address(_request(peer, *forwarded), PROXIES) == ip_address(client)


def test_no_peer_is_no_address() -> None:
    assert client_address(_request(None, "1.2.3.4"), PROXIES) is None
    assert throttle_key(None) == "unknown"


def test_ipv6_clients_count_by_their_64() -> None:
    assert throttle_key(ip_address("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64"
    assert throttle_key(ip_address("2001:db8:1:2:bbbb::9")) == "2001:db8:1:2::/64"
    assert throttle_key(ip_address("192.0.2.1")) == "192.0.2.1"
