-- Events that no verified identity stands behind are marked: those of API requests that
-- carried no valid token and did not prove a password (failed logins, registrations). Their
-- details are the client's claims; their request_id is one the server made.
ALTER TABLE iam.audit_events ADD COLUMN anonymous boolean NOT NULL DEFAULT false;
UPDATE iam.audit_events SET anonymous = true WHERE actor_user_id IS NULL AND request_id IS NOT NULL;

-- As in 0002, and: an event is anonymous when it comes from an API request (the API's login,
-- with app.request_id set) with no user behind it.
CREATE OR REPLACE FUNCTION iam.append_audit_event(
    p_organization_id uuid, p_action text, p_resource_type text, p_resource_id uuid,
    p_old_values jsonb, p_new_values jsonb, p_actor_user_id uuid
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    request_id text := nullif(pg_catalog.current_setting('app.request_id', true), '');
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
        p_actor_user_id IS NULL AND request_id IS NOT NULL AND pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER')
    );
END
$$;
