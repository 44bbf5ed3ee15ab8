-- Undoes 0003: the functions, policies and grants of 0001/0002 come back as they were.
-- Superseded invitations stay revoked, and the anonymous mark is dropped with its column.

CREATE OR REPLACE FUNCTION iam.append_audit_event(
    p_organization_id uuid, p_action text, p_resource_type text, p_resource_id uuid,
    p_old_values jsonb, p_new_values jsonb, p_actor_user_id uuid
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM iam.organizations WHERE id = p_organization_id) THEN
        RETURN;
    END IF;
    INSERT INTO iam.audit_events (
        organization_id, actor_user_id, actor_db_role, action, resource_type, resource_id,
        old_values, new_values, request_id
    ) VALUES (
        p_organization_id, p_actor_user_id, session_user, p_action, p_resource_type, p_resource_id,
        p_old_values - 'password_hash' - 'token_hash',
        p_new_values - 'password_hash' - 'token_hash',
        nullif(pg_catalog.current_setting('app.request_id', true), '')
    );
END
$$;
ALTER TABLE iam.audit_events DROP COLUMN anonymous;

DROP POLICY projects_dba_select ON iam.projects;
DROP POLICY projects_dba_insert ON iam.projects;
DROP POLICY projects_dba_update ON iam.projects;
DROP POLICY projects_dba_delete ON iam.projects;
CREATE POLICY projects_dba_all ON iam.projects FOR ALL TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()))
    WITH CHECK (organization_id = (SELECT iam.dba_org_id()));
DROP POLICY memberships_dba_select ON iam.organization_memberships;
DROP POLICY memberships_dba_update ON iam.organization_memberships;
DROP POLICY memberships_dba_delete ON iam.organization_memberships;
CREATE POLICY memberships_dba_all ON iam.organization_memberships FOR ALL TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()))
    WITH CHECK (organization_id = (SELECT iam.dba_org_id()));
GRANT INSERT ON iam.organization_memberships TO iam_dba;

CREATE OR REPLACE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT EXISTS (
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
GRANT EXECUTE ON FUNCTION iam.caller_has_permission(text), iam.current_user_id() TO iam_dba;

CREATE OR REPLACE FUNCTION iam.register_invited_user(p_email text, p_password_hash text, p_token_hash bytea)
RETURNS TABLE (user_id uuid, organization_id uuid, organization_name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    new_user_id uuid;
BEGIN
    INSERT INTO iam.users (email, password_hash) VALUES (p_email, p_password_hash)
    RETURNING id INTO new_user_id;
    RETURN QUERY
        SELECT new_user_id, c.organization_id, c.organization_name, c.role
        FROM iam.consume_invitation(p_token_hash, new_user_id, p_email) AS c;
END
$$;

DROP TRIGGER invitations_supersede_pending ON iam.invitations;
DROP FUNCTION iam.supersede_pending_invitations();
DROP INDEX iam.invitations_organization_email_pending_key;

ALTER TABLE iam.projects DROP CONSTRAINT projects_description_text_check;
ALTER TABLE iam.projects DROP CONSTRAINT projects_name_text_check;
ALTER TABLE iam.organizations DROP CONSTRAINT organizations_name_text_check;
ALTER TABLE iam.invitations DROP CONSTRAINT invitations_email_text_check;
ALTER TABLE iam.users DROP CONSTRAINT users_email_text_check;
DROP FUNCTION iam.is_visible_text(text, boolean);
