"""The one reader of `Authorization: Bearer <token>` (RFC 6750): access tokens and the
metrics scraper's token both arrive this way."""

from __future__ import annotations

from falcon.asgi import Request


def bearer_token(req: Request) -> str | None:
    """The token of a Bearer Authorization header (scheme case-insensitive), else None."""
    scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
