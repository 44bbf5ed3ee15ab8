"""The client's address: the socket peer, or, when the peer is a trusted proxy
(TRUSTED_PROXIES), the right-most address of X-Forwarded-For that is not a trusted proxy.

Walking from the right matters: everything left of the first untrusted hop was written by
the client itself and proves nothing.
"""

from __future__ import annotations

import functools
import ipaddress

import falcon

from api.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)  # every request parses its peer; clients come back
def parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address, proxies: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in proxies)


def client_address(req: falcon.Request, proxies: tuple[Network, ...]) -> Address | None:
    peer = parse_address(req.remote_addr or "")
    if peer is None or not is_trusted(peer, proxies):
        return peer
    address = peer
    for hop in reversed((req.get_header("X-Forwarded-For") or "").split(",")):
        parsed = parse_address(hop)
        if parsed is None:
            break  # garbage: the last trusted hop is the best this request can tell
        address = parsed
        if not is_trusted(parsed, proxies):
            break
    return address


def throttle_subject(address: Address | None) -> str:
    """What login counters are kept per: the address, or its /64 for IPv6, where one
    client commonly holds a whole /64."""
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
