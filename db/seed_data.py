"""`make seed-data SCALE=<projects>`: fills a migrated database quickly, with COPY, for
benchmarks: TENANTS organizations with an ORG_ADMIN, an ORG_USER and a READ_ONLY member
each, and SCALE projects spread evenly over them. Run again with a larger SCALE, it adds
projects up to that total.

The first organization ("focus") always holds FOCUS_PROJECTS projects of its own, whatever
SCALE is, so a benchmark that reads it measures what a growing table costs, not a growing
tenant. Its admin gets BENCH_SESSIONS sessions whose refresh tokens are `bench-refresh-<n>`.
Every seeded user's password is BENCH_PASSWORD. Runs as the schema owner: user triggers
(audit, timestamps) are off while the rows load, in the same transaction.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from argon2 import PasswordHasher

from db.embedded import database_url

TENANTS = 1000
FOCUS_PROJECTS = 200
BENCH_SESSIONS = 130
BENCH_PASSWORD = "bench password 123"  # noqa: S105 - a published test password, for benchmarks only
ROLES = ("ORG_ADMIN", "ORG_USER", "READ_ONLY")
TABLES = ("organizations", "users", "organization_memberships", "projects", "sessions", "refresh_tokens")
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
Sql = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True)
class Focus:
    """What a benchmark needs to act as the focus tenant's admin."""

    organization_id: uuid.UUID
    admin_id: uuid.UUID
    admin_email: str
    session_ids: list[uuid.UUID]
    project_ids: list[uuid.UUID]


def refresh_token(n: int) -> str:
    return f"bench-refresh-{n}"


def _copy(connection: Sql, table: str, columns: str, rows: Sequence[tuple[object, ...]]) -> None:
    with connection.cursor().copy(f"COPY iam.{table} ({columns}) FROM STDIN") as copy:  # names are constants
        for row in rows:
            copy.write_row(row)


def _triggers(connection: Sql, action: str) -> None:
    for table in TABLES:
        connection.execute(f"ALTER TABLE iam.{table} {action} TRIGGER USER")


def _organizations(connection: Sql) -> list[uuid.UUID]:
    rows = connection.execute("SELECT id FROM iam.organizations ORDER BY name").fetchall()
    return [row[0] for row in rows]


def _seed_tenants(connection: Sql, tenants: int) -> None:
    password_hash = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1).hash(BENCH_PASSWORD)
    organizations, users, memberships = [], [], []
    for t in range(tenants):
        organization_id = uuid.uuid4()
        organizations.append((organization_id, f"tenant-{t:06d}", EPOCH, EPOCH))
        for r, role in enumerate(ROLES):
            user_id = uuid.uuid4()
            users.append((user_id, f"user-{t}-{r}@bench.example", password_hash, EPOCH, EPOCH))
            memberships.append((organization_id, user_id, role, EPOCH, EPOCH))
    _copy(connection, "organizations", "id, name, created_at, updated_at", organizations)
    _copy(connection, "users", "id, email, password_hash, created_at, updated_at", users)
    _copy(connection, "organization_memberships", "organization_id, user_id, role, created_at, updated_at", memberships)


def _seed_projects(connection: Sql, organizations: list[uuid.UUID], total: int) -> int:
    """Adds projects, evenly over the organizations but the focus, up to `total` of them."""
    row = connection.execute(
        "SELECT count(*) FROM iam.projects WHERE organization_id <> %s", [organizations[0]]
    ).fetchone()
    have = int(row[0]) if row else 0
    others = organizations[1:]
    rows: list[tuple[object, ...]] = []
    for n in range(have, total):
        created = EPOCH + datetime.timedelta(seconds=n)
        rows.append((others[n % len(others)], uuid.uuid4(), f"project-{n:08d}", None, created, created))
        if len(rows) == 50_000:
            _copy(connection, "projects", "organization_id, id, name, description, created_at, updated_at", rows)
            rows = []
    _copy(connection, "projects", "organization_id, id, name, description, created_at, updated_at", rows)
    return max(total - have, 0)


def _seed_focus(connection: Sql, organization_id: uuid.UUID) -> None:
    admin = connection.execute(
        "SELECT user_id FROM iam.organization_memberships WHERE organization_id = %s AND role = 'ORG_ADMIN'",
        [organization_id],
    ).fetchone()
    assert admin is not None
    projects = [
        (organization_id, uuid.uuid4(), f"focus-{n:04d}", "seeded", EPOCH + datetime.timedelta(minutes=n), EPOCH)
        for n in range(FOCUS_PROJECTS)
    ]
    _copy(connection, "projects", "organization_id, id, name, description, created_at, updated_at", projects)
    sessions = [
        (uuid.uuid4(), admin[0], organization_id, EPOCH + datetime.timedelta(days=3650)) for _ in range(BENCH_SESSIONS)
    ]
    _copy(connection, "sessions", "id, user_id, organization_id, expires_at", sessions)
    tokens = [(hashlib.sha256(refresh_token(n).encode()).digest(), s[0]) for n, s in enumerate(sessions)]
    _copy(connection, "refresh_tokens", "token_hash, session_id", tokens)


def seed(url: str, projects: int, tenants: int = TENANTS) -> int:
    """Seeds tenants once, then projects up to `projects` in all; the number of projects added."""
    with psycopg.connect(url) as connection:
        _triggers(connection, "DISABLE")
        organizations = _organizations(connection)
        if not organizations:
            _seed_tenants(connection, tenants)
            organizations = _organizations(connection)
            _seed_focus(connection, organizations[0])
        added = _seed_projects(connection, organizations, projects)
        _triggers(connection, "ENABLE")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) iam.projects, iam.organization_memberships, iam.users, iam.sessions")
    return added


def focus(url: str) -> Focus:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT o.id, u.id, u.email FROM iam.organizations AS o"
            " JOIN iam.organization_memberships AS m ON m.organization_id = o.id AND m.role = 'ORG_ADMIN'"
            " JOIN iam.users AS u ON u.id = m.user_id WHERE o.name = 'tenant-000000'"
        ).fetchone()
        assert row is not None, "seed the database first"
        organization_id, admin_id, email = row
        sessions = connection.execute(
            "SELECT s.id FROM iam.sessions AS s JOIN iam.refresh_tokens AS t ON t.session_id = s.id"
            " WHERE s.user_id = %s ORDER BY t.issued_at, s.id",
            [admin_id],
        ).fetchall()
        projects = connection.execute(
            "SELECT id FROM iam.projects WHERE organization_id = %s ORDER BY name", [organization_id]
        ).fetchall()
    return Focus(
        organization_id,
        admin_id,
        str(email),
        [s[0] for s in sessions],
        [p[0] for p in projects],
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=int, default=100_000, help="projects in all (spread over the tenants)")
    parser.add_argument("--tenants", type=int, default=TENANTS)
    arguments = parser.parse_args()
    with database_url() as url:
        added = seed(url, arguments.scale, arguments.tenants)
    print(f"seeded: {added} projects added (SCALE={arguments.scale}, {arguments.tenants} tenants)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
