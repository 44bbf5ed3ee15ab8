"""Errors as RFC 9457 problem+json, mapped once for the whole app.

HTTP errors are falcon.HTTPError (or ValidationProblem); database errors are translated at
this one boundary, keyed on the constraint name PostgreSQL reports, then on SQLSTATE class.
`problem_json` is the one writer of a problem's body: the app's error serializer, the
server front (api/serving/asgi.py) and the server's own refusals (api/serving/server_errors.py)
all use it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import falcon
import falcon.asgi
import msgspec
import psycopg
import psycopg.errors
from falcon.asgi import Request, Response
from psycopg_pool import PoolTimeout

log = logging.getLogger("api")

PROBLEM_JSON = "application/problem+json"


def problem_json(
    status: int,
    title: str,
    detail: str,
    request_id: str | None,
    errors: list[FieldError] | None = None,
    problem_type: str = "about:blank",
) -> bytes:
    """A problem's body: `{type, title, status, detail, request_id}`, plus `errors` on a 422.
    `type` is about:blank (the status says it all) unless a client must tell the problem
    apart from others of its status (MFA_REQUIRED)."""
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": request_id,
    }
    if errors is not None:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return msgspec.json.encode(body)


class Overloaded(Exception):
    """Work refused for lack of capacity, before any of it was done: a 503 with Retry-After
    (or `status`, 429 where one client asks for more than its share). Subclasses name what
    ran out (api/auth/passwords.py); `reason` goes on the request's log line."""

    status = 503
    detail = "The service is busy; retry shortly."
    reason = "overloaded"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class ValidationProblem(falcon.HTTPUnprocessableEntity):
    """422 with the fields at fault."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(title="Invalid request", description="The request body or query has invalid fields.")
        self.errors = errors


def problem(status: int, title: str, detail: str, **kwargs: Any) -> falcon.HTTPError:
    return falcon.HTTPError(falcon.code_to_http_status(status), title=title, description=detail, **kwargs)


# A 403 that a second factor in this session would lift: enrol or answer a challenge, then retry.
MFA_REQUIRED = "urn:tenant-iam:problem:mfa_required"


class TypedProblem(falcon.HTTPError):
    """A problem with a `type` of its own."""

    def __init__(self, status: int, problem_type: str, title: str, detail: str) -> None:
        super().__init__(falcon.code_to_http_status(status), title=title, description=detail)
        self.problem_type = problem_type


def mfa_required(detail: str) -> falcon.HTTPError:
    return TypedProblem(403, MFA_REQUIRED, "Second factor required", detail)


def not_found(what: str) -> falcon.HTTPError:
    return problem(404, "Not found", f"No {what} with this id exists in the current organization.")


def unauthorized(detail: str) -> falcon.HTTPError:
    return falcon.HTTPUnauthorized(title="Unauthorized", description=detail, challenges=["Bearer"])


# Keyed on constraint names of db/migrations (RAISE ... CONSTRAINT names too).
CONSTRAINT_PROBLEMS: dict[str, tuple[int, str, str]] = {
    "mfa_factor_active": (
        409,
        "Factor already active",
        "You have an active TOTP factor: remove it (DELETE /auth/mfa/totp) before enrolling another.",
    ),
    "users_email_key": (
        409,
        "Email already registered",
        "An account with this email already exists.",
    ),
    "projects_organization_name_key": (
        409,
        "Project name taken",
        "The organization already has a project with this name.",
    ),
    "organization_memberships_pkey": (
        409,
        "Already a member",
        "The user is already a member of this organization.",
    ),
    "organization_memberships_last_admin": (
        409,
        "Last admin",
        "An organization must keep at least one ORG_ADMIN; promote another member first.",
    ),
    "invitation_not_found": (
        404,
        "Invitation not found",
        "The invitation is unknown, used, revoked or expired.",
    ),
    "invitation_email_mismatch": (
        403,
        "Invitation for another email",
        "The invitation was issued to a different email address.",
    ),
    "session_membership_required": (
        403,
        "Not a member",
        "You are not an active member of that organization.",
    ),
    "email_verification_required": (
        403,
        "Email not verified",
        "Confirm your email address first (POST /auth/verify-email/resend mails a new link).",
    ),
    "organization_admin_required": (
        403,
        "Forbidden",
        "Only an ORG_ADMIN of the current organization may create organizations.",
    ),
}

# SQLSTATE classes and codes that are the client's or the infrastructure's, not a bug.
SQLSTATE_PROBLEMS: dict[str, tuple[int, str, str]] = {
    "23505": (409, "Conflict", "The request conflicts with existing data."),
    "23503": (
        409,
        "Conflict",
        "The request refers to data that does not exist or is still in use.",
    ),
    # A CHECK constraint: the API validates first, so this is the database's backstop.
    "23514": (422, "Invalid request", "A value breaks a rule of the data, such as its length or characters."),
    "42501": (403, "Forbidden", "You do not have permission for this action."),
    "40001": (503, "Try again", "The request conflicted with a concurrent one; retry it."),
    # statement_timeout (DB_STATEMENT_TIMEOUT_MS): the database stopped a statement that took too long.
    "57014": (503, "Try again", "The database took too long to answer this request; retry it."),
    # lock_timeout (DB_LOCK_TIMEOUT_MS): something held a lock this request needed.
    "55P03": (503, "Try again", "The data this request needs is locked by other work; retry it."),
    "40P01": (503, "Try again", "The request conflicted with a concurrent one; retry it."),
    "53300": (503, "Service unavailable", "The database has no free connections."),
    "57P01": (503, "Service unavailable", "The database is restarting."),
    "57P02": (503, "Service unavailable", "The database is restarting."),
    "57P03": (503, "Service unavailable", "The database is starting up."),
    "08": (503, "Service unavailable", "The database cannot be reached."),
}

UNAVAILABLE = (503, "Service unavailable", "The database cannot be reached.")


def database_problem(exc: psycopg.Error) -> falcon.HTTPError | None:
    """The HTTP problem for a database error, or None when it is a bug (500)."""
    diag = exc.diag
    if diag.constraint_name == "mfa_required":
        return mfa_required("This change needs a second factor in this session: answer an MFA challenge first.")
    known = CONSTRAINT_PROBLEMS.get(diag.constraint_name or "")
    sqlstate = exc.sqlstate or ""
    if known is None:
        known = SQLSTATE_PROBLEMS.get(sqlstate) or SQLSTATE_PROBLEMS.get(sqlstate[:2])
    if known is None and (isinstance(exc, psycopg.OperationalError) and not sqlstate):
        known = UNAVAILABLE  # connection lost or refused: no SQLSTATE at all
    if known is None:
        return None
    status, title, detail = known
    headers = {"Retry-After": "1"} if status == 503 else None
    return problem(status, title, detail, headers=headers)


def request_id_of(req: Request) -> str | None:
    return getattr(req.context, "request_id", None)


def serialize_problem(req: Request, resp: Response, exc: falcon.HTTPError) -> None:
    errors = exc.errors if isinstance(exc, ValidationProblem) else None
    problem_type = exc.problem_type if isinstance(exc, TypedProblem) else "about:blank"
    resp.data = problem_json(
        exc.status_code, exc.title, exc.description or exc.title, request_id_of(req), errors, problem_type
    )
    resp.content_type = PROBLEM_JSON


def answer_with_problem(req: Request, resp: Response, error: falcon.HTTPError) -> None:
    """Answers with a problem where raising one is too late: from process_response, when the
    request's work could not be committed after its responder succeeded."""
    resp.status = error.status
    resp.set_headers(error.headers or {})
    serialize_problem(req, resp, error)


