"""Organization API keys: their format, made and read here; their rules are in the database
(iam.api_keys, iam.enter_api_key_context).

A key reads `tiam_<lookup id>_<secret><checksum>`:
- `tiam_` names the product, so that secret scanners and people know what leaked;
- the lookup id (12 base62 characters, ~71 bits) finds the key's row and is its public
  `prefix` (`tiam_<lookup id>`) in listings; it is no secret;
- the secret is 43 base62 characters: 256 random bits;
- the checksum is the CRC32 of everything before it, in 6 base62 characters, as GitHub's
  tokens carry: a scanner tells a real key from a look-alike offline, and a mistyped key is
  refused without a database round trip.
Only SHA-256 of the whole key is stored: a fast hash is enough for 256 random bits, which
no dictionary holds, and it costs a key-authenticated request nothing measurable.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib
from dataclasses import dataclass

PREFIX = "tiam_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LOOKUP_LENGTH = 12
SECRET_LENGTH = 43  # 62^43 > 2^256
CHECKSUM_LENGTH = 6  # 62^6 > 2^32
SHAPE = re.compile(rf"{PREFIX}([0-9A-Za-z]{{{LOOKUP_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH + CHECKSUM_LENGTH}}})")


def base62(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def random_base62(length: int, bits: int) -> str:
    return base62(secrets.randbits(bits), length)


def checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


@dataclass(frozen=True)
class ApiKey:
    """A key presented by a client: well formed, its checksum right; whether it exists is
    the database's to say."""

    lookup_id: str
    key_hash: bytes

    @property
    def prefix(self) -> str:
        return prefix_of(self.lookup_id)


@dataclass(frozen=True)
class NewApiKey:
    key: str
    lookup_id: str
    key_hash: bytes


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_api_key() -> NewApiKey:
    lookup_id = random_base62(LOOKUP_LENGTH, 71)
    secret = random_base62(SECRET_LENGTH, 256)
    body = f"{PREFIX}{lookup_id}_{secret}"
    key = body + checksum(body)
    return NewApiKey(key, lookup_id, key_hash(key))


def looks_like_api_key(token: str) -> bool:
    """Whether a bearer credential is meant as an API key (rather than an access token)."""
    return token.startswith(PREFIX)


def parse_api_key(token: str) -> ApiKey | None:
    """The key, or None when it is not one: wrong shape, or a checksum that does not match."""
    match = SHAPE.fullmatch(token)
    if match is None:
        return None
    body, given = token[:-CHECKSUM_LENGTH], token[-CHECKSUM_LENGTH:]
    if not secrets.compare_digest(checksum(body), given):
        return None
    return ApiKey(match.group(1), key_hash(token))


def prefix_of(lookup_id: str) -> str:
    return PREFIX + lookup_id
