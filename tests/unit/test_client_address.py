"""The client address: the socket peer, or the right-most untrusted X-Forwarded-For hop
when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress

import falcon.testing
import pytest

from api.auth.client_address import ClientAddresses, client_address

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("198.51.100.1", None, "198.51.100.1"),
        ("198.51.100.1", "203.0.113.9", "198.51.100.1"),  # an untrusted peer's header proves nothing
        ("10.0.0.2", None, "10.0.0.2"),
        ("10.0.0.2", "203.0.113.9", "203.0.113.9"),
        ("10.0.0.2", "192.0.2.1, 203.0.113.9, 10.0.0.3", "203.0.113.9"),
        ("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.4"),  # proxies all the way: the left-most
        ("10.0.0.2", "junk, 203.0.113.9", "203.0.113.9"),
        ("10.0.0.2", "203.0.113.9, junk", "10.0.0.2"),  # garbage from a trusted hop: stop there
        ("::1", "2001:db8::5", "2001:db8::5"),
        ("::ffff:198.51.100.3", None, "198.51.100.3"),
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    req = falcon.testing.create_req(remote_addr=peer, headers=headers)
    assert str(client_address(req, PROXIES)) == expected


def test_ipv6_clients_are_counted_per_64_and_clients_without_an_address_by_email() -> None:
    addresses = ClientAddresses()

    def counted_as(peer: str) -> str:
        return addresses.counted_as(falcon.testing.create_req(remote_addr=peer), "a@example.com")

    assert counted_as("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert counted_as("198.51.100.3") == "198.51.100.3"
    assert counted_as("not an address") == "unknown:a@example.com"


def test_with_a_platform_header_only_that_header_counts() -> None:
    """On Vercel the edge sets x-real-ip on every request (a client cannot choose it) and the
    socket peer is Vercel's own: X-Forwarded-For and the peer are not the client."""
    addresses = ClientAddresses(PROXIES, header="x-real-ip")
    req = falcon.testing.create_req(
        remote_addr="10.0.0.2", headers={"X-Real-IP": "198.51.100.7", "X-Forwarded-For": "203.0.113.9"}
    )
    assert str(addresses.of(req)) == "198.51.100.7"
    assert addresses.of(falcon.testing.create_req(remote_addr="10.0.0.2")) is None
    assert addresses.of(falcon.testing.create_req(headers={"X-Real-IP": "junk"})) is None
    assert str(ClientAddresses(PROXIES).of(req)) == "203.0.113.9"
