-- The session lifecycle and login throttling, as narrow SECURITY DEFINER entry points for
-- the API: sessions and counters change through these functions only.

-- The session of this API transaction (the access token's sid); NULL otherwise.
CREATE FUNCTION iam.current_session_id() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT nullif(pg_catalog.current_setting('app.session_id', true), '')::uuid
$$;

-- Opens a session of an active member with its first refresh token, and clears away a few
-- sessions that expired over a day ago, so the table stays bounded without a cron job.
-- Raises session_membership_required when the user is not an active member there.
CREATE FUNCTION iam.start_session(
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

-- Login outcomes: login.succeeded, login.failed or login.throttled, recorded in the
-- organization the login targeted and only when the user is a member there, so a stranger's
-- attempts never reach a tenant. Replaces 0002's boolean form.
DROP FUNCTION iam.record_login(uuid, uuid, boolean);
CREATE FUNCTION iam.record_login(p_user_id uuid, p_organization_id uuid, p_outcome text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF p_outcome NOT IN ('succeeded', 'failed', 'throttled') THEN
        RAISE EXCEPTION 'unknown login outcome %', p_outcome USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (
        SELECT FROM iam.organization_memberships
        WHERE organization_id = p_organization_id AND user_id = p_user_id
    ) THEN
        PERFORM iam.append_audit_event(
            p_organization_id, 'login.' || p_outcome, 'user', p_user_id, NULL, NULL,
            CASE WHEN p_outcome = 'succeeded' THEN p_user_id END
        );
    END IF;
END
$$;

-- A successful password login, in one statement: a new session, login.succeeded, and the
-- password's new hash when the hashing parameters changed since it was set.
CREATE FUNCTION iam.sign_in(
    p_user_id uuid, p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer,
    p_user_agent text, p_client_address inet, p_password_rehash text
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    RETURN QUERY SELECT * FROM iam.start_session(
        p_user_id, p_organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
    PERFORM iam.record_login(p_user_id, p_organization_id, 'succeeded');
    IF p_password_rehash IS NOT NULL THEN
        UPDATE iam.users SET password_hash = p_password_rehash WHERE id = p_user_id;
    END IF;
END
$$;

-- Rotates a refresh token: the presented one is marked rotated and a new one issued, when
-- the session is live and its user still an active member. outcome is 'rotated', 'unknown',
-- 'ended' (revoked, expired, deactivated or removed) or 'reused': the token was already
-- rotated, so a copy is in other hands and the whole session is revoked (its newest refresh
-- token and its access tokens with it). The token row is locked first: concurrent refreshes
-- with one token queue, and each later one re-reads it rotated, so at most one succeeds.
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

-- The current user's new password hash: every other session of theirs, in every
-- organization, ends; the current one stays. Recorded as password.changed.
CREATE FUNCTION iam.change_own_password(p_password_hash text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF iam.current_user_id() IS NULL OR iam.current_session_id() IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE iam.users SET password_hash = p_password_hash WHERE id = iam.current_user_id();
    UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'password_change'
    WHERE user_id = iam.current_user_id() AND id <> iam.current_session_id() AND revoked_at IS NULL;
    PERFORM iam.append_audit_event(
        iam.current_org_id(), 'password.changed', 'user', iam.current_user_id(), NULL, NULL, iam.audit_actor_user_id());
END
$$;

-- Reserves one login attempt for an email key and a client-address key (see
-- login_throttle): allowed while both are under their limits in the current window; the
-- reserved attempt counts as a failure until release_login_attempt gives it back. Counting
-- before the password is checked is what bounds parallel guesses. first_refusal is true
-- once per window, when the email's limit first refuses (login.throttled is recorded then).
-- A few expired counters are cleared with every call, so the table stays bounded.
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

-- Gives back an attempt reserved by reserve_login_attempt: a successful login is no failure.
CREATE FUNCTION iam.release_login_attempt(p_email_key bytea, p_address_key bytea) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    UPDATE iam.login_throttle SET failures = failures - 1
    WHERE subject IN (p_email_key, p_address_key) AND failures > 0
$$;

-- Housekeeping an operator may also run on a schedule (the login path already clears a
-- little with every attempt): expired counters, and sessions that expired over a day ago.
--   SELECT * FROM iam.purge_expired(900);  -- pass LOGIN_WINDOW_SECONDS
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

-- Audit: session.created and session.revoked (with the reason) in the session's
-- organization. Never refreshes (that would drown the trail), and never the user agent or
-- address: members' sessions are not their admins' to see.
CREATE FUNCTION iam.record_session_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM iam.append_audit_event(
            NEW.organization_id, 'session.created', 'session', NEW.id, NULL,
            pg_catalog.jsonb_build_object('user_id', NEW.user_id, 'expires_at', NEW.expires_at), NEW.user_id);
    ELSIF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        PERFORM iam.append_audit_event(
            NEW.organization_id, 'session.revoked', 'session', NEW.id, NULL,
            pg_catalog.jsonb_build_object('user_id', NEW.user_id, 'reason', NEW.revoked_reason),
            iam.audit_actor_user_id());
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER sessions_audit AFTER INSERT OR UPDATE OF revoked_at ON iam.sessions
    FOR EACH ROW EXECUTE FUNCTION iam.record_session_event();

-- A revoked session stays revoked, whoever updates it.
CREATE FUNCTION iam.keep_sessions_revoked() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL
       AND (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.revoked_reason IS DISTINCT FROM OLD.revoked_reason) THEN
        RAISE EXCEPTION 'a revoked session stays revoked'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'sessions_stay_revoked';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sessions_stay_revoked BEFORE UPDATE OF revoked_at, revoked_reason ON iam.sessions
    FOR EACH ROW EXECUTE FUNCTION iam.keep_sessions_revoked();

-- A member removed from an organization (by an admin or a DBA) loses their sessions there.
CREATE FUNCTION iam.end_sessions_of_removed_member() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'admin_removal'
    WHERE user_id = OLD.user_id AND organization_id = OLD.organization_id AND revoked_at IS NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER organization_memberships_end_sessions AFTER DELETE ON iam.organization_memberships
    FOR EACH ROW EXECUTE FUNCTION iam.end_sessions_of_removed_member();

-- A deactivated user loses every session.
CREATE FUNCTION iam.end_sessions_of_deactivated_user() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF OLD.is_active AND NOT NEW.is_active THEN
        UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'deactivated'
        WHERE user_id = NEW.id AND revoked_at IS NULL;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_end_sessions AFTER UPDATE OF is_active ON iam.users
    FOR EACH ROW EXECUTE FUNCTION iam.end_sessions_of_deactivated_user();
