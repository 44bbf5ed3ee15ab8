-- What a DBA can learn is bounded by the organizations granted to their login role.

-- The API's policy helpers answer for the API's own sessions only. A DBA may SET app.user_id
-- and app.org_id to anything, so these helpers are not theirs to call, and
-- caller_has_permission answers false unless the session logged in as a member of iam_api
-- (the API's login), whoever manages to call it.
REVOKE EXECUTE ON FUNCTION iam.caller_has_permission(text), iam.current_user_id() FROM iam_dba;

CREATE OR REPLACE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER') AND EXISTS (
        SELECT
        FROM iam.organization_memberships AS m
        JOIN iam.users AS u ON u.id = m.user_id
        JOIN iam.role_permissions AS rp ON rp.role_key = m.role
        WHERE m.organization_id = iam.current_org_id()
          AND m.user_id = iam.current_user_id()
          AND u.is_active
          AND rp.permission_key = permission
    )
$$;

-- DBAs change and remove memberships of a granted organization but never add one: an added
-- member's account would become readable (users_dba_select), so a DBA could read any
-- account by adding it and rolling back. People join through invitations.
DROP POLICY memberships_dba_all ON iam.organization_memberships;
-- A DBA reads the memberships of the selected, granted organization.
CREATE POLICY memberships_dba_select ON iam.organization_memberships FOR SELECT TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()));
-- A DBA changes roles in the selected, granted organization only.
CREATE POLICY memberships_dba_update ON iam.organization_memberships FOR UPDATE TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()))
    WITH CHECK (organization_id = (SELECT iam.dba_org_id()));
-- A DBA removes members of the selected, granted organization only.
CREATE POLICY memberships_dba_delete ON iam.organization_memberships FOR DELETE TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()));
REVOKE INSERT ON iam.organization_memberships FROM iam_dba;

-- A project a DBA writes names no creator, or a member of its organization: otherwise the
-- foreign key would tell a DBA whether any user id exists.
DROP POLICY projects_dba_all ON iam.projects;
-- A DBA reads the projects of the selected, granted organization.
CREATE POLICY projects_dba_select ON iam.projects FOR SELECT TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()));
-- A DBA creates projects in the selected, granted organization, crediting no one or a member.
CREATE POLICY projects_dba_insert ON iam.projects FOR INSERT TO iam_dba
    WITH CHECK (
        organization_id = (SELECT iam.dba_org_id())
        AND (created_by_user_id IS NULL OR EXISTS (
            SELECT FROM iam.organization_memberships AS m
            WHERE m.organization_id = projects.organization_id AND m.user_id = projects.created_by_user_id))
    );
-- A DBA fixes projects of the selected, granted organization, and cannot move them out.
CREATE POLICY projects_dba_update ON iam.projects FOR UPDATE TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()))
    WITH CHECK (organization_id = (SELECT iam.dba_org_id()));
-- A DBA deletes projects of the selected, granted organization only.
CREATE POLICY projects_dba_delete ON iam.projects FOR DELETE TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()));
