"""The client's address, by one of two rules (ClientAddresses):
- CLIENT_ADDRESS_HEADER set: that header, which the platform's edge sets and overwrites on
  every request, so clients cannot choose it (Vercel: `x-real-ip`). On Vercel the socket peer
  is Vercel's own infrastructure: every client would otherwise have one address.
- otherwise: the socket peer, or, when the peer is a trusted proxy (TRUSTED_PROXIES), the
  right-most address of X-Forwarded-For that is not a trusted proxy. Walking from the right
  matters: everything left of the first untrusted hop was written by the client itself and
  proves nothing.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

import falcon

from api.settings import Network, Settings

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


@dataclass(frozen=True)
class ClientAddresses:
    """How this deployment learns a request's client address (see the module's rules)."""

    trusted_proxies: tuple[Network, ...] = ()
    header: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientAddresses:
        return cls(settings.trusted_proxies, settings.client_address_header)

    def of(self, req: falcon.Request) -> Address | None:
        if self.header is not None:
            return parse_address((req.get_header(self.header) or "").split(",")[0])
        return client_address(req, self.trusted_proxies)

    def counted_as(self, req: falcon.Request, email: str) -> str:
        """Who per-client counters (login, registration) count this request as: its
        address, or its /64 for IPv6, where one client commonly holds a whole /64. A client
        with no usable address is counted with the email alone: one shared "unknown"
        counter would let any such client lock out every other."""
        address = self.of(req)
        if address is None:
            return f"unknown:{email}"
        if isinstance(address, ipaddress.IPv6Address):
            return str(ipaddress.IPv6Network((address, 64), strict=False))
        return str(address)
