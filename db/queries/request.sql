-- name: begin_read_write
-- Opens a request's transaction.
BEGIN ISOLATION LEVEL READ COMMITTED

-- name: begin_read_only
-- Opens a GET/HEAD request's transaction; PostgreSQL refuses any write in it.
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY

-- name: set_statement_timeout
-- Bounds every statement of the request's transaction (DB_STATEMENT_TIMEOUT_MS), lock waits
-- included, so one slow query cannot hold a connection.
SET LOCAL statement_timeout = %(statement_timeout_ms)s

-- name: set_lock_timeout
-- Gives up on a lock after DB_LOCK_TIMEOUT_MS: a table or row held by someone else (a DBA's
-- LOCK TABLE, a forgotten transaction) fails the request fast, rather than after the
-- statement timeout, and never queues every tenant behind it.
SET LOCAL lock_timeout = %(lock_timeout_ms)s

-- name: set_api_role
-- Runs the rest of the transaction as iam_api, whatever role DATABASE_URL logs in as.
SET LOCAL ROLE iam_api

-- name: enter_context
-- Returns the caller: their active membership through a live session, and only then sets
-- app.user_id, app.org_id and app.session_id for the rest of the transaction (no row: no
-- user, or the user is gone, inactive, no longer a member, or the session ended, and the
-- context stays empty). app.request_id is set either way. A session below its
-- organization's MFA rule gets its row (mfa_required) but no app.org_id.
SELECT user_id, email, email_verified, organization_id, organization_name, session_id, role, permissions, aal, amr,
       mfa_enrolled, mfa_required
FROM iam.enter_context(%(user_id)s, %(org_id)s, %(session_id)s, %(request_id)s)

-- name: enter_api_key_context
-- The same for an API key: its organization and role, and only then app.org_id and
-- app.api_key_id; an outcome other than "ok" (unknown, ended, throttled) leaves the context empty.
SELECT outcome, retry_after_seconds, api_key_id, api_key_name, lookup_id, created_by_user_id, expires_at,
       last_used_at, organization_id, organization_name, role, permissions
FROM iam.enter_api_key_context(%(lookup_id)s, %(key_hash)s, %(address_key)s, %(max_failures)s, %(request_id)s)

-- name: touch_api_key
-- Marks a key used now, unless it was within the last minute.
SELECT iam.touch_api_key(%(organization_id)s, %(id)s)

-- name: commit
-- Ends a request that succeeded.
COMMIT

-- name: rollback
-- Ends a request that failed: nothing it did is kept.
ROLLBACK

-- name: schema_version
-- The migration the database is at, for the readiness check.
SELECT version_num FROM iam.alembic_version
