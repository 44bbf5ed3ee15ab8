-- Undoes 0008: start_session without the row locks.
CREATE OR REPLACE FUNCTION iam.start_session(
    p_user_id uuid, p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer,
    p_user_agent text, p_client_address inet
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
#variable_conflict use_column
DECLARE
    member record;
    new_session_id uuid;
    new_expires_at timestamptz := now() + make_interval(secs => p_ttl_seconds);
BEGIN
    SELECT u.id AS user_id, u.email, o.id AS organization_id, o.name AS organization_name, m.role INTO member
    FROM iam.organization_memberships AS m
    JOIN iam.users AS u ON u.id = m.user_id
    JOIN iam.organizations AS o ON o.id = m.organization_id
    WHERE m.user_id = p_user_id AND m.organization_id = p_organization_id AND u.is_active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'not an active member of that organization'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'session_membership_required';
    END IF;
    DELETE FROM iam.sessions WHERE id IN (
        SELECT s.id FROM iam.sessions AS s WHERE s.expires_at < now() - interval '1 day'
        ORDER BY s.expires_at LIMIT 20 FOR UPDATE SKIP LOCKED
    );
    INSERT INTO iam.sessions (user_id, organization_id, expires_at, user_agent, client_address)
    VALUES (p_user_id, p_organization_id, new_expires_at, pg_catalog.left(p_user_agent, 512), p_client_address)
    RETURNING id INTO new_session_id;
    INSERT INTO iam.refresh_tokens (token_hash, session_id) VALUES (p_refresh_token_hash, new_session_id);
    RETURN QUERY SELECT new_session_id, member.user_id, member.email, member.organization_id,
                        member.organization_name, member.role, new_expires_at;
END
$$;

CREATE OR REPLACE FUNCTION iam.switch_organization(
    p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.signed_in_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT * FROM iam.start_session(
        me, p_organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
END
$$;
