"""/openapi.json: a valid OpenAPI 3.1 document, built from the same route table and msgspec
types that serve requests, so that what is documented is exactly what is served."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import falcon
import falcon.testing
from falcon.routing.compiled import CompiledRouterNode
from openapi_spec_validator import validate

from api.http.openapi import path_of
from tests.integration.conftest import Api

DOCUMENTED_METHODS = {"GET", "PUT", "POST", "PATCH", "DELETE"}


def served_routes(app: falcon.App[Any, Any]) -> Iterator[tuple[str, set[str]]]:
    """Every (template, methods) Falcon's own router serves: its real responders only, not
    the 405 and OPTIONS defaults it fills in."""

    def walk(nodes: list[CompiledRouterNode]) -> Iterator[tuple[str, set[str]]]:
        for node in nodes:
            if node.method_map and node.uri_template:
                methods = {
                    method
                    for method, responder in node.method_map.items()
                    if getattr(responder, "__self__", None) is node.resource
                }
                yield node.uri_template, methods
            yield from walk(node.children)

    yield from walk(app._router._roots)


def test_the_document_is_valid_openapi_3_1(api: Api) -> None:
    result = api.client.simulate_get("/openapi.json")
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("application/json")
    document = result.json
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any breach of the 3.1 meta-schema


def test_every_served_route_is_documented_and_every_documented_route_served(
    app: falcon.App[Any, Any], api: Api
) -> None:
    document = api.client.simulate_get("/openapi.json").json
    served = {}
    for template, methods in served_routes(app):
        # HEAD answers wherever GET does (the GET responder); it is not listed separately.
        assert ("HEAD" in methods) == ("GET" in methods), template
        served[path_of(template)] = methods & DOCUMENTED_METHODS
    documented = {path: {method.upper() for method in item} for path, item in document["paths"].items()}
    assert served == documented
    assert len(served) >= 25


def test_authenticated_routes_need_the_bearer_token_and_public_ones_do_not(api: Api) -> None:
    document = api.client.simulate_get("/openapi.json").json
    schemes = document["components"]["securitySchemes"]
    assert {name: (scheme["type"], scheme["scheme"]) for name, scheme in schemes.items()} == {
        "bearerAuth": ("http", "bearer"),
        "apiKey": ("http", "bearer"),
    }
    assert schemes["bearerAuth"]["bearerFormat"] == "JWT"
    # Routes that act on a person's own account or sessions: an API key gets 403 there.
    for_people = {
        ("/auth/logout", "post"),
        ("/auth/sessions", "get"),
        ("/auth/sessions/{session_id}", "delete"),
        ("/auth/switch-organization", "post"),
        ("/auth/change-password", "post"),
        ("/auth/invitations", "get"),
        ("/auth/verify-email/resend", "post"),
        ("/organizations", "get"),
        ("/organizations", "post"),
        ("/invitations/accept", "post"),
        ("/api-keys", "post"),
        ("/auth/mfa/totp", "post"),
        ("/auth/mfa/totp", "delete"),
        ("/auth/mfa/totp/verify", "post"),
        ("/auth/mfa/recovery-codes", "post"),
        ("/organizations/{organization_id}", "patch"),
    }
    public = {
        ("/auth/login", "post"),
        ("/auth/register", "post"),
        ("/auth/refresh", "post"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
        ("/.well-known/jwks.json", "get"),
        ("/openapi.json", "get"),
        ("/docs", "get"),
        ("/docs/{asset}", "get"),
        ("/metrics", "get"),  # METRICS_TOKEN or loopback, not a user's token
        ("/auth/password-reset", "post"),
        ("/auth/password-reset/confirm", "post"),
        ("/auth/verify-email", "post"),
        ("/cron/outbox", "get"),  # CRON_SECRET, not a user's token
        ("/auth/mfa/challenge", "post"),  # the mfa_token of a login, not an access token
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if (path, method) in public:
                assert operation["security"] == [], (path, method)
                assert "401" not in operation["responses"] or path in (
                    "/auth/login",
                    "/auth/mfa/challenge",
                    "/auth/refresh",
                    "/metrics",
                    "/cron/outbox",
                )
            elif (path, method) in for_people:
                assert operation["security"] == [{"bearerAuth": []}], (path, method)
                assert "401" in operation["responses"], (path, method)
                assert "403" in operation["responses"], (path, method)
            else:
                assert operation["security"] == [{"bearerAuth": []}, {"apiKey": []}], (path, method)
                assert "401" in operation["responses"], (path, method)


def test_bodies_limits_and_problems_are_described(api: Api) -> None:
    document = api.client.simulate_get("/openapi.json").json
    create = document["paths"]["/projects"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProjectBody"
    }
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Project"
    }
    assert "projects:write" in create["description"]
    unprocessable = create["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert unprocessable == {"$ref": "#/components/schemas/Problem"}
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "request_id"}
    assert problem["properties"]["errors"]["type"] == "array"
    listing = {p["name"]: p for p in document["paths"]["/projects"]["get"]["parameters"]}
    assert listing["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
    item = document["paths"]["/projects/{project_id}"]["get"]["parameters"][0]
    assert item["in"] == "path"
    assert item["schema"] == {"type": "string", "format": "uuid"}
    # Bodies refuse unknown fields, and the schema says so.
    assert document["components"]["schemas"]["ProjectBody"]["additionalProperties"] is False
