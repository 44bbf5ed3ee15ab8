"""Projects: creation, editing, and keyset pagination."""

from __future__ import annotations

import psycopg
import pytest

from tests.integration.conftest import Api, Tenant


def test_create_read_update_delete(api: Api, tenant: Tenant) -> None:
    created = api.post("/projects", {"name": " Apollo ", "description": "To the moon"}, as_=tenant.user)
    assert created.status_code == 201
    project = created.json
    assert set(project) == {
        "id",
        "organization_id",
        "name",
        "description",
        "created_by_user_id",
        "created_at",
        "updated_at",
        "version",
    }
    assert project["name"] == "Apollo"
    assert project["organization_id"] == tenant.user.organization_id
    assert project["created_by_user_id"] == tenant.user.user_id
    assert project["created_at"].endswith("Z")

    path = f"/projects/{project['id']}"
    assert api.get(path, as_=tenant.reader).json == project
    renamed = api.patch(path, {"name": "Artemis"}, as_=tenant.user).json
    assert renamed["name"] == "Artemis"
    assert renamed["description"] == "To the moon"
    assert renamed["created_at"] == project["created_at"]
    cleared = api.patch(path, {"description": None}, as_=tenant.user).json
    assert cleared["description"] is None
    assert cleared["name"] == "Artemis"
    assert api.delete(path, as_=tenant.admin).status_code == 204
    assert api.get(path, as_=tenant.admin).status_code == 404


@pytest.mark.parametrize(
    "field", ["organization_id", "created_by_user_id", "id", "created_at"], ids=lambda field: field
)
def test_server_owned_fields_cannot_be_set(api: Api, tenant: Tenant, field: str) -> None:
    result = api.post("/projects", {"name": "X", field: "00000000-0000-0000-0000-000000000000"}, as_=tenant.admin)
    assert result.status_code == 422
    assert result.json["errors"] == [{"field": field, "message": "is not an accepted field"}]
    assert api.get("/projects", as_=tenant.admin).json["items"] == []


def test_renaming_onto_an_existing_name_is_409_and_keeps_both(api: Api, tenant: Tenant) -> None:
    api.create_project(tenant.admin, "One")
    two = api.create_project(tenant.admin, "Two")
    assert api.patch(f"/projects/{two['id']}", {"name": "ONE"}, as_=tenant.admin).status_code == 409
    assert sorted(p["name"] for p in api.get("/projects", as_=tenant.admin).json["items"]) == ["One", "Two"]


def test_created_at_and_updated_at_are_kept_by_the_database(
    api: Api, tenant: Tenant, owner: psycopg.Connection[tuple[object, ...]]
) -> None:
    project = api.create_project(tenant.admin)
    owner.execute(
        "UPDATE iam.projects SET created_at = '2000-01-01', updated_at = '2000-01-01' WHERE id = %s", [project["id"]]
    )
    fetched = api.get(f"/projects/{project['id']}", as_=tenant.admin).json
    assert fetched["created_at"] == project["created_at"]
    assert fetched["updated_at"] > project["updated_at"]


def test_pagination_lists_every_project_once_newest_first(api: Api, tenant: Tenant) -> None:
    names = [f"p{i:02d}" for i in range(7)]
    for name in names:
        api.create_project(tenant.admin, name)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = api.get("/projects", as_=tenant.reader, query_string=query).json
        seen += [p["name"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(names))


def test_pagination_is_stable_when_rows_are_added_between_pages(api: Api, tenant: Tenant) -> None:
    for i in range(4):
        api.create_project(tenant.admin, f"old{i}")
    first = api.get("/projects", as_=tenant.admin, query_string="limit=2").json
    api.create_project(tenant.admin, "newest")
    second = api.get("/projects", as_=tenant.admin, query_string=f"limit=2&cursor={first['next_cursor']}").json
    assert [p["name"] for p in first["items"] + second["items"]] == ["old3", "old2", "old1", "old0"]


def test_default_limit_is_50(api: Api, tenant: Tenant) -> None:
    for i in range(51):
        api.create_project(tenant.admin, f"n{i}")
    page = api.get("/projects", as_=tenant.admin).json
    assert len(page["items"]) == 50
    assert page["next_cursor"] is not None


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5"])
def test_limit_out_of_range_is_422(api: Api, tenant: Tenant, limit: str) -> None:
    result = api.get("/projects", as_=tenant.admin, query_string=f"limit={limit}")
    assert result.status_code == 422
    assert result.json["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("limit", ["1", "200"])
def test_limit_bounds_are_accepted(api: Api, tenant: Tenant, limit: str) -> None:
    assert api.get("/projects", as_=tenant.admin, query_string=f"limit={limit}").status_code == 200


def test_a_cursor_the_server_did_not_issue_is_422(api: Api, tenant: Tenant) -> None:
    for i in range(3):
        api.create_project(tenant.admin, f"c{i}")
    issued = api.get("/projects", as_=tenant.admin, query_string="limit=1").json["next_cursor"]
    payload, signature = issued.split(".")
    forged = [
        "garbage",
        f"{payload}.{signature[:-2]}AA",
        f"{payload[:-2]}AA.{signature}",
        "eyJ4IjoxfQ.AAAA",
        "",
    ]
    for cursor in forged:
        result = api.get("/projects", as_=tenant.admin, query_string=f"cursor={cursor}")
        assert result.status_code == 422, cursor
        assert result.json["errors"][0]["field"] == "cursor"
    assert api.get("/projects", as_=tenant.admin, query_string=f"cursor={issued}").status_code == 200
