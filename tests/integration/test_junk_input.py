"""No input is a 500: every route gets bodies of wrong shapes and odd values, and must
answer with a 4xx problem (or succeed), never a server error."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.conftest import Api, Tenant

JUNK_BODIES: list[Any] = [
    None,
    {},
    [],
    "text",
    12,
    {"name": None, "email": None, "password": None, "role": None, "token": None},
    {"name": {"nested": True}, "email": ["a"], "password": 1e308, "role": 0, "token": False},
    {"name": "\U0001f600" * 300, "email": "\u202e@x.io", "description": "x" * 5000},
    {"email": "a@" + "b" * 300 + ".io", "password": "p" * 100_000, "organization_name": "o"},
    {"organization_id": "00000000-0000-0000-0000-000000000000", "email": "x@y.io", "password": "p" * 12},
    {"role": "ORG_ADMIN" * 1000, "email": "A@B.CO"},
    {"token": "t" * 10_000},
    {"name": 2**70},
]

ROUTES = [
    ("POST", "/auth/register", False),
    ("POST", "/auth/login", False),
    ("POST", "/organizations", True),
    ("PATCH", "/members/{member}", True),
    ("POST", "/invitations", True),
    ("POST", "/invitations/accept", True),
    ("POST", "/projects", True),
    ("PATCH", "/projects/{project}", True),
]


@pytest.mark.parametrize(("method", "path", "authenticated"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_junk_bodies_never_cause_a_server_error(
    api: Api, tenant: Tenant, method: str, path: str, authenticated: bool
) -> None:
    project = api.create_project(tenant.admin)
    concrete = path.format(member=tenant.reader.user_id, project=project["id"])
    for body in JUNK_BODIES:
        result = api.call(method, concrete, tenant.admin if authenticated else None, json=body)
        assert result.status_code < 500, (body, result.text)
        if result.status_code >= 400:
            assert result.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "raw",
    [b'{"name": "\\ud800"}', b'{"name": "a", "name": "b"}', b"\xff\xfe", b'{"name": "x"} trailing', b"[" * 10_000],
)
def test_raw_junk_json_never_causes_a_server_error(api: Api, tenant: Tenant, raw: bytes) -> None:
    result = api.call("POST", "/projects", tenant.admin, body=raw, headers={"Content-Type": "application/json"})
    assert result.status_code < 500, result.text
    if result.status_code >= 400:  # duplicate keys are valid JSON: the last one wins
        assert result.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    ["limit=", "limit=%00", "limit=99999999999999999999", "cursor=%00", "cursor=" + "a" * 5000, "cursor=..", "x=1"],
)
def test_junk_query_strings_never_cause_a_server_error(api: Api, tenant: Tenant, query: str) -> None:
    result = api.get("/projects", as_=tenant.admin, query_string=query)
    assert result.status_code < 500, result.text


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Bearer a.b.c", "Bearer \u00e9", "bearer " + "x" * 10_000, "Bearer e30.e30.", "Token abc"],
)
def test_junk_authorization_headers_are_401(api: Api, authorization: str) -> None:
    result = api.get("/auth/me", headers={"Authorization": authorization})
    assert result.status_code == 401


def test_junk_path_ids_are_404(api: Api, tenant: Tenant) -> None:
    for suffix in ["x", "%00", str(uuid.uuid4()) + "x", "..", "00000000-0000-0000-0000-00000000000g"]:
        assert api.get(f"/projects/{suffix}", as_=tenant.admin).status_code == 404


# Superscript two, Arabic-Indic digits, fullwidth digits: str.isdigit() or int() take them all.
NOT_ASCII_NUMBERS = ["%C2%B2", "%D9%A1%D9%A2", "%EF%BC%91%EF%BC%92", "1_0", "+5", "%2012", "1e1", "0x10"]


@pytest.mark.parametrize("path", ["/projects", "/audit-events"])
@pytest.mark.parametrize("limit", NOT_ASCII_NUMBERS)
def test_query_integers_are_ascii_digits_only(api: Api, tenant: Tenant, path: str, limit: str) -> None:
    result = api.get(path, as_=tenant.admin, query_string=f"limit={limit}")
    assert result.status_code == 422, result.text
    assert result.json["errors"] == [{"field": "limit", "message": "must be a whole number from 1 to 200"}]
    assert api.get(path, as_=tenant.admin, query_string="limit=12").status_code == 200


def test_ids_are_canonical_ascii_uuids_only(api: Api, tenant: Tenant) -> None:
    project = api.create_project(tenant.admin)
    hex_id = project["id"].replace("-", "")
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in project["id"])
    for spelling in [hex_id, "{" + project["id"] + "}", "urn:uuid:" + project["id"], fullwidth]:
        assert api.get(f"/projects/{spelling}", as_=tenant.admin).status_code == 404, spelling
        filtered = api.get("/audit-events", as_=tenant.admin, params={"resource_id": spelling})
        assert filtered.status_code == 422, spelling
    assert api.get(f"/projects/{project['id'].upper()}", as_=tenant.admin).status_code == 200
