-- Undoes 0009: counters per email (lockable by strangers) in iam.login_throttle, no
-- session cap, no refresh grace period.
DROP FUNCTION iam.reserve_login_attempt(bytea, bytea, bytea, integer, integer, integer, integer, integer, integer);
DROP FUNCTION iam.release_login_attempt(bytea, bytea, bytea, boolean);
DROP FUNCTION iam.take_quota(bytea, integer, integer);
DROP FUNCTION iam.lock_attempt_counters(bytea[], integer[]);
DROP FUNCTION iam.purge_expired();
DROP FUNCTION iam.refresh_session(bytea, bytea, integer);
DROP TABLE iam.attempt_counters, iam.known_sign_in_clients;

UPDATE iam.sessions SET revoked_reason = 'logout' WHERE revoked_reason = 'session_limit';
ALTER TABLE iam.sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE iam.sessions ADD CONSTRAINT sessions_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'password_change', 'reuse', 'admin_removal', 'deactivated'));
ALTER TABLE iam.refresh_tokens DROP COLUMN successor_hash;

CREATE TABLE iam.login_throttle (
    subject bytea PRIMARY KEY,
    window_started_at timestamptz NOT NULL,
    failures integer NOT NULL CHECK (failures >= 0),
    refused_at timestamptz
);
CREATE INDEX login_throttle_window_idx ON iam.login_throttle (window_started_at);
ALTER TABLE iam.login_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.login_throttle FORCE ROW LEVEL SECURITY;
REVOKE ALL ON iam.login_throttle FROM PUBLIC;

CREATE FUNCTION iam.refresh_session(p_token_hash bytea, p_new_token_hash bytea)
RETURNS TABLE (outcome text, session_id uuid, user_id uuid, email text, organization_id uuid,
               organization_name text, role text, expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
#variable_conflict use_column
DECLARE
    token iam.refresh_tokens;
    owning_session iam.sessions;
    member record;
BEGIN
    SELECT * INTO token FROM iam.refresh_tokens AS t WHERE t.token_hash = p_token_hash FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown'::text, NULL::uuid, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    SELECT * INTO owning_session FROM iam.sessions AS s WHERE s.id = token.session_id FOR UPDATE;
    IF token.rotated_at IS NOT NULL THEN
        -- Recorded once, when it ends a live session: replaying old tokens cannot flood the trail.
        IF owning_session.revoked_at IS NULL THEN
            UPDATE iam.sessions AS s SET revoked_at = now(), revoked_reason = 'reuse' WHERE s.id = owning_session.id;
            PERFORM iam.append_audit_event(
                owning_session.organization_id, 'session.reuse_detected', 'session', owning_session.id, NULL,
                pg_catalog.jsonb_build_object('user_id', owning_session.user_id), NULL);
        END IF;
        RETURN QUERY SELECT 'reused'::text, owning_session.id, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz;
        RETURN;
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
    UPDATE iam.refresh_tokens AS t SET rotated_at = now() WHERE t.token_hash = p_token_hash;
    INSERT INTO iam.refresh_tokens (token_hash, session_id) VALUES (p_new_token_hash, owning_session.id);
    UPDATE iam.sessions AS s SET last_used_at = now() WHERE s.id = owning_session.id;
    RETURN QUERY SELECT 'rotated'::text, owning_session.id, owning_session.user_id, member.email,
                        owning_session.organization_id, member.organization_name, member.role, owning_session.expires_at;
END
$$;

CREATE FUNCTION iam.reserve_login_attempt(
    p_email_key bytea, p_address_key bytea, p_max_email integer, p_max_address integer, p_window_seconds integer
) RETURNS TABLE (allowed boolean, retry_after_seconds integer, first_refusal boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    window_length interval := make_interval(secs => p_window_seconds);
    blocked_until timestamptz;
    newly_refused integer;
BEGIN
    DELETE FROM iam.login_throttle WHERE subject IN (
        SELECT t.subject FROM iam.login_throttle AS t WHERE t.window_started_at <= now() - window_length
        ORDER BY t.window_started_at LIMIT 20 FOR UPDATE SKIP LOCKED
    );
    -- Both rows, created if new and locked in one order, so that two attempts never deadlock.
    INSERT INTO iam.login_throttle (subject, window_started_at, failures)
    SELECT key, now(), 0 FROM unnest(ARRAY[p_email_key, p_address_key]) AS key ORDER BY key
    ON CONFLICT (subject) DO NOTHING;
    PERFORM FROM iam.login_throttle AS t WHERE t.subject IN (p_email_key, p_address_key)
    ORDER BY t.subject FOR UPDATE;
    UPDATE iam.login_throttle AS t SET window_started_at = now(), failures = 0, refused_at = NULL
    WHERE t.subject IN (p_email_key, p_address_key) AND t.window_started_at <= now() - window_length;

    SELECT max(t.window_started_at + window_length) INTO blocked_until
    FROM iam.login_throttle AS t
    WHERE (t.subject = p_email_key AND t.failures >= p_max_email)
       OR (t.subject = p_address_key AND t.failures >= p_max_address);
    IF blocked_until IS NOT NULL THEN
        UPDATE iam.login_throttle AS t SET refused_at = now()
        WHERE t.subject = p_email_key AND t.failures >= p_max_email AND t.refused_at IS NULL;
        GET DIAGNOSTICS newly_refused = ROW_COUNT;
        RETURN QUERY SELECT false,
            greatest(1, ceil(extract(epoch FROM blocked_until - now())))::integer, newly_refused > 0;
        RETURN;
    END IF;
    UPDATE iam.login_throttle AS t SET failures = t.failures + 1 WHERE t.subject IN (p_email_key, p_address_key);
    RETURN QUERY SELECT true, 0, false;
END
$$;
CREATE FUNCTION iam.release_login_attempt(p_email_key bytea, p_address_key bytea) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    UPDATE iam.login_throttle SET failures = failures - 1
    WHERE subject IN (p_email_key, p_address_key) AND failures > 0
$$;
CREATE FUNCTION iam.purge_expired(p_window_seconds integer DEFAULT 900)
RETURNS TABLE (counters_removed bigint, sessions_removed bigint)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    counters bigint;
    ended bigint;
BEGIN
    DELETE FROM iam.login_throttle WHERE window_started_at <= now() - make_interval(secs => p_window_seconds);
    GET DIAGNOSTICS counters = ROW_COUNT;
    DELETE FROM iam.sessions WHERE expires_at < now() - interval '1 day';
    GET DIAGNOSTICS ended = ROW_COUNT;
    RETURN QUERY SELECT counters, ended;
END
$$;

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
    RETURN QUERY SELECT new_session_id, member.user_id, member.email, member.organization_id,
                        member.organization_name, member.role, new_expires_at;
END
$$;

DROP FUNCTION iam.max_live_sessions_per_user();

GRANT EXECUTE ON FUNCTION
    iam.refresh_session(bytea, bytea),
    iam.reserve_login_attempt(bytea, bytea, integer, integer, integer),
    iam.release_login_attempt(bytea, bytea)
    TO iam_api;
