-- A refreshed token keeps its session's level: the function also answers aal and amr.
DROP FUNCTION iam.refresh_session(bytea, bytea, integer);
CREATE FUNCTION iam.refresh_session(p_token_hash bytea, p_new_token_hash bytea, p_grace_seconds integer) RETURNS TABLE(outcome text, session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text, expires_at timestamp with time zone, aal smallint, amr text[])
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
DECLARE
    token iam.refresh_tokens;
    owning_session iam.sessions;
    member record;
    retried boolean := false;
BEGIN
    SELECT * INTO token FROM iam.refresh_tokens AS t WHERE t.token_hash = p_token_hash FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::uuid, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz, NULL::smallint, NULL::text[];
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
            RETURN QUERY SELECT 'reused'::text, owning_session.id, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz, NULL::smallint, NULL::text[];
            RETURN;
        END IF;
    END IF;
    -- The user, active, and (for a session in an organization) still a member there.
    SELECT u.email, o.name AS organization_name, m.role INTO member
    FROM iam.users AS u
    LEFT JOIN iam.organization_memberships AS m
        ON m.user_id = u.id AND m.organization_id = owning_session.organization_id
    LEFT JOIN iam.organizations AS o ON o.id = m.organization_id
    WHERE u.id = owning_session.user_id AND u.is_active
      AND (owning_session.organization_id IS NULL OR m.user_id IS NOT NULL);
    IF NOT FOUND OR owning_session.revoked_at IS NOT NULL OR owning_session.expires_at <= now() THEN
        RETURN QUERY SELECT 'ended'::text, owning_session.id, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz, NULL::smallint, NULL::text[];
        RETURN;
    END IF;
    -- A retry keeps the first rotation's time: retrying again and again does not stretch the grace period.
    UPDATE iam.refresh_tokens AS t SET rotated_at = coalesce(t.rotated_at, now()), successor_hash = p_new_token_hash
    WHERE t.token_hash = p_token_hash;
    INSERT INTO iam.refresh_tokens (token_hash, session_id) VALUES (p_new_token_hash, owning_session.id);
    UPDATE iam.sessions AS s SET last_used_at = now() WHERE s.id = owning_session.id;
    RETURN QUERY SELECT CASE WHEN retried THEN 'retried' ELSE 'rotated' END, owning_session.id, owning_session.user_id,
                        member.email, owning_session.organization_id, member.organization_name, member.role,
                        owning_session.expires_at, owning_session.aal, owning_session.amr;
END
$$;
REVOKE ALL ON FUNCTION iam.refresh_session(bytea, bytea, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.refresh_session(bytea, bytea, integer) TO iam_api;
