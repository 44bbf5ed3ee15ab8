"""ETags and conditional requests: the version the database keeps on projects and
memberships is the ETag; If-None-Match answers 304, If-Match guards PATCH and DELETE (412),
and a change made outside the API (a DBA in psql) moves the version too."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.integration.conftest import Api, Tenant


def test_get_sends_the_version_and_answers_304_while_it_holds(api: Api, tenant: Tenant) -> None:
    project = api.create_project(tenant.admin)
    path = f"/projects/{project['id']}"
    first = api.get(path, as_=tenant.user)
    assert first.status_code == 200
    assert first.headers["etag"] == '"1"'
    assert first.json["version"] == 1

    same = api.get(path, as_=tenant.user, headers={"If-None-Match": '"1"'})
    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["etag"] == '"1"'
    assert api.call("HEAD", path, as_=tenant.user, headers={"If-None-Match": 'W/"1"'}).status_code == 304

    changed = api.patch(path, {"name": "renamed"}, as_=tenant.user)
    assert changed.headers["etag"] == '"2"'
    again = api.get(path, as_=tenant.user, headers={"If-None-Match": '"1"'})
    assert again.status_code == 200
    assert again.json["name"] == "renamed"


def test_patch_and_delete_honour_if_match(api: Api, tenant: Tenant) -> None:
    project = api.create_project(tenant.admin)
    path = f"/projects/{project['id']}"
    api.patch(path, {"name": "second"}, as_=tenant.admin)  # now at version 2

    stale = api.patch(path, {"name": "lost update"}, as_=tenant.admin, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.headers["etag"] == '"2"'
    # A weak tag never matches If-Match, even with the right version.
    assert api.patch(path, {"name": "x"}, as_=tenant.admin, headers={"If-Match": 'W/"2"'}).status_code == 412
    assert api.get(path, as_=tenant.admin).json["name"] == "second"

    fresh = api.patch(path, {"name": "third"}, as_=tenant.admin, headers={"If-Match": '"7", "2"'})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] == '"3"'
    assert api.patch(path, {"name": "fourth"}, as_=tenant.admin, headers={"If-Match": "*"}).status_code == 200

    assert api.delete(path, as_=tenant.admin, headers={"If-Match": '"3"'}).status_code == 412
    assert api.get(path, as_=tenant.admin).status_code == 200
    assert api.delete(path, as_=tenant.admin, headers={"If-Match": '"4"'}).status_code == 204
    # Gone: a 404 whatever the condition.
    assert api.delete(path, as_=tenant.admin, headers={"If-Match": '"4"'}).status_code == 404
    assert api.patch(path, {"name": "x"}, as_=tenant.admin, headers={"If-Match": "*"}).status_code == 404


def test_parallel_writers_with_the_same_version_one_wins(api: Api, tenant: Tenant) -> None:
    project = api.create_project(tenant.admin)
    path = f"/projects/{project['id']}"

    writers = [
        ("PATCH", path, {"json": {"description": f"writer {n}"}, "as_": tenant.admin, "headers": {"If-Match": '"1"'}})
        for n in range(8)
    ]
    statuses = sorted(result.status_code for result in api.parallel(writers))
    assert statuses == [200] + [412] * 7
    assert api.get(path, as_=tenant.admin).json["version"] == 2


def test_member_roles_are_versioned_and_a_dba_change_moves_the_version(
    api: Api, tenant: Tenant, owner: psycopg.Connection[Any]
) -> None:
    path = f"/members/{tenant.reader.user_id}"
    member = api.get(path, as_=tenant.admin)
    assert member.status_code == 200
    tag = member.headers["etag"]
    assert member.json["version"] == 1
    assert api.get(path, as_=tenant.admin, headers={"If-None-Match": tag}).status_code == 304

    # Someone changes the role outside the API: the version moves with it.
    owner.execute(
        "UPDATE iam.organization_memberships SET role = 'ORG_USER' WHERE user_id = %s", (tenant.reader.user_id,)
    )
    stale = api.patch(path, {"role": "ORG_ADMIN"}, as_=tenant.admin, headers={"If-Match": tag})
    assert stale.status_code == 412
    assert api.get(path, as_=tenant.admin).json["role"] == "ORG_USER"

    current = api.get(path, as_=tenant.admin).headers["etag"]
    promoted = api.patch(path, {"role": "ORG_ADMIN"}, as_=tenant.admin, headers={"If-Match": current})
    assert promoted.status_code == 200
    assert promoted.json["role"] == "ORG_ADMIN"
    assert promoted.headers["etag"] == '"3"'
    assert api.delete(path, as_=tenant.admin, headers={"If-Match": current}).status_code == 412
    assert api.delete(path, as_=tenant.admin, headers={"If-Match": '"3"'}).status_code == 204


def test_another_tenant_learns_nothing_from_conditions(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    project = api.create_project(tenant.admin)
    path = f"/projects/{project['id']}"
    for headers in ({"If-Match": '"1"'}, {"If-Match": '"9"'}, {"If-Match": "*"}):
        assert api.patch(path, {"name": "x"}, as_=other_tenant.admin, headers=headers).status_code == 404
        assert api.delete(path, as_=other_tenant.admin, headers=headers).status_code == 404
    assert api.get(path, as_=other_tenant.admin, headers={"If-None-Match": '"1"'}).status_code == 404
