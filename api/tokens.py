"""Access tokens: HS256 JWTs with pinned algorithm, issuer and audience.

PyJWT checks the signature and the times; on top, a token must carry integer `iat` and
`exp` no further apart than the configured lifetime (plus leeway), and a single string
audience: PyJWT would take `exp` as a numeric string or as 1e300, and `aud` as a list.
The `role` claim is informational only; every request reads the role from the database.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from api.text import ascii_uuid

ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ["sub", "org_id", "iat", "exp", "iss", "aud", "jti"]


class InvalidToken(Exception):
    """The token is missing, malformed, expired, forged or for another audience."""


@dataclass(frozen=True)
class TokenSubject:
    user_id: uuid.UUID
    organization_id: uuid.UUID


@dataclass(frozen=True)
class AccessTokens:
    secret: str
    issuer: str
    audience: str
    ttl_seconds: int

    def issue(self, user_id: uuid.UUID, organization_id: uuid.UUID, role: str) -> str:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "org_id": str(organization_id),
            "role": role,
            "iat": now,
            "exp": now + self.ttl_seconds,
            "iss": self.issuer,
            "aud": self.audience,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> TokenSubject:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        issued_at, expires_at = claims["iat"], claims["exp"]
        # type() rather than isinstance(): JSON true would pass as the integer 1.
        if type(issued_at) is not int or type(expires_at) is not int:
            raise InvalidToken("iat and exp must be integers")
        if expires_at - issued_at > self.ttl_seconds + LEEWAY_SECONDS:
            raise InvalidToken("the token outlives the configured lifetime")
        if not isinstance(claims["aud"], str):
            raise InvalidToken("aud must be a single string")
        return TokenSubject(uuid_claim(claims, "sub"), uuid_claim(claims, "org_id"))


def uuid_claim(claims: dict[str, Any], name: str) -> uuid.UUID:
    value = claims[name]
    found = ascii_uuid(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidToken(f"{name} must be a UUID")
    return found
