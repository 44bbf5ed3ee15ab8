"""GET /.well-known/jwks.json: the public keys that verify access tokens, when they are
signed EdDSA; with a shared HS256 secret there is nothing to publish (404)."""

from __future__ import annotations

import falcon

from api.middleware import Access
from api.problems import problem
from api.tokens import AccessTokens


class JwksResource:
    access = Access.PUBLIC

    def __init__(self, tokens: AccessTokens) -> None:
        self._jwks = tokens.jwks()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._jwks is None:
            raise problem(404, "Not found", "Tokens are signed with a shared secret (HS256): no public key to publish.")
        resp.media = self._jwks
        resp.cache_control = ["public", "max-age=300"]
