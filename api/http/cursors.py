"""Opaque pagination cursors: a position in a list, signed so that only cursors this
server issued are accepted (anything else is a 422)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import msgspec

from api.http.problems import FieldError, ValidationProblem

SIGNATURE_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cursors:
    def __init__(self, secret: str) -> None:
        # A key of its own, derived from the token secret: cursors can never pass as tokens.
        self._key = hmac.new(secret.encode(), b"tenant-iam pagination cursor", hashlib.sha256).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def encode(self, kind: str, position: list[str]) -> str:
        payload = msgspec.json.encode([kind, *position])
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, kind: str, cursor: str) -> list[str]:
        """The position of a cursor issued for this kind of list, or a 422."""
        try:
            payload_text, signature_text = cursor.split(".", 1)
            payload, signature = _unb64(payload_text), _unb64(signature_text)
            if hmac.compare_digest(signature, self._sign(payload)):
                values = msgspec.json.decode(payload, type=list[str])
                if values and values[0] == kind:
                    return values[1:]
        except (ValueError, binascii.Error, msgspec.DecodeError):
            pass
        raise invalid_cursor()


def invalid_cursor() -> ValidationProblem:
    return ValidationProblem([FieldError("cursor", "is not a cursor this server issued for this list")])
