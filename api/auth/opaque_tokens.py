"""Opaque bearer secrets (invitation and refresh tokens): 256 random bits, shown to the
client once and stored as SHA-256 only. A fast hash suffices: they cannot be guessed."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def opaque_token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_opaque_token() -> tuple[str, bytes]:
    """A new token and the hash to store."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, opaque_token_hash(token)
