"""Every tenant route x every role: the status each role gets, and for writes, that a
refused request changed nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import falcon.testing
import pytest

from tests.integration.conftest import Api, Session, Tenant

ROLES = ("ORG_ADMIN", "ORG_USER", "READ_ONLY")


@dataclass(frozen=True)
class Route:
    name: str
    call: Callable[[Api, Session, str], falcon.testing.Result]
    expected: dict[str, int]
    # Makes the route's target (a spare member, an invitation, a project) and returns its id.
    setup: Callable[[Api, Tenant], str] = lambda api, tenant: ""


def spare_member(api: Api, tenant: Tenant) -> str:
    return api.add_member(tenant.admin, "READ_ONLY").user_id


def pending_invitation(api: Api, tenant: Tenant) -> str:
    result = api.post("/invitations", {"email": "spare@example.com", "role": "ORG_USER"}, as_=tenant.admin)
    invitation_id: str = result.json["id"]
    return invitation_id


def api_key(api: Api, tenant: Tenant) -> str:
    return api.api_key(tenant.admin, "READ_ONLY").session_id


def project(api: Api, tenant: Tenant) -> str:
    project_id: str = api.create_project(tenant.admin)["id"]
    return project_id


ALL = {"ORG_ADMIN": 200, "ORG_USER": 200, "READ_ONLY": 200}
ADMIN_ONLY = {"ORG_ADMIN": 200, "ORG_USER": 403, "READ_ONLY": 403}
ADMIN_ONLY_201 = {"ORG_ADMIN": 201, "ORG_USER": 403, "READ_ONLY": 403}
ADMIN_ONLY_204 = {"ORG_ADMIN": 204, "ORG_USER": 403, "READ_ONLY": 403}

ROUTES = [
    Route("GET /auth/me", lambda api, s, _: api.get("/auth/me", as_=s), ALL),
    Route("GET /organizations", lambda api, s, _: api.get("/organizations", as_=s), ALL),
    Route("POST /organizations", lambda api, s, _: api.post("/organizations", {"name": "New"}, as_=s), ADMIN_ONLY_201),
    Route(
        "PATCH /organizations/{id}",
        lambda api, s, _: api.patch(
            f"/organizations/{s.organization_id}", {"name": f"Renamed {uuid.uuid4().hex[:6]}"}, as_=s
        ),
        ADMIN_ONLY,
    ),
    Route("GET /members", lambda api, s, _: api.get("/members", as_=s), {**ALL, "READ_ONLY": 403}),
    Route(
        "PATCH /members/{id}",
        lambda api, s, target: api.patch(f"/members/{target}", {"role": "ORG_USER"}, as_=s),
        ADMIN_ONLY,
        spare_member,
    ),
    Route(
        "DELETE /members/{id}",
        lambda api, s, target: api.delete(f"/members/{target}", as_=s),
        ADMIN_ONLY_204,
        spare_member,
    ),
    Route("GET /invitations", lambda api, s, _: api.get("/invitations", as_=s), ADMIN_ONLY),
    Route(
        "POST /invitations",
        lambda api, s, _: api.post("/invitations", {"email": "new@example.com", "role": "READ_ONLY"}, as_=s),
        ADMIN_ONLY_201,
    ),
    Route(
        "DELETE /invitations/{id}",
        lambda api, s, target: api.delete(f"/invitations/{target}", as_=s),
        ADMIN_ONLY_204,
        pending_invitation,
    ),
    Route("GET /api-keys", lambda api, s, _: api.get("/api-keys", as_=s), ADMIN_ONLY),
    Route(
        "POST /api-keys",
        lambda api, s, _: api.post("/api-keys", {"name": "Matrix", "role": "READ_ONLY"}, as_=s),
        ADMIN_ONLY_201,
    ),
    Route(
        "PATCH /api-keys/{id}",
        lambda api, s, target: api.patch(f"/api-keys/{target}", {"name": "Renamed"}, as_=s),
        ADMIN_ONLY,
        api_key,
    ),
    Route(
        "DELETE /api-keys/{id}",
        lambda api, s, target: api.delete(f"/api-keys/{target}", as_=s),
        ADMIN_ONLY_204,
        api_key,
    ),
    Route("GET /audit-events", lambda api, s, _: api.get("/audit-events", as_=s), ADMIN_ONLY),
    Route("GET /roles", lambda api, s, _: api.get("/roles", as_=s), ALL),
    Route("GET /permissions", lambda api, s, _: api.get("/permissions", as_=s), ALL),
    Route(
        "POST /projects",
        lambda api, s, _: api.post("/projects", {"name": f"Matrix {uuid.uuid4().hex[:8]}"}, as_=s),
        {"ORG_ADMIN": 201, "ORG_USER": 201, "READ_ONLY": 403},
    ),
    Route("GET /projects", lambda api, s, _: api.get("/projects", as_=s), ALL),
    Route("GET /projects/{id}", lambda api, s, target: api.get(f"/projects/{target}", as_=s), ALL, project),
    Route(
        "PATCH /projects/{id}",
        lambda api, s, target: api.patch(f"/projects/{target}", {"name": f"Renamed {target}"}, as_=s),
        {"ORG_ADMIN": 200, "ORG_USER": 200, "READ_ONLY": 403},
        project,
    ),
    Route(
        "DELETE /projects/{id}",
        lambda api, s, target: api.delete(f"/projects/{target}", as_=s),
        ADMIN_ONLY_204,
        project,
    ),
]


def snapshot(api: Api, tenant: Tenant) -> dict[str, Any]:
    """What the admin sees of the organization, to prove a refused write changed nothing."""
    seen: dict[str, Any] = {
        path: api.get(path, as_=tenant.admin).json["items"]
        for path in ("/projects", "/members", "/invitations", "/organizations")
    }
    # Using a key marks it used: that is no change to the organization.
    seen["/api-keys"] = [{**key, "last_used_at": None} for key in api.get("/api-keys", as_=tenant.admin).json["items"]]
    return seen


# Routes that act on a person's own account: an API key of any role gets 403 there.
FOR_PEOPLE = {"GET /organizations", "POST /organizations", "PATCH /organizations/{id}", "POST /api-keys"}


@pytest.mark.parametrize("credential", ["token", "api_key"])
@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
def test_role_matrix(api: Api, request: pytest.FixtureRequest, route: Route, credential: str) -> None:
    """Each role in turn, on one organization (each call gets a target of its own): the same
    matrix for a member's access token and for an API key of that role, which the same
    policies check."""
    if credential == "token":
        tenant: Tenant = request.getfixturevalue("tenant")
    else:
        # Keys need only the admin who makes them (setups and snapshots are the admin's).
        admin = api.register(organization="Tenant A")
        tenant = Tenant(admin, admin, admin)
    for role in ROLES:
        caller = tenant.as_role(role) if credential == "token" else api.api_key(tenant.admin, role)
        target = route.setup(api, tenant)
        before = snapshot(api, tenant)
        result = route.call(api, caller, target)
        expected = 403 if credential == "api_key" and route.name in FOR_PEOPLE else route.expected[role]
        assert result.status_code == expected, (role, result.json)
        if result.status_code == 403:
            assert result.headers["content-type"] == "application/problem+json"
            assert snapshot(api, tenant) == before, role


def test_a_member_with_no_role_change_right_cannot_promote_themselves(api: Api, tenant: Tenant) -> None:
    result = api.patch(f"/members/{tenant.user.user_id}", {"role": "ORG_ADMIN"}, as_=tenant.user)
    assert result.status_code == 403
    assert api.get("/auth/me", as_=tenant.user).json["role"] == "ORG_USER"
