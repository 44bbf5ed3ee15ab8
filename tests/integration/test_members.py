"""Members and roles, organizations, and the last-admin rule under concurrency."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from tests.integration.conftest import Api, SqlDatabase, Tenant, begin_as


def test_members_list_shape(api: Api, tenant: Tenant) -> None:
    items = api.get("/members", as_=tenant.user).json["items"]
    assert [(m["email"], m["role"]) for m in items] == [
        (tenant.admin.email, "ORG_ADMIN"),
        (tenant.user.email, "ORG_USER"),
        (tenant.reader.email, "READ_ONLY"),
    ]
    assert set(items[0]) == {"user_id", "email", "email_verified", "role", "joined_at", "version"}
    # The admin registered (optional verification: not yet proved); the others joined by a
    # mailed invitation, which proves the address.
    assert [m["email_verified"] for m in items] == [False, True, True]
    assert items[0]["joined_at"].endswith("Z")


def test_change_role_and_remove(api: Api, tenant: Tenant) -> None:
    changed = api.patch(f"/members/{tenant.reader.user_id}", {"role": "ORG_USER"}, as_=tenant.admin)
    assert changed.status_code == 200
    assert changed.json["role"] == "ORG_USER"
    assert changed.json["email"] == tenant.reader.email
    assert api.delete(f"/members/{tenant.reader.user_id}", as_=tenant.admin).status_code == 204
    assert api.delete(f"/members/{tenant.reader.user_id}", as_=tenant.admin).status_code == 404
    assert api.patch(f"/members/{uuid.uuid4()}", {"role": "ORG_USER"}, as_=tenant.admin).status_code == 404


def test_unknown_role_is_422(api: Api, tenant: Tenant) -> None:
    result = api.patch(f"/members/{tenant.user.user_id}", {"role": "SUPERUSER"}, as_=tenant.admin)
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "role"


def test_the_last_admin_cannot_be_demoted_or_removed(api: Api, tenant: Tenant) -> None:
    path = f"/members/{tenant.admin.user_id}"
    assert api.patch(path, {"role": "ORG_USER"}, as_=tenant.admin).status_code == 409
    assert api.delete(path, as_=tenant.admin).status_code == 409
    assert api.get("/auth/me", as_=tenant.admin).json["role"] == "ORG_ADMIN"
    # With a second admin, the first may step down.
    assert api.patch(f"/members/{tenant.user.user_id}", {"role": "ORG_ADMIN"}, as_=tenant.admin).status_code == 200
    assert api.patch(path, {"role": "READ_ONLY"}, as_=tenant.admin).status_code == 200


def test_last_admin_rule_holds_for_concurrent_demotions_in_the_database(
    database: SqlDatabase, api: Api, tenant: Tenant
) -> None:
    """Two admins demote each other in overlapping transactions: the second must wait for
    the first and then fail, never leaving the organization without an admin."""
    api.patch(f"/members/{tenant.user.user_id}", {"role": "ORG_ADMIN"}, as_=tenant.admin)

    first = begin_as(database, tenant.admin, read_only=False)
    second = begin_as(database, tenant.user, read_only=False)
    demote = {"user_id": tenant.user.user_id, "role": "ORG_USER", "if_versions": None}
    assert first.one("update_member_role", demote) is not None
    outcome: dict[str, BaseException | None] = {}

    def demote_the_other() -> None:
        try:
            second.one("update_member_role", {"user_id": tenant.admin.user_id, "role": "ORG_USER", "if_versions": None})
            outcome["error"] = None
        except psycopg.Error as exc:
            outcome["error"] = exc

    waiting = threading.Thread(target=demote_the_other)
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive(), "the second demotion must wait for the first transaction"
    first.end(commit=True)
    waiting.join(timeout=10)
    second.end(commit=False)
    error = outcome["error"]
    assert isinstance(error, psycopg.errors.CheckViolation)
    assert error.diag.constraint_name == "organization_memberships_last_admin"
    admins = [m for m in api.get("/members", as_=tenant.admin).json["items"] if m["role"] == "ORG_ADMIN"]
    assert [m["user_id"] for m in admins] == [tenant.admin.user_id]


@pytest.mark.parametrize("attempt", range(3))
def test_last_admin_rule_holds_for_concurrent_http_requests(api: Api, tenant: Tenant, attempt: int) -> None:
    api.patch(f"/members/{tenant.user.user_id}", {"role": "ORG_ADMIN"}, as_=tenant.admin)
    removals = api.parallel(
        [
            ("DELETE", f"/members/{tenant.user.user_id}", {"as_": tenant.admin}),
            ("DELETE", f"/members/{tenant.admin.user_id}", {"as_": tenant.user}),
        ]
    )
    statuses = [result.status_code for result in removals]
    # Whichever ran second was refused by the database one way or another: it waited on the
    # organization lock and hit the rule (409), or its own membership was already gone when
    # its request began (401) or when its DELETE ran (the policy no longer granted it
    # users:manage, so no row matched: 404). Exactly one removal happened; one admin is left.
    assert sorted(statuses)[0] == 204
    assert sorted(statuses)[1] in (401, 404, 409)
    survivors = [s for s in (tenant.admin, tenant.user) if api.get("/auth/me", as_=s).status_code == 200]
    assert len(survivors) == 1
    assert api.get("/auth/me", as_=survivors[0]).json["role"] == "ORG_ADMIN"


def test_create_organization_makes_the_caller_its_admin(api: Api, tenant: Tenant) -> None:
    created = api.post("/organizations", {"name": "  Second Org "}, as_=tenant.admin)
    assert created.status_code == 201
    assert created.json["name"] == "Second Org"
    assert created.json["role"] == "ORG_ADMIN"
    listed = api.get("/organizations", as_=tenant.admin).json
    assert listed["next_cursor"] is None
    assert [(o["name"], o["role"]) for o in listed["items"]] == [("Tenant A", "ORG_ADMIN"), ("Second Org", "ORG_ADMIN")]


def test_deleting_an_organization_takes_its_last_admin_along(
    api: Api, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    owner.execute("DELETE FROM iam.organizations WHERE id = %s", [tenant.admin.organization_id])
    row = owner.execute(
        "SELECT count(*) FROM iam.organization_memberships WHERE organization_id = %s", [tenant.admin.organization_id]
    ).fetchone()
    assert row == (0,)


def test_catalog_lists(api: Api, tenant: Tenant) -> None:
    roles = api.get("/roles", as_=tenant.reader).json["items"]
    assert [r["key"] for r in roles] == ["ORG_ADMIN", "ORG_USER", "READ_ONLY"]
    assert len(roles[0]["permissions"]) == 11
    permissions = api.get("/permissions", as_=tenant.reader).json["items"]
    assert {p["key"] for p in permissions} == set(roles[0]["permissions"])
    assert all(p["description"] for p in permissions)
