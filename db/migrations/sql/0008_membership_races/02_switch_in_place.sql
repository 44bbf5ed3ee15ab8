-- Switching to the organization one is already in opened a new session every time: any
-- member (READ_ONLY included) could open 565 sessions a second, each one a session.created
-- event. It now answers with the current session, its refresh token rotated.
CREATE OR REPLACE FUNCTION iam.switch_organization(
    p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.signed_in_user_id();
    current_session uuid := iam.current_session_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_organization_id IS DISTINCT FROM iam.current_org_id() THEN
        RETURN QUERY SELECT * FROM iam.start_session(
            me, p_organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
        RETURN;
    END IF;
    -- Already there: the same session, its refresh token rotated (the previous one is spent).
    PERFORM FROM iam.sessions AS s WHERE s.id = current_session FOR UPDATE;
    UPDATE iam.refresh_tokens AS t SET rotated_at = now() WHERE t.session_id = current_session AND t.rotated_at IS NULL;
    INSERT INTO iam.refresh_tokens (token_hash, session_id) VALUES (p_refresh_token_hash, current_session);
    UPDATE iam.sessions AS s SET last_used_at = now() WHERE s.id = current_session;
    RETURN QUERY
        SELECT s.id, u.id, u.email, o.id, o.name, m.role, s.expires_at
        FROM iam.sessions AS s
        JOIN iam.users AS u ON u.id = s.user_id
        JOIN iam.organizations AS o ON o.id = s.organization_id
        JOIN iam.organization_memberships AS m ON m.user_id = s.user_id AND m.organization_id = s.organization_id
        WHERE s.id = current_session;
END
$$;
