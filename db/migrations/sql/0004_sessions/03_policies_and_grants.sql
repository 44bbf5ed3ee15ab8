-- Sessions are the user's own: through the API a user reads and revokes their sessions
-- across organizations, and nobody else's, not even as ORG_ADMIN. They are not tenant data:
-- no policy serves iam_dba, so a DBA sees none. Only the schema owner (BYPASSRLS) reads them
-- in SQL, since they tell where and on what every user signs in, across all tenants.
-- Refresh tokens and login counters have no policy and no grant at all: the functions above
-- are the only way to them.

-- A user sees their own sessions.
CREATE POLICY sessions_api_select ON iam.sessions FOR SELECT TO iam_api
    USING (user_id = (SELECT iam.current_user_id()));
-- A user revokes their own sessions.
CREATE POLICY sessions_api_update ON iam.sessions FOR UPDATE TO iam_api
    USING (user_id = (SELECT iam.current_user_id()))
    WITH CHECK (user_id = (SELECT iam.current_user_id()));

REVOKE ALL ON iam.sessions, iam.refresh_tokens, iam.login_throttle FROM PUBLIC;
GRANT SELECT (id, user_id, organization_id, created_at, last_used_at, expires_at, user_agent, client_address,
              revoked_at, revoked_reason) ON iam.sessions TO iam_api;
GRANT UPDATE (revoked_at, revoked_reason) ON iam.sessions TO iam_api;

-- Default privileges already keep PUBLIC out; said again, for every function of the schema.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA iam FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    iam.current_session_id(),
    iam.start_session(uuid, uuid, bytea, integer, text, inet),
    iam.record_login(uuid, uuid, text),
    iam.sign_in(uuid, uuid, bytea, integer, text, inet, text),
    iam.refresh_session(bytea, bytea),
    iam.change_own_password(text),
    iam.reserve_login_attempt(bytea, bytea, integer, integer, integer),
    iam.release_login_attempt(bytea, bytea)
    TO iam_api;
