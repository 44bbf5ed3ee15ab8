"""The invariant docs/scaling.md builds on, read from the catalogue: every tenant table leads
its primary key, its foreign keys to tenant data and its indexes with organization_id, so
that a Citus cluster distributed by organization_id keeps every tenant transaction on one
shard. What does not follow the rule is listed here with its reason."""

from __future__ import annotations

from typing import Any

import psycopg

# Tables that carry an organization_id but are not keyed by it, and why.
CROSS_TENANT_TABLES = {
    "mfa_challenges": "a login waiting for its second factor, found by the mfa_token's hash before "
    "any tenant context exists; its organization is where the session will open",
    "sessions": "a user's session, found by the id its access token carries before any tenant "
    "context exists; its organization is an attribute (switch-organization opens another)",
}

# Indexes on tenant tables that do not lead with organization_id, and why.
INDEX_EXCEPTIONS = {
    "invitations_token_hash_key": "accepting an invitation finds it by its token before the "
    "tenant is known (SECURITY DEFINER pre-context flow); sharded, the token must carry the "
    "organization or a reference table must map token to tenant",
    "api_keys_lookup_id_key": "a request made with an API key finds it by the lookup id the key "
    "carries before the tenant is known (iam.enter_api_key_context); sharded, a reference table "
    "must map lookup id to tenant",
    "organization_memberships_user_idx": "login and the organization list look up a user's "
    "memberships across tenants; sharded, a per-user reference of memberships serves them",
}

TENANT_ROOT = "organizations"


def rows(connection: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    return connection.execute(query).fetchall()


def test_tenant_tables_lead_every_key_and_index_with_organization_id(database_url: str) -> None:
    with psycopg.connect(database_url) as connection:
        tenant_tables = {
            name
            for (name,) in rows(
                connection,
                """SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                   WHERE c.relnamespace = 'iam'::regnamespace AND c.relkind IN ('r', 'p')
                     AND a.attname = 'organization_id' AND NOT a.attisdropped""",
            )
        } - set(CROSS_TENANT_TABLES)
        assert {"projects", "organization_memberships", "invitations", "audit_events"} <= tenant_tables

        first_index_columns = rows(
            connection,
            """SELECT t.relname, i.relname, x.indisprimary, a.attname
               FROM pg_index x
               JOIN pg_class t ON t.oid = x.indrelid
               JOIN pg_class i ON i.oid = x.indexrelid
               LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
               WHERE t.relnamespace = 'iam'::regnamespace""",
        )
        primary = {table for table, _, is_primary, _ in first_index_columns if is_primary}
        assert tenant_tables <= primary, "every tenant table has a primary key"
        for table, index, _, first in first_index_columns:
            if table in tenant_tables and index not in INDEX_EXCEPTIONS:
                assert first == "organization_id", f"{index} on {table} leads with {first}"
        assert set(INDEX_EXCEPTIONS) <= {index for _, index, _, _ in first_index_columns}, "stale exception"

        foreign_keys = rows(
            connection,
            """SELECT c.conname, src.relname, dst.relname, a.attname
               FROM pg_constraint c
               JOIN pg_class src ON src.oid = c.conrelid
               JOIN pg_class dst ON dst.oid = c.confrelid
               JOIN pg_attribute a ON a.attrelid = src.oid AND a.attnum = c.conkey[1]
               WHERE c.contype = 'f' AND c.connamespace = 'iam'::regnamespace""",
        )
        checked = 0
        for name, source, target, first in foreign_keys:
            if source in tenant_tables and (target in tenant_tables or target == TENANT_ROOT):
                assert first == "organization_id", f"{name}: {source} -> {target} leads with {first}"
                checked += 1
        assert checked >= 4
