-- Undoes 0014: no API keys.
DROP TRIGGER api_keys_audit ON iam.api_keys;
ALTER POLICY projects_api_insert ON iam.projects
    WITH CHECK (
        organization_id = (SELECT iam.current_org_id())
        AND created_by_user_id = (SELECT iam.current_user_id())
        AND (SELECT iam.caller_has_permission('projects:write'))
    );
ALTER POLICY invitations_api_insert ON iam.invitations
    WITH CHECK (
        organization_id = (SELECT iam.current_org_id())
        AND invited_by_user_id = (SELECT iam.current_user_id())
        AND (SELECT iam.caller_has_permission('users:manage'))
    );

CREATE OR REPLACE FUNCTION iam.record_audit_event() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
DECLARE
    resource_type text := TG_ARGV[0];
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END;
    changed jsonb := coalesce(new_row, old_row);
    verb text := CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END;
BEGIN
    IF resource_type = 'invitation' AND TG_OP = 'UPDATE' THEN
        IF old_row->>'accepted_at' IS NULL AND new_row->>'accepted_at' IS NOT NULL THEN
            verb := 'accepted';
        ELSIF old_row->>'revoked_at' IS NULL AND new_row->>'revoked_at' IS NOT NULL THEN
            verb := 'revoked';
        END IF;
    END IF;
    PERFORM iam.append_audit_event(
        coalesce(changed->>'organization_id', changed->>'id')::uuid,
        resource_type || '.' || verb,
        resource_type,
        -- A membership is identified by its user; every other resource by its id.
        (CASE WHEN resource_type = 'membership' THEN changed->>'user_id' ELSE changed->>'id' END)::uuid,
        old_row,
        new_row,
        iam.audit_actor_user_id()
    );
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION iam.append_audit_event(p_organization_id uuid, p_action text, p_resource_type text, p_resource_id uuid, p_old_values jsonb, p_new_values jsonb, p_actor_user_id uuid) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
DECLARE
    from_api boolean := pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER');
    request_id text := CASE WHEN from_api THEN nullif(pg_catalog.current_setting('app.request_id', true), '') END;
BEGIN
    -- A cascade from a deleted organization has nothing left to attribute events to.
    IF NOT EXISTS (SELECT FROM iam.organizations WHERE id = p_organization_id) THEN
        RETURN;
    END IF;
    INSERT INTO iam.audit_events (
        organization_id, actor_user_id, actor_db_role, action, resource_type, resource_id,
        old_values, new_values, request_id, anonymous
    ) VALUES (
        p_organization_id, p_actor_user_id, session_user, p_action, p_resource_type, p_resource_id,
        -- Secrets never enter the trail.
        p_old_values - 'password_hash' - 'token_hash',
        p_new_values - 'password_hash' - 'token_hash',
        request_id,
        p_actor_user_id IS NULL AND request_id IS NOT NULL
    );
END
$$;

CREATE OR REPLACE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
BEGIN
    RETURN pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER') AND EXISTS (
        SELECT
        FROM iam.organization_memberships AS m
        JOIN iam.users AS u ON u.id = m.user_id
        JOIN iam.role_permissions AS rp ON rp.role_key = m.role
        JOIN iam.sessions AS s ON s.user_id = m.user_id AND s.organization_id = m.organization_id
        WHERE m.organization_id = iam.current_org_id()
          AND m.user_id = iam.current_user_id()
          AND s.id = iam.current_session_id()
          AND s.revoked_at IS NULL
          AND s.expires_at > pg_catalog.now()
          AND u.is_active
          AND rp.permission_key = permission
    );
END
$$;

ALTER TABLE iam.audit_events DROP COLUMN actor_api_key_id, DROP COLUMN actor_api_key_created_by_user_id;
DROP FUNCTION iam.touch_api_key(uuid, uuid);
DROP FUNCTION iam.enter_api_key_context(text, bytea, bytea, integer, text);
DROP TABLE iam.api_keys;
DROP FUNCTION iam.caller_holds_role(text);
DROP FUNCTION iam.keep_api_keys_revoked();
DROP FUNCTION iam.current_api_key_id();
DELETE FROM iam.role_permissions WHERE permission_key = 'api_keys:manage';
DELETE FROM iam.permissions WHERE key = 'api_keys:manage';
