"""GET /.well-known/jwks.json: the public keys that verify access tokens, when they are
signed EdDSA; with a shared HS256 secret there is nothing to publish (404)."""

from __future__ import annotations

import msgspec
from falcon.asgi import Request, Response

from api.auth.access_tokens import AccessTokens
from api.context import Access
from api.http.openapi import operation
from api.http.problems import problem
from api.http.responses import Jwks


class JwksResource:
    access = Access.PUBLIC

    def __init__(self, tokens: AccessTokens) -> None:
        found = tokens.jwks()
        self._jwks = None if found is None else msgspec.convert(found, Jwks)

    @operation("The public keys that verify access tokens (EdDSA only)", ok={200: Jwks}, errors=(404,))
    async def on_get(self, req: Request, resp: Response) -> None:
        if self._jwks is None:
            raise problem(404, "Not found", "Tokens are signed with a shared secret (HS256): no public key to publish.")
        resp.media = self._jwks
        resp.cache_control = ["public", "max-age=300"]
