-- Undoes 0001. Roles are cluster-wide and may serve other databases (and DBA logins are
-- members of iam_dba), so they stay; drop them by hand once no database uses them.
-- The schema stays too: alembic keeps its version table in it.
DROP POLICY IF EXISTS alembic_version_read ON iam.alembic_version;
REVOKE ALL ON iam.alembic_version FROM iam_api;
DROP TABLE iam.dba_tenant_grants, iam.invitations, iam.projects, iam.organization_memberships,
    iam.users, iam.organizations, iam.role_permissions, iam.roles, iam.permissions;
DROP FUNCTION iam.revoke_tenant_access(name, uuid), iam.grant_tenant_access(name, uuid),
    iam.accept_invitation(bytea), iam.create_organization(text), iam.list_my_organizations(),
    iam.find_login(text), iam.register_invited_user(text, text, bytea),
    iam.register_user(text, text, text), iam.consume_invitation(bytea, uuid, text),
    iam.create_organization_for(text, uuid), iam.keep_last_admin(), iam.dba_org_id(),
    iam.caller_has_permission(text), iam.current_user_id(), iam.current_org_id(),
    iam.stamp_timestamps();
ALTER DEFAULT PRIVILEGES IN SCHEMA iam GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
REVOKE USAGE ON SCHEMA iam FROM iam_api, iam_dba;
