-- Row security: every table in iam has it enabled and forced (the owner too). Policies name
-- the role they serve: iam_api (every API transaction) or iam_dba (humans in psql). A role
-- with neither gets no rows. Helpers are wrapped in (SELECT ...) so they run once per
-- statement, not once per row. No context set means NULL, which matches nothing.

ALTER TABLE iam.permissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.permissions FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.roles FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.role_permissions ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.role_permissions FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.organizations FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.users FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.organization_memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.organization_memberships FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.projects FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.invitations FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.dba_tenant_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.dba_tenant_grants FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.alembic_version ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.alembic_version FORCE ROW LEVEL SECURITY;

-- Catalog and schema version ----------------------------------------------------------

-- The permission catalog is public reference data for the API and DBAs.
CREATE POLICY permissions_read ON iam.permissions FOR SELECT TO iam_api, iam_dba USING (true);
-- The role catalog is public reference data for the API and DBAs.
CREATE POLICY roles_read ON iam.roles FOR SELECT TO iam_api, iam_dba USING (true);
-- Which role holds which permission is public reference data for the API and DBAs.
CREATE POLICY role_permissions_read ON iam.role_permissions FOR SELECT TO iam_api, iam_dba USING (true);
-- The API reads the schema version for its readiness check.
CREATE POLICY alembic_version_read ON iam.alembic_version FOR SELECT TO iam_api USING (true);

-- API (iam_api) ------------------------------------------------------------------------

-- A member sees the organization of the current context.
CREATE POLICY organizations_api_select ON iam.organizations FOR SELECT TO iam_api
    USING (id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('tenant:read')));

-- A user sees their own account, and with users:read the accounts of the current organization's members.
CREATE POLICY users_api_select ON iam.users FOR SELECT TO iam_api
    USING (
        id = (SELECT iam.current_user_id())
        OR ((SELECT iam.caller_has_permission('users:read')) AND EXISTS (
            SELECT FROM iam.organization_memberships AS m
            WHERE m.organization_id = (SELECT iam.current_org_id()) AND m.user_id = users.id))
    );
-- A user may update their own account only (password rehash; columns limited by grants).
CREATE POLICY users_api_update_self ON iam.users FOR UPDATE TO iam_api
    USING (id = (SELECT iam.current_user_id()))
    WITH CHECK (id = (SELECT iam.current_user_id()));

-- A user sees their own membership in the current organization, and with users:read all of its memberships.
CREATE POLICY memberships_api_select ON iam.organization_memberships FOR SELECT TO iam_api
    USING (
        organization_id = (SELECT iam.current_org_id())
        AND (user_id = (SELECT iam.current_user_id()) OR (SELECT iam.caller_has_permission('users:read')))
    );
-- With users:manage a user adds members to the current organization only.
CREATE POLICY memberships_api_insert ON iam.organization_memberships FOR INSERT TO iam_api
    WITH CHECK (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('users:manage')));
-- With users:manage a user changes roles in the current organization only.
CREATE POLICY memberships_api_update ON iam.organization_memberships FOR UPDATE TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('users:manage')))
    WITH CHECK (organization_id = (SELECT iam.current_org_id()));
-- With users:manage a user removes members of the current organization only.
CREATE POLICY memberships_api_delete ON iam.organization_memberships FOR DELETE TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('users:manage')));

-- With projects:read a user sees the current organization's projects.
CREATE POLICY projects_api_select ON iam.projects FOR SELECT TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('projects:read')));
-- With projects:write a user creates projects in the current organization, as themselves.
CREATE POLICY projects_api_insert ON iam.projects FOR INSERT TO iam_api
    WITH CHECK (
        organization_id = (SELECT iam.current_org_id())
        AND created_by_user_id = (SELECT iam.current_user_id())
        AND (SELECT iam.caller_has_permission('projects:write'))
    );
-- With projects:write a user edits the current organization's projects, and cannot move them out.
CREATE POLICY projects_api_update ON iam.projects FOR UPDATE TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('projects:write')))
    WITH CHECK (organization_id = (SELECT iam.current_org_id()));
-- With projects:delete a user deletes the current organization's projects.
CREATE POLICY projects_api_delete ON iam.projects FOR DELETE TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('projects:delete')));

-- With users:manage a user sees the current organization's invitations.
CREATE POLICY invitations_api_select ON iam.invitations FOR SELECT TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('users:manage')));
-- With users:manage a user invites into the current organization, as themselves.
CREATE POLICY invitations_api_insert ON iam.invitations FOR INSERT TO iam_api
    WITH CHECK (
        organization_id = (SELECT iam.current_org_id())
        AND invited_by_user_id = (SELECT iam.current_user_id())
        AND (SELECT iam.caller_has_permission('users:manage'))
    );
-- With users:manage a user revokes the current organization's invitations.
CREATE POLICY invitations_api_update ON iam.invitations FOR UPDATE TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('users:manage')))
    WITH CHECK (organization_id = (SELECT iam.current_org_id()));

-- DBAs (iam_dba) ---------------------------------------------------------------------

-- A DBA sees only their own grants.
CREATE POLICY dba_tenant_grants_dba_select ON iam.dba_tenant_grants FOR SELECT TO iam_dba
    USING (db_role = current_user);

-- A DBA sees the selected organization when granted it.
CREATE POLICY organizations_dba_select ON iam.organizations FOR SELECT TO iam_dba
    USING (id = (SELECT iam.dba_org_id()));

-- A DBA sees the accounts of members of the selected, granted organization.
CREATE POLICY users_dba_select ON iam.users FOR SELECT TO iam_dba
    USING (EXISTS (
        SELECT FROM iam.organization_memberships AS m
        WHERE m.organization_id = (SELECT iam.dba_org_id()) AND m.user_id = users.id));

-- A DBA reads and fixes memberships of the selected, granted organization only.
CREATE POLICY memberships_dba_all ON iam.organization_memberships FOR ALL TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()))
    WITH CHECK (organization_id = (SELECT iam.dba_org_id()));

-- A DBA reads and fixes projects of the selected, granted organization only.
CREATE POLICY projects_dba_all ON iam.projects FOR ALL TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()))
    WITH CHECK (organization_id = (SELECT iam.dba_org_id()));

-- A DBA reads, revokes and deletes invitations of the selected, granted organization only.
CREATE POLICY invitations_dba_select ON iam.invitations FOR SELECT TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()));
CREATE POLICY invitations_dba_update ON iam.invitations FOR UPDATE TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()))
    WITH CHECK (organization_id = (SELECT iam.dba_org_id()));
CREATE POLICY invitations_dba_delete ON iam.invitations FOR DELETE TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()));
