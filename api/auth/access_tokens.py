"""Access tokens: short-lived JWTs naming a user, an organization and a session.

Signed HS256 with JWT_ACCESS_SECRET, or EdDSA (Ed25519) when JWT_PRIVATE_KEY_FILE is set,
in which case /.well-known/jwks.json publishes the public keys. Every token carries the
`kid` of its key; a previous key (JWT_ACCESS_SECRET_PREVIOUS, JWT_PREVIOUS_PUBLIC_KEY_FILE)
still verifies, so keys rotate without signing anyone out, and stops once removed.

PyJWT checks the signature and the times, with the algorithm pinned per key. On top, a
token must carry integer `iat` and `exp` no further apart than the configured lifetime
(plus leeway), a single string audience, and UUIDs in `sub`, `org_id` and `sid`: PyJWT
would take `exp` as a numeric string or as 1e300, and `aud` as a list. The `role` claim is
informational only; every request reads the role, and the session, from the database. A
session with no organization (its user belongs to none) has tokens without `org_id` and
`role`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from api.settings import Settings, SettingsError
from api.text import ascii_uuid

LEEWAY_SECONDS = 30
# Verified tokens kept per process (about 2 MB). A client sends the same token with every
# request for its lifetime; PyJWT's checks cost ~110 us of GIL-held time per request.
VERIFIED_CACHE_SIZE = 4096
# org_id and role are absent from the token of a session with no organization.
REQUIRED_CLAIMS = ["sub", "sid", "iat", "exp", "iss", "aud", "jti"]


class InvalidToken(Exception):
    """The token is malformed, expired, forged or for another audience. `reason` is one of
    malformed, expired, signature, unknown_key or claims (for metrics, never for clients)."""

    def __init__(self, detail: str, reason: str = "claims") -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class TokenSubject:
    user_id: uuid.UUID
    organization_id: uuid.UUID | None
    session_id: uuid.UUID


@dataclass(frozen=True)
class Key:
    """One key of the key set: `signing` is None for keys that only verify."""

    kid: str
    algorithm: str
    verifying: str | Ed25519PublicKey
    signing: str | Ed25519PrivateKey | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def secret_key(secret: str, *, signing: bool) -> Key:
    # A kid that names the secret without revealing anything usable about it.
    kid = "hs256-" + _b64(hashlib.sha256(b"tenant-iam kid\0" + secret.encode()).digest()[:12])
    return Key(kid, "HS256", secret, secret if signing else None)


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    jwk: dict[str, str] = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    return jwk


def ed25519_key(public_key: Ed25519PublicKey, private_key: Ed25519PrivateKey | None = None) -> Key:
    jwk = public_jwk(public_key)
    # RFC 7638 thumbprint: the required members, sorted, without spaces.
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"))
    return Key(_b64(hashlib.sha256(canonical.encode()).digest()), "EdDSA", public_key, private_key)


def load_private_key(path: Path, variable: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{variable} must hold an unencrypted Ed25519 private key in PEM: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SettingsError(f"{variable} must hold an Ed25519 private key, not {type(key).__name__}")
    return key


def load_public_key(path: Path, variable: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{variable} must hold an Ed25519 public key in PEM: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SettingsError(f"{variable} must hold an Ed25519 public key, not {type(key).__name__}")
    return key


class AccessTokens:
    def __init__(self, *, keys: list[Key], issuer: str, audience: str, ttl_seconds: int) -> None:
        """keys[0] signs; every key verifies the tokens that name its kid."""
        assert keys
        assert keys[0].signing is not None
        self._signing = keys[0]
        self._keys = {key.kid: key for key in keys}
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        # token -> (subject, exp). Only tokens that passed verify() enter; an entry is never
        # used at or past its exp (verify() itself allows the leeway), and the oldest goes
        # first when full. The session and membership are still checked in the database.
        self._verified: dict[str, tuple[TokenSubject, int]] = {}
        self._verified_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessTokens:
        keys: list[Key]
        if settings.jwt_private_key_file is not None:
            private = load_private_key(settings.jwt_private_key_file, "JWT_PRIVATE_KEY_FILE")
            keys = [ed25519_key(private.public_key(), private)]
            if settings.jwt_previous_public_key_file is not None:
                previous = load_public_key(settings.jwt_previous_public_key_file, "JWT_PREVIOUS_PUBLIC_KEY_FILE")
                keys.append(ed25519_key(previous))
        else:
            keys = [secret_key(settings.jwt_access_secret, signing=True)]
            if settings.jwt_access_secret_previous is not None:
                keys.append(secret_key(settings.jwt_access_secret_previous, signing=False))
        return cls(
            keys=keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.jwt_access_ttl_seconds,
        )

    def jwks(self) -> dict[str, list[dict[str, str]]] | None:
        """The public keys as a JWK Set, or None when tokens are signed with a shared secret."""
        public = [
            (key.kid, key.verifying) for key in self._keys.values() if isinstance(key.verifying, Ed25519PublicKey)
        ]
        if not public:
            return None
        return {
            "keys": [{**public_jwk(verifying), "kid": kid, "alg": "EdDSA", "use": "sig"} for kid, verifying in public]
        }

    def issue(
        self,
        user_id: uuid.UUID,
        organization_id: uuid.UUID | None,
        role: str | None,
        session_id: uuid.UUID,
        aal: int = 1,
        amr: tuple[str, ...] = ("pwd",),
    ) -> str:
        now = int(time.time())
        organization = {} if organization_id is None else {"org_id": str(organization_id), "role": role}
        claims = {
            "sub": str(user_id),
            **organization,
            "sid": str(session_id),
            # How the session's user proved who they are (aal 1 or 2, and OIDC's amr values):
            # informational like `role`; the session's own level, read on every request, decides.
            "aal": aal,
            "amr": list(amr),
            "iat": now,
            "exp": now + self.ttl_seconds,
            "iss": self.issuer,
            "aud": self.audience,
            "jti": str(uuid.uuid4()),
        }
        key = self._signing
        assert key.signing is not None
        return jwt.encode(claims, key.signing, algorithm=key.algorithm, headers={"kid": key.kid})

    def verify(self, token: str) -> TokenSubject:
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        subject, expires_at = self._verify_claims(token)
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (subject, expires_at)
        return subject

    def _verify_claims(self, token: str) -> tuple[TokenSubject, int]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise InvalidToken("no key with this kid", "unknown_key")
            claims = jwt.decode(
                token,
                key.verifying,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken(str(exc), "expired") from None
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken(str(exc), "signature") from None
        except jwt.DecodeError as exc:
            raise InvalidToken(str(exc), "malformed") from None
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
        organization_id = None if claims.get("org_id") is None else uuid_claim(claims, "org_id")
        subject = TokenSubject(uuid_claim(claims, "sub"), organization_id, uuid_claim(claims, "sid"))
        return subject, expires_at


def uuid_claim(claims: dict[str, Any], name: str) -> uuid.UUID:
    value = claims[name]
    found = ascii_uuid(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidToken(f"{name} must be a UUID")
    return found
