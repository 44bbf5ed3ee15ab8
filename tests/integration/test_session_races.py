"""A member removed while they open a session (switching organization, logging in) or renew
one (refresh) must end up with no live session there: the database decides it, whichever
transaction commits first. Each race runs many times on two connections at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import pytest

from api.auth.opaque_tokens import new_opaque_token, opaque_token_hash
from tests.integration.conftest import Api, Session, Sql, SqlDatabase, Tenant, begin_as

TRIALS = 30


def at_once(first: Callable[[], None], second: Callable[[], None]) -> None:
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except psycopg.Error as exc:  # a refusal by the database is an outcome, not a failure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(work,)) for work in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)


def live_sessions(owner: Sql, user_id: str, organization_id: str) -> int:
    row = owner.execute(
        "SELECT count(*) FROM iam.sessions WHERE user_id = %s AND organization_id = %s"
        " AND revoked_at IS NULL AND expires_at > now()",
        [user_id, organization_id],
    ).fetchone()
    assert row is not None
    return int(str(row[0]))


def remove(owner_url: str, user_id: str, organization_id: str) -> Callable[[], None]:
    def work() -> None:
        with psycopg.connect(owner_url, autocommit=True) as connection:
            connection.execute(
                "DELETE FROM iam.organization_memberships WHERE organization_id = %s AND user_id = %s",
                [organization_id, user_id],
            )

    return work


def readd(owner: Sql, user_id: str, organization_id: str) -> None:
    owner.execute(
        "INSERT INTO iam.organization_memberships (organization_id, user_id, role) VALUES (%s, %s, 'ORG_USER')"
        " ON CONFLICT DO NOTHING",
        [organization_id, user_id],
    )


@pytest.fixture
def member_of_two(api: Api, tenant: Tenant, other_tenant: Tenant, owner: Sql) -> Session:
    """tenant.user, also a member of other_tenant's organization."""
    readd(owner, tenant.user.user_id, other_tenant.admin.organization_id)
    return tenant.user


def test_removal_racing_a_switch_leaves_no_live_session(
    database: SqlDatabase, database_url: str, owner: Sql, member_of_two: Session, other_tenant: Tenant
) -> None:
    target = other_tenant.admin.organization_id
    for _ in range(TRIALS):
        readd(owner, member_of_two.user_id, target)

        def switch() -> None:
            transaction = begin_as(database, member_of_two, read_only=False)
            try:
                transaction.one(
                    "switch_organization",
                    {
                        "organization_id": target,
                        "refresh_token_hash": new_opaque_token()[1],
                        "ttl_seconds": 3600,
                        "user_agent": None,
                        "client_address": None,
                    },
                )
                transaction.end(commit=True)
            except psycopg.Error:
                transaction.end(commit=False)
                raise

        at_once(switch, remove(database_url, member_of_two.user_id, target))
        assert live_sessions(owner, member_of_two.user_id, target) == 0


def test_removal_racing_a_refresh_leaves_no_live_session(
    api: Api, database_url: str, owner: Sql, member_of_two: Session, other_tenant: Tenant
) -> None:
    target = other_tenant.admin.organization_id
    for _ in range(TRIALS):
        readd(owner, member_of_two.user_id, target)
        session = api.login(member_of_two.email, target)

        def refresh(session: Session = session) -> None:
            with psycopg.connect(database_url, autocommit=True) as connection:
                connection.execute("BEGIN")
                connection.execute("SET LOCAL ROLE iam_api")
                connection.execute(
                    "SELECT * FROM iam.refresh_session(%s, %s)",
                    [opaque_token_hash(session.refresh_token), new_opaque_token()[1]],
                )
                connection.execute("COMMIT")

        at_once(refresh, remove(database_url, member_of_two.user_id, target))
        assert live_sessions(owner, member_of_two.user_id, target) == 0
