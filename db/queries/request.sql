-- name: begin_read_write
-- Opens a request's transaction as iam_api, whatever role DATABASE_URL logs in as.
BEGIN ISOLATION LEVEL READ COMMITTED;
SET LOCAL ROLE iam_api

-- name: begin_read_only
-- Opens a GET/HEAD request's transaction as iam_api; PostgreSQL refuses any write in it.
BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY;
SET LOCAL ROLE iam_api

-- name: enter_context
-- Sets the tenant context for the rest of the transaction, then reads the caller's active
-- membership in it, through a live session of theirs there (no row: the user is gone,
-- inactive, no longer a member, or the session was revoked or expired).
SELECT pg_catalog.set_config('app.user_id', %(user_id)s, true),
       pg_catalog.set_config('app.org_id', %(org_id)s, true),
       pg_catalog.set_config('app.session_id', %(session_id)s, true),
       pg_catalog.set_config('app.request_id', %(request_id)s, true),
       pg_catalog.set_config('TimeZone', 'UTC', true);
SELECT u.id AS user_id,
       u.email,
       o.id AS organization_id,
       o.name AS organization_name,
       s.id AS session_id,
       m.role,
       ARRAY(
           SELECT rp.permission_key FROM iam.role_permissions AS rp
           WHERE rp.role_key = m.role ORDER BY rp.permission_key
       ) AS permissions
FROM iam.organization_memberships AS m
JOIN iam.users AS u ON u.id = m.user_id
JOIN iam.organizations AS o ON o.id = m.organization_id
JOIN iam.sessions AS s ON s.user_id = m.user_id AND s.organization_id = m.organization_id
WHERE m.organization_id = iam.current_org_id()
  AND m.user_id = iam.current_user_id()
  AND s.id = iam.current_session_id()
  AND s.revoked_at IS NULL
  AND s.expires_at > now()
  AND u.is_active

-- name: commit
-- Ends a request that succeeded.
COMMIT

-- name: rollback
-- Ends a request that failed: nothing it did is kept.
ROLLBACK

-- name: schema_version
-- The migration the database is at, for the readiness check.
SELECT version_num FROM iam.alembic_version