# Error handlers are coroutines: the app is an ASGI app (falcon.asgi.App).


async def handle_database_error(req: Request, resp: Response, exc: psycopg.Error, params: Any, **_: Any) -> None:
    mapped = database_problem(exc)
    if mapped is None:
        await handle_unexpected(req, resp, exc, params)
        return
    if mapped.status_code >= 500:
        req.context.refusal = f"database: {type(exc).__name__}"
    raise mapped


async def handle_overloaded(req: Request, resp: Response, exc: Overloaded, params: Any, **_: Any) -> None:
    req.context.refusal = exc.reason
    title = "Too many requests" if exc.status == 429 else "Busy"
    raise problem(exc.status, title, exc.detail, headers={"Retry-After": "1"})


async def handle_pool_timeout(req: Request, resp: Response, exc: PoolTimeout, params: Any, **_: Any) -> None:
    req.context.refusal = "pool_timeout"
    status, title, detail = UNAVAILABLE
    raise problem(status, title, detail, headers={"Retry-After": "1"})


async def handle_unexpected(req: Request, resp: Response, exc: Exception, params: Any, **_: Any) -> None:
    if isinstance(exc, falcon.HTTPError):
        raise exc
    log.exception("unexpected error (request %s)", request_id_of(req), exc_info=exc)
    raise problem(
        500,
        "Internal server error",
        "Something went wrong; quote the request id when reporting it.",
    )


def register_error_handlers(app: falcon.asgi.App[Request, Response]) -> None:
    # Falcon picks the most specific registered type, so the order here does not matter.
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(psycopg.Error, handle_database_error)
    app.add_error_handler(PoolTimeout, handle_pool_timeout)
    app.add_error_handler(Overloaded, handle_overloaded)
    app.set_error_serializer(serialize_problem)
