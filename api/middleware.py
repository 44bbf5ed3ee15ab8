"""App-wide concerns: the request id, and one database transaction per request."""

from __future__ import annotations

import enum
import logging
import re
import uuid
from typing import Any

import falcon
import psycopg

from api.body import read_body
from api.database import Database, Transaction
from api.metrics import TOKEN_REJECTIONS
from api.problems import answer_with_problem, database_problem, problem, unauthorized
from api.tokens import AccessTokens, InvalidToken

log = logging.getLogger("api")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


class Access(enum.Enum):
    """What a resource needs; resources state it as a class attribute `access`."""

    # No identity, and no transaction from the middleware: health, JWKS, and the auth flows
    # (register, login, refresh), which open short transactions of their own around
    # password hashing rather than hold a connection through it.
    PUBLIC = "no identity; the resource opens any transaction itself"
    # A verified token (req.context.subject), no transaction: change-password, which must
    # count a wrong guess in a committed transaction before it answers.
    SIGNED_IN = "a valid token; the resource opens its transactions itself"
    # Everything else: one transaction per request, in the caller's context.
    MEMBER = "a valid token of an active member through a live session"


class RequestIdMiddleware:
    """Every request gets an id the server made. The client's own X-Request-ID, when sane,
    replaces it only once the client proved who it is (TransactionMiddleware), so that an
    anonymous caller cannot choose what the audit trail records."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = uuid.uuid4().hex
        given = req.get_header("X-Request-ID")
        req.context.client_request_id = given if given and _SANE_REQUEST_ID.match(given) else None

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        resp.set_header("X-Request-ID", req.context.request_id)


SESSION_ENDED = "The session has ended, or its user is no longer an active member of its organization."


def bearer_token(req: falcon.Request) -> str:
    scheme, _, token = (req.get_header("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Send an access token as 'Authorization: Bearer <token>'.")
    return token.strip()


class TransactionMiddleware:
    """Opens the request's transaction once the route is known; commits it when the
    responder succeeded, rolls it back otherwise, so a failed request changes nothing."""

    def __init__(self, database: Database, tokens: AccessTokens) -> None:
        self._database = database
        self._tokens = tokens

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        access = getattr(resource, "access", Access.MEMBER)
        # OPTIONS is Falcon's own responder: it lists the allowed methods and reads no data.
        if resource is None or access is Access.PUBLIC or req.method == "OPTIONS":
            return
        try:
            token = bearer_token(req)
        except falcon.HTTPError:
            TOKEN_REJECTIONS.labels("missing").inc()
            raise
        try:
            req.context.subject = self._tokens.verify(token)
        except InvalidToken as exc:
            TOKEN_REJECTIONS.labels(exc.reason).inc()
            raise unauthorized("The access token is invalid or expired.") from None
        req.context.request_id = req.context.client_request_id or req.context.request_id
        if access is Access.SIGNED_IN:
            return
        # The whole body first: however slowly it arrives, no transaction waits for it.
        read_body(req)
        req.context.transaction = self._database.begin(
            read_only=req.method in ("GET", "HEAD"), request_id=req.context.request_id, subject=req.context.subject
        )
        if req.context.transaction.caller is None:
            TOKEN_REJECTIONS.labels("session_ended").inc()
            raise unauthorized(SESSION_ENDED)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        transaction: Transaction | None = getattr(req.context, "transaction", None)
        if transaction is None:
            return
        req.context.transaction = None
        try:
            transaction.end(commit=req_succeeded)
        except psycopg.Error as exc:
            if not req_succeeded:
                return  # the response already reports the failure; the rollback was best effort
            log.error("commit failed (request %s): %s", req.context.request_id, type(exc).__name__)
            retry = {"Retry-After": "1"}
            if isinstance(exc, psycopg.OperationalError):
                # The connection broke during COMMIT: the server may have committed or not, and
                # nobody here can tell. Say so, rather than promise either.
                unknown = problem(
                    503,
                    "Outcome unknown",
                    "The database connection was lost while committing: the change may or may not "
                    "have been saved. Read it back before retrying.",
                    headers=retry,
                )
                answer_with_problem(req, resp, unknown)
                return
            # The database refused the commit: nothing was saved, and the client must not see a success.
            mapped = database_problem(exc)
            status = mapped.status_code if mapped else 500
            refused = problem(
                status,
                "Not saved",
                "The change could not be committed; nothing was saved.",
                headers=retry if status == 503 else None,
            )
            answer_with_problem(req, resp, refused)
