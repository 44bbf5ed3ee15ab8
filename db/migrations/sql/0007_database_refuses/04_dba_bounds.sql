-- A DBA granted one organization could stop every tenant: UPDATE or DELETE on a table lets
-- LOCK TABLE ... ACCESS EXCLUSIVE succeed, and every API request then waited for it. The API
-- now gives up on a lock after DB_LOCK_TIMEOUT_MS (a 503 with Retry-After), and DBA logins
-- get bounded statements, idle transactions and (PostgreSQL 17+) transactions, so a
-- forgotten BEGIN or lock ends on its own.

-- Grants a DBA login role access to one organization, and bounds its sessions. The bounds
-- are the role's defaults (ALTER ROLE ... SET), applied at its next login:
--   SELECT iam.grant_tenant_access('alice', '00000000-0000-0000-0000-000000000000');
--   SELECT iam.grant_tenant_access('alice', '...', idle_in_transaction_timeout => '30s');
DROP FUNCTION iam.grant_tenant_access(name, uuid);
CREATE FUNCTION iam.grant_tenant_access(
    p_db_role name, p_organization_id uuid,
    statement_timeout text DEFAULT '1min',
    idle_in_transaction_timeout text DEFAULT '1min',
    transaction_timeout text DEFAULT '10min'
) RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = p_db_role)
       OR NOT pg_catalog.pg_has_role(p_db_role, 'iam_dba', 'MEMBER') THEN
        RAISE EXCEPTION 'role % is not a member of iam_dba', p_db_role
            USING HINT = format('GRANT iam_dba TO %I;', p_db_role);
    END IF;
    BEGIN
        EXECUTE format('ALTER ROLE %I SET statement_timeout = %L', p_db_role, statement_timeout);
        EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', p_db_role, idle_in_transaction_timeout);
        IF current_setting('server_version_num')::int >= 170000 THEN
            EXECUTE format('ALTER ROLE %I SET transaction_timeout = %L', p_db_role, transaction_timeout);
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        -- PostgreSQL 16+: only a role's administrators may change its settings.
        RAISE EXCEPTION 'cannot bound the sessions of role %: % may not alter it', p_db_role, current_user
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Create DBA logins as %I, or run GRANT %I TO %I WITH ADMIN OPTION;',
                                current_user, p_db_role, current_user);
    END;
    INSERT INTO iam.dba_tenant_grants (organization_id, db_role)
    VALUES (p_organization_id, p_db_role)
    ON CONFLICT DO NOTHING;
END
$$;
REVOKE ALL ON FUNCTION iam.grant_tenant_access(name, uuid, text, text, text) FROM PUBLIC;
