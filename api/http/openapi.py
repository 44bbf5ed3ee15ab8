"""The OpenAPI 3.1 document, built once at start-up from the route table and from the
msgspec types that decode requests and shape responses: what is documented is what runs.

Every responder states its contract with @operation (summary, body, query parameters,
success responses); the error responses follow from it, and from what the responder needs,
which the request context declares (`@requires(...)` and `access`, api/context.py) and the
document reads through `security`. A responder without @operation stops start-up, so no
route can go undocumented.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

import msgspec

from api.http.pagination import MAX_LIMIT
from api.http.responses import Problem
from api.http.routing import Route

Responder = TypeVar("Responder", bound=Callable[..., Any])


@dataclass(frozen=True)
class Needs:
    """What a responder needs: a token, a permission, and whether an API key will do."""

    needs_token: bool
    permission: str | None
    accepts_api_keys: bool


# What a responder needs, from api/context.py's declared_security.
Security = Callable[[object, Callable[..., None]], Needs]

METHODS = ("get", "put", "post", "patch", "delete")
_PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")


@dataclass(frozen=True)
class Query:
    name: str
    schema: dict[str, Any]
    description: str


LIMIT = Query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}, "Page size.")
CURSOR = Query("cursor", {"type": "string", "maxLength": 1000}, "`next_cursor` of the previous page.")


@dataclass(frozen=True)
class Operation:
    summary: str
    ok: dict[int, Any]
    body: type | None = None
    query: tuple[Query, ...] = ()
    errors: tuple[int, ...] = ()
    media_type: str = "application/json"
    headers: dict[int, dict[str, str]] = field(default_factory=dict)
    versioned: bool = False


def operation(
    summary: str,
    *,
    ok: dict[int, Any],
    body: type | None = None,
    query: tuple[Query, ...] = (),
    errors: tuple[int, ...] = (),
    media_type: str = "application/json",
    headers: dict[int, dict[str, str]] | None = None,
    versioned: bool = False,
) -> Callable[[Responder], Responder]:
    """A responder's contract. `ok` maps success statuses to their body type (None: no body);
    `errors` lists statuses beyond those that follow from the rest; `headers` names response
    headers per status with their description; `versioned` marks a row with an ETag (GET:
    If-None-Match and 304; PATCH and DELETE: If-Match and 412). It changes nothing about
    how the responder runs."""

    def decorate(responder: Responder) -> Responder:
        responder.__openapi__ = Operation(  # type: ignore[attr-defined]
            summary, ok, body, query, errors, media_type, headers or {}, versioned
        )
        return responder

    return decorate


def path_of(template: str) -> str:
    """`/projects/{project_id:uuid}` as OpenAPI writes it: `/projects/{project_id}`."""
    return _PARAMETER.sub(r"{\1}", template)


def responders(route: Route) -> Iterable[tuple[str, Callable[..., None]]]:
    for method in METHODS:
        name = f"on_{method}" + (f"_{route.suffix}" if route.suffix else "")
        responder = getattr(route.resource, name, None)
        if responder is not None:
            yield method, responder


class Document:
    """Collects schemas while operations are described, then renders the whole document."""

    def __init__(self, security: Security) -> None:
        self._types: list[Any] = [Problem]
        self._security = security

    def ref(self, shape: Any) -> dict[str, Any]:
        if isinstance(shape, types.UnionType):  # one of several bodies, such as login's two answers
            return {"anyOf": [self.ref(member) for member in typing.get_args(shape)]}
        if isinstance(shape, type) and issubclass(shape, msgspec.Struct):
            self._types.append(shape)
            return {"$ref": f"#/components/schemas/{shape.__name__}"}
        return msgspec.json.schema(shape)

    def operation(self, route: Route, method: str, responder: Callable[..., None]) -> dict[str, Any]:
        spec: Operation | None = getattr(responder, "__openapi__", None)
        if spec is None:
            raise RuntimeError(f"{method.upper()} {route.template} has no @operation: document it")
        needs = self._security(route.resource, responder)
        permission = needs.permission
        public = not needs.needs_token
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"} if converter == "uuid" else {"type": "string"},
            }
            for name, converter in _PARAMETER.findall(route.template)
        ]
        parameters += [
            {"name": q.name, "in": "query", "required": False, "schema": q.schema, "description": q.description}
            for q in spec.query
        ]
        errors = {503, *spec.errors}
        ok = dict(spec.ok)
        headers = {status: dict(named) for status, named in spec.headers.items()}
        if spec.versioned:
            condition = "If-None-Match" if method == "get" else "If-Match"
            parameters.append(
                {
                    "name": condition,
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "ETags (quoted versions) from an earlier answer.",
                }
            )
            if method == "get":
                ok[304] = None
                headers.setdefault(304, {})["ETag"] = "The version you have is current."
            else:
                errors.add(412)
            for status in (200,):
                if status in ok:
                    headers.setdefault(status, {})["ETag"] = "The row's version, raised on every change."
        if not public:
            errors.add(401)
        if permission or (needs.needs_token and not needs.accepts_api_keys):
            errors.add(403)
        if parameters and any(p["in"] == "path" for p in parameters):
            errors.add(404)
        if spec.query:
            errors.add(422)
        if method != "get" and not public:
            # The database may refuse any write (row security: 403), find it conflicting
            # (unique or foreign keys: 409) or break one of its rules (CHECK: 422).
            errors |= {403, 409, 422}
        responses: dict[str, Any] = {}
        for status, shape in sorted(ok.items()):
            answer: dict[str, Any] = {"description": HTTPStatus(status).phrase}
            if shape is not None:
                answer["content"] = {spec.media_type: {"schema": self.ref(shape)}}
            if status in headers:
                answer["headers"] = {
                    name: {"description": text, "schema": {"type": "string"}} for name, text in headers[status].items()
                }
            responses[str(status)] = answer
        described: dict[str, Any] = {
            "operationId": operation_id(route, method),
            "summary": spec.summary,
            "tags": [route.template.strip("/").split("/")[0] or "root"],
            "parameters": parameters,
            "responses": responses,
            "security": security_of(needs),
        }
        if permission:
            described["description"] = f"Needs the `{permission}` permission in the current organization."
        if spec.body is not None:
            described["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": self.ref(spec.body)}},
            }
            errors |= {400, 413, 415, 422}
        for status in sorted(errors):
            responses[str(status)] = {
                "description": HTTPStatus(status).phrase,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }
            if status == 412:
                responses["412"]["headers"] = {
                    "ETag": {"description": "The row's current version.", "schema": {"type": "string"}}
                }
            if status in (429, 503):
                responses[str(status)]["headers"] = {
                    "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}
                }
        return described

    def render(self, routes: Iterable[Route], title: str, version: str) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for route in routes:
            for method, responder in responders(route):
                paths.setdefault(path_of(route.template), {})[method] = self.operation(route, method, responder)
        _, schemas = msgspec.json.schema_components(self._types, ref_template="#/components/schemas/{name}")
        return {
            "openapi": "3.1.0",
            "info": {
                "title": title,
                "version": version,
                "description": "Multi-tenant identity and access management. Errors are RFC 9457 "
                "problem details (application/problem+json).",
            },
            "paths": paths,
            "components": {
                "schemas": schemas,
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "JWT",
                        "description": "A person's access token, from POST /auth/login.",
                    },
                    "apiKey": {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "tiam_ API key",
                        "description": "An organization API key (POST /api-keys), sent as "
                        "'Authorization: Bearer tiam_...'. It acts in its organization with its role; "
                        "routes for a person's own account or sessions refuse it (403).",
                    },
                },
            },
        }


def security_of(needs: Needs) -> list[dict[str, list[str]]]:
    """Either scheme will do (a list of alternatives); none for a public route."""
    if not needs.needs_token:
        return []
    return [{"bearerAuth": []}, {"apiKey": []}] if needs.accepts_api_keys else [{"bearerAuth": []}]


def operation_id(route: Route, method: str) -> str:
    name = type(route.resource).__name__.removesuffix("Resource")
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    return f"{method}_{snake}" + (f"_{route.suffix}" if route.suffix else "")


def openapi_document(routes: Iterable[Route], version: str, security: Security) -> dict[str, Any]:
    return Document(security).render(routes, "tenant-iam", version)
