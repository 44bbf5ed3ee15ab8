-- The most live sessions one user keeps: opening one more revokes the least recently used
-- (reason session_limit). Switching organizations back and forth opened a session each
-- time, without end.
CREATE FUNCTION iam.max_live_sessions_per_user() RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$ SELECT 100 $$;

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
    WHERE m.user_id = p_user_id AND m.organization_id = p_organization_id AND u.is_active
    FOR SHARE OF m, u;
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
    UPDATE iam.sessions AS s SET revoked_at = now(), revoked_reason = 'session_limit'
    WHERE s.id IN (
        SELECT x.id FROM iam.sessions AS x
        WHERE x.user_id = p_user_id AND x.revoked_at IS NULL AND x.expires_at > now()
        ORDER BY x.last_used_at DESC, x.created_at DESC, x.id DESC OFFSET iam.max_live_sessions_per_user()
    );
    RETURN QUERY SELECT new_session_id, member.user_id, member.email, member.organization_id,
                        member.organization_name, member.role, new_expires_at;
END
$$;

-- A refresh whose answer was lost (or whose COMMIT was cut) made the client's natural retry
-- look like theft: the whole session was revoked. Presenting the immediately previous
-- refresh token again within p_grace_seconds of its rotation, while its successor is unused,
-- now replaces that successor (which stops working) and answers 'retried'. Outside the grace
-- period, or once the successor was used, reuse still revokes the session.
DROP FUNCTION iam.refresh_session(bytea, bytea);
CREATE FUNCTION iam.refresh_session(p_token_hash bytea, p_new_token_hash bytea, p_grace_seconds integer)
RETURNS TABLE (outcome text, session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text,
               role text, expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
#variable_conflict use_column
DECLARE
    token iam.refresh_tokens;
    owning_session iam.sessions;
    member record;
    retried boolean := false;
BEGIN
    SELECT * INTO token FROM iam.refresh_tokens AS t WHERE t.token_hash = p_token_hash FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::uuid, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT * INTO owning_session FROM iam.sessions AS s WHERE s.id = token.session_id FOR UPDATE;
    IF token.rotated_at IS NOT NULL THEN
        IF p_grace_seconds > 0 AND token.rotated_at > now() - make_interval(secs => p_grace_seconds)
           AND owning_session.revoked_at IS NULL THEN
            DELETE FROM iam.refresh_tokens AS t WHERE t.token_hash = token.successor_hash AND t.rotated_at IS NULL;
            retried := FOUND;
        END IF;
        -- Recorded once, when it ends a live session: replaying old tokens cannot flood the trail.
        IF NOT retried AND owning_session.revoked_at IS NULL THEN
            UPDATE iam.sessions AS s SET revoked_at = now(), revoked_reason = 'reuse' WHERE s.id = owning_session.id;
            PERFORM iam.append_audit_event(
                owning_session.organization_id, 'session.reuse_detected', 'session', owning_session.id, NULL,
                pg_catalog.jsonb_build_object('user_id', owning_session.user_id), NULL);
        END IF;
        IF NOT retried THEN
            RETURN QUERY SELECT 'reused'::text, owning_session.id, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz;
            RETURN;
        END IF;
    END IF;
    SELECT u.email, o.name AS organization_name, m.role INTO member
    FROM iam.organization_memberships AS m
    JOIN iam.users AS u ON u.id = m.user_id
    JOIN iam.organizations AS o ON o.id = m.organization_id
    WHERE m.user_id = owning_session.user_id AND m.organization_id = owning_session.organization_id AND u.is_active;
    IF NOT FOUND OR owning_session.revoked_at IS NOT NULL OR owning_session.expires_at <= now() THEN
        RETURN QUERY SELECT 'ended'::text, owning_session.id, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    -- A retry keeps the first rotation's time: retrying again and again does not stretch the grace period.
    UPDATE iam.refresh_tokens AS t SET rotated_at = coalesce(t.rotated_at, now()), successor_hash = p_new_token_hash
    WHERE t.token_hash = p_token_hash;
    INSERT INTO iam.refresh_tokens (token_hash, session_id) VALUES (p_new_token_hash, owning_session.id);
    UPDATE iam.sessions AS s SET last_used_at = now() WHERE s.id = owning_session.id;
    RETURN QUERY SELECT CASE WHEN retried THEN 'retried' ELSE 'rotated' END, owning_session.id, owning_session.user_id,
                        member.email, owning_session.organization_id, member.organization_name, member.role,
                        owning_session.expires_at;
END
$$;
