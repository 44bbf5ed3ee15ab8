-- A DBA could SET app.request_id = 'forged' and the forged id landed in audit rows. Like
-- actor_user_id, the request id is believed only from sessions that logged in as a member of
-- iam_api (the API's own login, which sets it in enter_context).
CREATE OR REPLACE FUNCTION iam.append_audit_event(
    p_organization_id uuid, p_action text, p_resource_type text, p_resource_id uuid,
    p_old_values jsonb, p_new_values jsonb, p_actor_user_id uuid
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
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
