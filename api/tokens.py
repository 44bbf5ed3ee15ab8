"""Access tokens: HS256 JWTs with pinned algorithm, issuer and audience.

The `role` claim is informational only; every request reads the role from the database.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

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
            return TokenSubject(uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["org_id"])))
        except (jwt.PyJWTError, ValueError) as exc:
            raise InvalidToken(str(exc)) from None
