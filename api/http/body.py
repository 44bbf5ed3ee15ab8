"""Request bodies and query strings: JSON only, at most 1 MiB, decoded into msgspec structs
that refuse unknown fields; then field checks that report every bad field at once."""

from __future__ import annotations

import re
from typing import TypeVar

import falcon
import msgspec
from falcon.asgi import Request

from api.http.problems import FieldError, ValidationProblem, problem
from api.http.schemas import MAX_EMAIL, MAX_NAME, MAX_PASSWORD, MAX_TOKEN, MIN_PASSWORD
from api.text import has_invisible, nfc, normalize_email

MAX_BODY_BYTES = 1024 * 1024
T = TypeVar("T", bound=msgspec.Struct)

_AT_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.DOTALL)
_NAMED_FIELD = re.compile(r"field `(?P<field>[^`]+)`")
# Pragmatic email syntax: one @, no spaces, a dot in the domain. Deliverability is proven
# by the invitation flow, not by a regex.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


async def read_body(req: Request) -> bytes:
    """The request's body, read once, in full, and kept: TransactionMiddleware reads it before
    the transaction begins, so that a slow client never holds one open."""
    cached: bytes | None = req.context.get("body")
    if cached is not None:
        return cached
    if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
        raise body_too_large()
    data = await req.bounded_stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise body_too_large()
    req.context.body = data
    return data


def body_too_large() -> falcon.HTTPError:
    return problem(413, "Body too large", f"The body must be at most {MAX_BODY_BYTES} bytes.")


async def read_json(req: Request, schema: type[T]) -> T:
    media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise problem(415, "Unsupported media type", "Send the body as application/json.")
    data = await read_body(req)
    try:
        body = msgspec.json.decode(data, type=schema)
    except msgspec.ValidationError as exc:
        raise ValidationProblem([field_error(exc)]) from None
    except msgspec.DecodeError:
        raise problem(400, "Malformed JSON", "The body is not valid JSON.") from None
    # JSON may carry "\u0000", which PostgreSQL text cannot store: refuse it here, for every body.
    with_nul = [
        FieldError(name, "must not contain NUL characters")
        for name in body.__struct_fields__
        if isinstance(value := getattr(body, name), str) and "\x00" in value
    ]
    if with_nul:
        raise ValidationProblem(with_nul)
    return body


def field_error(exc: msgspec.ValidationError) -> FieldError:
    """msgspec says e.g. "Expected `str`, got `int` - at `$.name`" or "Object contains
    unknown field `organization_id`"; turn that into a field and a message."""
    match = _AT_PATH.match(str(exc))
    assert match is not None  # the pattern accepts any text
    message, path = match["message"], match["path"] or ""
    named = _NAMED_FIELD.search(message)
    if named and not path:
        path = named["field"]
    elif named:
        path = f"{path}.{named['field']}"
    if message.startswith("Object contains unknown field"):
        message = "is not an accepted field"
    elif message.startswith("Object missing required field"):
        message = "is required"
    return FieldError(field=path or "$", message=message)


class FieldChecks:
    """Collects field errors so that a response names every bad field, not just the first."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def email(self, field: str, value: str) -> str:
        cleaned = normalize_email(value)
        if len(cleaned) > MAX_EMAIL:
            self.fail(field, f"must be at most {MAX_EMAIL} characters")
        elif has_invisible(cleaned):
            self.fail(field, "must not contain control, invisible or text-direction characters")
        elif not _EMAIL.match(cleaned):
            self.fail(field, "must be a valid email address")
        return cleaned

    def password(self, field: str, value: str) -> str:
        if not MIN_PASSWORD <= len(value) <= MAX_PASSWORD:
            self.fail(field, f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
        return value

    def name(self, field: str, value: str) -> str:
        cleaned = nfc(value.strip())
        if has_invisible(cleaned):
            self.fail(field, "must not contain control, invisible or text-direction characters")
        elif not 1 <= len(cleaned) <= MAX_NAME:
            self.fail(field, f"must be 1 to {MAX_NAME} characters long after trimming spaces")
        return cleaned

    def token(self, field: str, value: str) -> str:
        """An invitation token as the client received it."""
        if not 1 <= len(value) <= MAX_TOKEN:
            self.fail(field, f"must be 1 to {MAX_TOKEN} characters long")
        return value

    def text(self, field: str, value: str | None, *, max_length: int) -> str | None:
        """Free text such as a description: it may span lines."""
        if value is None:
            return None
        cleaned = nfc(value)
        if has_invisible(cleaned, line_breaks=True):
            self.fail(field, "must not contain control, invisible or text-direction characters")
        elif len(cleaned) > max_length:
            self.fail(field, f"must be at most {max_length} characters long")
        return cleaned

    def done(self) -> None:
        if self.errors:
            raise ValidationProblem(self.errors)
