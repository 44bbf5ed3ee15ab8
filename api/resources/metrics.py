"""GET /metrics for Prometheus. Tenants must not read it: with METRICS_TOKEN set it needs
`Authorization: Bearer <METRICS_TOKEN>`; unset, it answers only clients on this machine
(a loopback peer that is not a trusted proxy, whose clients could be anyone)."""

from __future__ import annotations

import hmac

from falcon.asgi import Request, Response

from api.auth.client_address import is_trusted, parse_address
from api.context import Access
from api.http.bearer import bearer_token
from api.http.openapi import operation
from api.http.problems import problem, unauthorized
from api.observability.metrics import render
from api.settings import Network


class MetricsResource:
    access = Access.PUBLIC

    def __init__(self, token: str | None, trusted_proxies: tuple[Network, ...]) -> None:
        self._token = token.encode() if token else None
        self._trusted_proxies = trusted_proxies

    @operation(
        "Prometheus metrics (METRICS_TOKEN as a bearer token, or loopback clients when unset)",
        ok={200: str},
        media_type="text/plain",
        errors=(401, 403),
    )
    async def on_get(self, req: Request, resp: Response) -> None:
        if self._token is not None:
            given = bearer_token(req) or ""
            if not hmac.compare_digest(given.encode(), self._token):
                raise unauthorized("Send METRICS_TOKEN as 'Authorization: Bearer <token>'.")
        else:
            peer = parse_address(req.remote_addr or "")
            local = peer is not None and peer.is_loopback and not is_trusted(peer, self._trusted_proxies)
            if not local:
                raise problem(403, "Forbidden", "Metrics answer local clients only, unless METRICS_TOKEN is set.")
        body, content_type = render()
        resp.data = body
        resp.content_type = content_type
        resp.cache_control = ["no-store"]
