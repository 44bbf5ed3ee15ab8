"""Second factors: TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps) and recovery codes.

A TOTP secret must be read back to check a code, so it cannot be hashed: it is stored
encrypted with AES-256-GCM under MFA_ENCRYPTION_KEY, a key the database never sees (a dump or
a DBA gets ciphertext only), and no role reads the column (iam.mfa_factors has no grant).
Recovery codes are 80 random bits each and stored as SHA-256, like other random tokens.

A code is accepted for the current step or one step either side (clock drift), and only
for a step newer than the last one accepted: the database keeps that step
(iam.mfa_factors.last_used_step) and moves it forward atomically, so no code works twice.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import pyotp
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes: 0/o, 1/l/i
RECOVERY_LENGTH = 16  # 31^16 > 2^79
# The ciphertext's first byte: the format, so that a later key rotation can tell keys apart.
FORMAT = b"\x01"
NONCE_BYTES = 12
ASSOCIATED_DATA = b"tenant-iam totp secret"


@dataclass(frozen=True)
class TotpSecrets:
    """Encrypts and decrypts TOTP secrets with MFA_ENCRYPTION_KEY."""

    key: bytes

    def seal(self, secret: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return FORMAT + nonce + AESGCM(self.key).encrypt(nonce, secret.encode(), ASSOCIATED_DATA)

    def open(self, sealed: bytes) -> str:
        if sealed[:1] != FORMAT:
            raise ValueError("unknown TOTP secret format")
        nonce, ciphertext = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        return AESGCM(self.key).decrypt(nonce, ciphertext, ASSOCIATED_DATA).decode()


def new_totp_secret() -> str:
    """160 random bits in base32, as authenticator apps take them (RFC 4226's recommendation)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=issuer)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(secret: str, code: str, last_used_step: int, now: float | None = None) -> int | None:
    """The step the code is right for, within the drift and newer than last_used_step; None
    otherwise. Every candidate is compared, so the time taken does not tell which one matched."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    step = current_step(now)
    found = None
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        right = secrets.compare_digest(totp.generate_otp(candidate), code)
        if right and candidate > last_used_step and found is None:
            found = candidate
    return found


def new_recovery_codes() -> list[str]:
    """Codes as shown to the user: 16 characters in groups of four."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    return codes


def recovery_code_hash(code: str) -> bytes:
    """What is stored and compared: the code without separators or case."""
    normalized = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normalized.encode()).digest()
