"""Text must show what it says: emails and names are NFC-normalised, and control, format
(zero-width, bidirectional overrides) and separator characters are refused with a 422 that
names the field. The database holds the same rules, so direct SQL cannot bypass them."""

from __future__ import annotations

import unicodedata
from typing import Any

import psycopg
import pytest

from api.text import has_invisible
from tests.integration.conftest import PASSWORD, Api, Sql, Tenant

INVISIBLE = {
    "zero-width space": "\u200b",
    "zero-width joiner": "\u200d",
    "right-to-left override": "\u202e",
    "left-to-right isolate": "\u2066",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "bell": "\u0007",
    "line feed": "\n",
    "line separator": "\u2028",
    "tag character": "\U000e0041",
}
NAMES_AND_EMAILS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("POST", "/auth/register", "email", {"password": PASSWORD, "organization_name": "Org"}),
    ("POST", "/auth/register", "organization_name", {"email": "fresh@example.com", "password": PASSWORD}),
    ("POST", "/organizations", "name", {}),
    ("POST", "/invitations", "email", {"role": "ORG_USER"}),
    ("POST", "/projects", "name", {}),
    ("POST", "/projects", "description", {"name": "Described"}),
]


def spoiled(field: str, character: str) -> str:
    return f"ev{character}e@example.com" if field == "email" else f"Ac{character}me"


@pytest.mark.parametrize(
    ("method", "path", "field", "rest"), NAMES_AND_EMAILS, ids=[f"{m} {p} {f}" for m, p, f, _ in NAMES_AND_EMAILS]
)
def test_invisible_characters_are_422_naming_the_field(
    api: Api, tenant: Tenant, owner: Sql, method: str, path: str, field: str, rest: dict[str, Any]
) -> None:
    count_rows = "SELECT (SELECT count(*) FROM iam.users) + (SELECT count(*) FROM iam.projects)"
    before = owner.execute(count_rows).fetchone()
    for name, character in INVISIBLE.items():
        if field == "description" and character == "\n":
            continue  # descriptions may span lines (test below)
        result = api.call(method, path, tenant.admin, json={**rest, field: spoiled(field, character)})
        assert result.status_code == 422, (name, result.text)
        assert [error["field"] for error in result.json["errors"]] == [field], name
        assert "invisible" in result.json["errors"][0]["message"]
    assert owner.execute(count_rows).fetchone() == before


def test_a_project_named_only_a_zero_width_space_is_refused(api: Api, tenant: Tenant) -> None:
    assert api.post("/projects", {"name": "\u200b"}, as_=tenant.admin).status_code == 422
    project = api.create_project(tenant.admin, "Visible")
    renamed = api.patch(f"/projects/{project['id']}", {"name": "\u200b\u200b"}, as_=tenant.admin)
    assert renamed.status_code == 422
    assert renamed.json["errors"] == [
        {"field": "name", "message": "must not contain control, invisible or text-direction characters"}
    ]


def test_descriptions_may_span_lines(api: Api, tenant: Tenant) -> None:
    created = api.post("/projects", {"name": "Notes", "description": "one\r\ntwo\tthree\n"}, as_=tenant.admin)
    assert created.status_code == 201
    assert created.json["description"] == "one\r\ntwo\tthree\n"


def test_nfc_and_nfd_spellings_of_one_address_are_one_account(api: Api, owner: Sql) -> None:
    composed = "zo\u00eb@example.com"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    first = api.post("/auth/register", {"email": decomposed, "password": PASSWORD, "organization_name": "Twins"})
    assert first.status_code == 201
    assert first.json["user"]["email"] == composed
    twin = api.post("/auth/register", {"email": composed, "password": PASSWORD, "organization_name": "Twins 2"})
    assert twin.status_code == 409
    for spelling in (composed, decomposed, decomposed.upper()):
        assert api.post("/auth/login", {"email": spelling, "password": PASSWORD}).status_code == 200
    assert owner.execute("SELECT email FROM iam.users").fetchall() == [(composed,)]


def test_names_are_stored_in_nfc(api: Api, tenant: Tenant) -> None:
    created = api.create_project(tenant.admin, unicodedata.normalize("NFD", "Caf\u00e9"))
    assert created["name"] == "Caf\u00e9"
    # The NFC twin is the same name, so it collides.
    assert api.post("/projects", {"name": "caf\u00e9"}, as_=tenant.admin).status_code == 409


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO iam.users (email, password_hash) VALUES (E'ev\\u200Be@example.com', 'h')",
        "INSERT INTO iam.users (email, password_hash) VALUES (normalize(E'zo\\u00EB@example.com', NFD), 'h')",
        "INSERT INTO iam.organizations (name) VALUES (E'Ac\\u202Eme')",
        "UPDATE iam.projects SET name = E'\\u200B'",
        "UPDATE iam.projects SET description = E'bell\\u0007'",
        "UPDATE iam.invitations SET email = E'a\\u2066b@example.com'",
    ],
)
def test_direct_sql_is_held_to_the_same_rules(api: Api, tenant: Tenant, owner: Sql, statement: str) -> None:
    api.create_project(tenant.admin)
    api.invite(tenant.admin, "invitee@example.com", "ORG_USER")
    with pytest.raises(psycopg.errors.CheckViolation):
        owner.execute(statement)


def test_python_and_the_database_agree_on_every_character(owner: Sql) -> None:
    """api/text.py and iam.is_visible_text spell the class out separately; they must match
    on every code point (surrogates cannot be stored), with and without line breaks, and
    cover every Cc, Cf, Zl and Zp character this Python knows."""
    for line_breaks in (False, True):
        rows = owner.execute(
            "SELECT array_agg(cp ORDER BY cp) FROM generate_series(1, 1114111) AS cp"
            " WHERE cp NOT BETWEEN 55296 AND 57343 AND NOT iam.is_visible_text(chr(cp), %s)",
            [line_breaks],
        ).fetchone()
        assert rows is not None
        in_database = rows[0]
        in_python = [
            cp
            for cp in range(1, 0x110000)
            if not 0xD800 <= cp <= 0xDFFF and has_invisible(chr(cp), line_breaks=line_breaks)
        ]
        assert in_database == in_python
    categories = {"Cc", "Cf", "Zl", "Zp"}
    known = [cp for cp in range(1, 0x110000) if unicodedata.category(chr(cp)) in categories]
    assert all(has_invisible(chr(cp)) for cp in known)


def test_one_address_is_one_account_whatever_its_spelling(api: Api) -> None:
    """Fullwidth letters and the U-label spelling of a domain registered separate accounts."""
    first = api.register("victim@münchen.example")
    assert first.email == "victim@xn--mnchen-3ya.example"
    for spelling in ("\uff56\uff49\uff43\uff54\uff49\uff4d@münchen.example", "Victim@XN--MNCHEN-3YA.example"):
        again = api.post("/auth/register", {"email": spelling, "password": PASSWORD, "organization_name": "Twin"})
        assert again.status_code == 409, spelling
        login = api.post("/auth/login", {"email": spelling, "password": PASSWORD})
        assert login.status_code == 200, spelling
        assert login.json["user"]["id"] == first.user_id


def test_the_database_refuses_other_spellings_of_an_address(owner: Sql) -> None:
    for spelling in ("\uff56ictim@example.com", "victim@münchen.example"):
        with pytest.raises(psycopg.errors.CheckViolation):
            owner.execute("INSERT INTO iam.users (email, password_hash) VALUES (%s, 'h')", [spelling])
