-- Privileges: nothing is granted to PUBLIC; every grant below is explicit. Columns that
-- hold secrets (users.password_hash, invitations.token_hash) are not readable by either role.

REVOKE ALL ON ALL TABLES IN SCHEMA iam FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA iam FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA iam REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

GRANT USAGE ON SCHEMA iam TO iam_api, iam_dba;

GRANT SELECT ON iam.permissions, iam.roles, iam.role_permissions TO iam_api, iam_dba;
GRANT SELECT ON iam.alembic_version TO iam_api;
GRANT SELECT ON iam.organizations TO iam_api, iam_dba;
GRANT SELECT (id, email, is_active, created_at, updated_at) ON iam.users TO iam_api, iam_dba;
GRANT UPDATE (password_hash) ON iam.users TO iam_api;
GRANT SELECT, INSERT, DELETE ON iam.organization_memberships TO iam_api, iam_dba;
GRANT UPDATE (role) ON iam.organization_memberships TO iam_api, iam_dba;
GRANT SELECT, INSERT, DELETE ON iam.projects TO iam_api, iam_dba;
GRANT UPDATE (name, description) ON iam.projects TO iam_api, iam_dba;
GRANT SELECT (organization_id, id, email, role, invited_by_user_id, expires_at, accepted_at,
              accepted_by_user_id, revoked_at, created_at, updated_at) ON iam.invitations TO iam_api, iam_dba;
GRANT INSERT ON iam.invitations TO iam_api;
GRANT UPDATE (revoked_at) ON iam.invitations TO iam_api, iam_dba;
GRANT DELETE ON iam.invitations TO iam_dba;
GRANT SELECT ON iam.dba_tenant_grants TO iam_dba;

-- Read by policies: both roles need them.
GRANT EXECUTE ON FUNCTION iam.current_org_id(), iam.current_user_id(), iam.caller_has_permission(text)
    TO iam_api, iam_dba;
GRANT EXECUTE ON FUNCTION iam.dba_org_id() TO iam_dba;
-- Entry points of the API's pre-tenant and cross-tenant flows.
GRANT EXECUTE ON FUNCTION
    iam.register_user(text, text, text),
    iam.register_invited_user(text, text, bytea),
    iam.find_login(text),
    iam.list_my_organizations(),
    iam.create_organization(text),
    iam.accept_invitation(bytea)
    TO iam_api;

-- Supabase grants its Data API roles broad default privileges; make sure none reach iam.
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = api_role) THEN
            EXECUTE format('REVOKE ALL ON SCHEMA iam FROM %I', api_role);
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA iam FROM %I', api_role);
            EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA iam FROM %I', api_role);
        END IF;
    END LOOP;
END
$$;
