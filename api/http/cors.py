"""Cross-origin access for browser clients, through Falcon's own CORSMiddleware: only the
origins in CORS_ALLOWED_ORIGINS (none by default), preflight included. Clients send bearer
tokens, not cookies, so credentials are never allowed, let alone for a wildcard."""

from __future__ import annotations

import falcon

# Headers a browser script may read beyond the CORS-safelisted ones.
EXPOSED = ("ETag", "X-Request-ID", "Retry-After", "WWW-Authenticate")


class Cors(falcon.CORSMiddleware):  # type: ignore[type-arg]  # its parameters are ASGI types
    def __init__(self, origins: tuple[str, ...]) -> None:
        super().__init__(allow_origins=origins, expose_headers=EXPOSED, allow_credentials=None)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        super().process_response(req, resp, resource, req_succeeded)
        # The answer depends on the Origin header: caches must keep one copy per origin.
        resp.append_header("Vary", "Origin")
