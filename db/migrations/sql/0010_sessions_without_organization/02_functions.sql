-- The signed-in user of a live session, in the claimed organization or, for a session
-- with none, in none.
CREATE OR REPLACE FUNCTION iam.signed_in_user_id() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    RETURN (
        SELECT s.user_id
        FROM iam.sessions AS s
        JOIN iam.users AS u ON u.id = s.user_id
        WHERE s.id = iam.current_session_id()
          AND s.user_id = iam.current_user_id()
          AND s.organization_id IS NOT DISTINCT FROM iam.current_org_id()
          AND s.revoked_at IS NULL
          AND s.expires_at > pg_catalog.now()
          AND u.is_active
          AND pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER')
    );
END
$$;

-- A session in an organization, as in 0009, or in none (p_organization_id NULL) for an
-- active user: login opens one for a user who belongs to no organization.
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
    IF p_organization_id IS NULL THEN
        SELECT u.id AS user_id, u.email, NULL::uuid AS organization_id, NULL::text AS organization_name,
               NULL::text AS role INTO member
        FROM iam.users AS u WHERE u.id = p_user_id AND u.is_active
        FOR SHARE OF u;
    ELSE
        SELECT u.id AS user_id, u.email, o.id AS organization_id, o.name AS organization_name, m.role INTO member
        FROM iam.organization_memberships AS m
        JOIN iam.users AS u ON u.id = m.user_id
        JOIN iam.organizations AS o ON o.id = m.organization_id
        WHERE m.user_id = p_user_id AND m.organization_id = p_organization_id AND u.is_active
        FOR SHARE OF m, u;
    END IF;
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

-- Refresh, as in 0009, for sessions with no organization too.
CREATE OR REPLACE FUNCTION iam.refresh_session(p_token_hash bytea, p_new_token_hash bytea, p_grace_seconds integer)
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
    -- The user, active, and (for a session in an organization) still a member there.
    SELECT u.email, o.name AS organization_name, m.role INTO member
    FROM iam.users AS u
    LEFT JOIN iam.organization_memberships AS m
        ON m.user_id = u.id AND m.organization_id = owning_session.organization_id
    LEFT JOIN iam.organizations AS o ON o.id = m.organization_id
    WHERE u.id = owning_session.user_id AND u.is_active
      AND (owning_session.organization_id IS NULL OR m.user_id IS NOT NULL);
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

-- A new organization administered by the signed-in user, who must be ORG_ADMIN of the
-- current organization, or be signed in to no organization (a user who belongs to none
-- would otherwise have no way to start over). The catalog has no permission for creating
-- tenants, so this is the one place that checks a role name.
CREATE OR REPLACE FUNCTION iam.create_organization(p_name text)
RETURNS TABLE (id uuid, name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.signed_in_user_id();
BEGIN
    IF me IS NULL OR (iam.current_org_id() IS NOT NULL AND NOT EXISTS (
        SELECT FROM iam.organization_memberships AS m
        WHERE m.organization_id = iam.current_org_id() AND m.user_id = me AND m.role = 'ORG_ADMIN'
    )) THEN
        RAISE EXCEPTION 'only an ORG_ADMIN of the current organization may create organizations'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'organization_admin_required';
    END IF;
    RETURN QUERY SELECT c.id, c.name, c.role FROM iam.create_organization_for(p_name, me) AS c;
END
$$;

-- The pending invitations addressed to the signed-in user's email, in any organization:
-- where they may join, as whom, until when. Never the token (accepting needs it, as before).
CREATE FUNCTION iam.list_my_invitations()
RETURNS TABLE (id uuid, organization_id uuid, organization_name text, role text, created_at timestamptz,
               expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT i.id, o.id, o.name, i.role, i.created_at, i.expires_at
    FROM iam.users AS u
    JOIN iam.invitations AS i ON i.email = u.email
    JOIN iam.organizations AS o ON o.id = i.organization_id
    WHERE u.id = iam.signed_in_user_id()
      AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
    ORDER BY i.created_at DESC, i.id
$$;
REVOKE ALL ON FUNCTION iam.list_my_invitations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.list_my_invitations() TO iam_api;
