-- Undoes 0015: no second factor.
DROP FUNCTION iam.update_organization(uuid, text, boolean);
DROP FUNCTION iam.fail_mfa_challenge(bytea);
DROP FUNCTION iam.complete_mfa_challenge(bytea, integer, bigint, bytea, bytea, integer, text, inet);
DROP FUNCTION iam.open_mfa_challenge(bytea, integer);
DROP FUNCTION iam.start_mfa_challenge(uuid, text, uuid, bytea, integer, text, inet, text);
DROP FUNCTION iam.replace_recovery_codes(bytea[]);
DROP FUNCTION iam.remove_totp();
DROP FUNCTION iam.activate_totp(uuid, bigint, bytea[]);
DROP FUNCTION iam.own_totp(text);
DROP FUNCTION iam.enroll_totp(bytea);
DROP FUNCTION iam.record_mfa_event(uuid, text);
ALTER POLICY api_keys_api_insert ON iam.api_keys
    WITH CHECK (organization_id = (SELECT iam.current_org_id())
                AND created_by_user_id = (SELECT iam.current_user_id())
                AND (SELECT iam.caller_has_permission('api_keys:manage'))
                AND iam.caller_holds_role(role));
ALTER POLICY memberships_api_update ON iam.organization_memberships
    WITH CHECK (organization_id = (SELECT iam.current_org_id()));

DROP FUNCTION iam.enter_context(uuid, uuid, uuid, text);
CREATE FUNCTION iam.enter_context(p_user_id uuid, p_organization_id uuid, p_session_id uuid, p_request_id text) RETURNS TABLE(user_id uuid, email text, email_verified boolean, organization_id uuid, organization_name text, session_id uuid, role text, permissions text[])
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
DECLARE
    caller record;
BEGIN
    PERFORM pg_catalog.set_config('app.user_id', '', true),
            pg_catalog.set_config('app.org_id', '', true),
            pg_catalog.set_config('app.session_id', '', true),
            pg_catalog.set_config('app.request_id', coalesce(p_request_id, ''), true),
            pg_catalog.set_config('TimeZone', 'UTC', true),
            -- Plans for SSD storage, as managed hosts are: with the default 4.0 the planner
            -- read a large tenant's whole project list and sorted it (7.5 ms) rather than
            -- take the ordered index (0.8 ms), since it cannot see which tenant a policy picks.
            pg_catalog.set_config('random_page_cost', '1.1', true);
    IF p_user_id IS NULL THEN
        RETURN;
    END IF;
    IF p_organization_id IS NULL THEN
        -- A session with no organization (its user belongs to none): the user, no role,
        -- no permission. app.org_id stays empty, so every tenant policy answers nothing.
        SELECT u.id AS user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, NULL::uuid AS organization_id, NULL::text AS organization_name,
               s.id AS session_id, NULL::text AS role, ARRAY[]::text[] AS permissions
        INTO caller
        FROM iam.sessions AS s
        JOIN iam.users AS u ON u.id = s.user_id
        WHERE s.id = p_session_id
          AND s.user_id = p_user_id
          AND s.organization_id IS NULL
          AND s.revoked_at IS NULL
          AND s.expires_at > pg_catalog.now()
          AND u.is_active;
    ELSE
        SELECT u.id AS user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, o.id AS organization_id, o.name AS organization_name, s.id AS session_id,
               m.role,
               ARRAY(SELECT rp.permission_key FROM iam.role_permissions AS rp
                     WHERE rp.role_key = m.role ORDER BY rp.permission_key) AS permissions
        INTO caller
        FROM iam.organization_memberships AS m
        JOIN iam.users AS u ON u.id = m.user_id
        JOIN iam.organizations AS o ON o.id = m.organization_id
        JOIN iam.sessions AS s ON s.user_id = m.user_id AND s.organization_id = m.organization_id
        WHERE m.organization_id = p_organization_id
          AND m.user_id = p_user_id
          AND s.id = p_session_id
          AND s.revoked_at IS NULL
          AND s.expires_at > pg_catalog.now()
          AND u.is_active;
    END IF;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM pg_catalog.set_config('app.user_id', p_user_id::text, true),
            pg_catalog.set_config('app.org_id', coalesce(p_organization_id::text, ''), true),
            pg_catalog.set_config('app.session_id', p_session_id::text, true);
    RETURN QUERY SELECT caller.user_id, caller.email, caller.email_verified, caller.organization_id,
                        caller.organization_name, caller.session_id, caller.role, caller.permissions;
END
$$;

REVOKE ALL ON FUNCTION iam.enter_context(uuid, uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.enter_context(uuid, uuid, uuid, text) TO iam_api;

DROP FUNCTION iam.refresh_session(bytea, bytea, integer);
CREATE FUNCTION iam.refresh_session(p_token_hash bytea, p_new_token_hash bytea, p_grace_seconds integer) RETURNS TABLE(outcome text, session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text, expires_at timestamp with time zone)
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

REVOKE ALL ON FUNCTION iam.refresh_session(bytea, bytea, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.refresh_session(bytea, bytea, integer) TO iam_api;

DROP FUNCTION iam.find_login(text);
CREATE FUNCTION iam.find_login(p_email text) RETURNS TABLE(user_id uuid, password_hash text, is_active boolean, default_organization_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
    SELECT u.id, u.password_hash, u.is_active, (
        SELECT m.organization_id FROM iam.organization_memberships AS m
        WHERE m.user_id = u.id
        ORDER BY m.created_at, m.organization_id
        LIMIT 1
    )
    FROM iam.users AS u
    WHERE u.email = lower(p_email)
$$;

REVOKE ALL ON FUNCTION iam.find_login(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.find_login(text) TO iam_api;

CREATE OR REPLACE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path TO ''
    AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER') THEN
        RETURN false;
    END IF;
    IF iam.current_api_key_id() IS NOT NULL AND iam.current_user_id() IS NULL THEN
        RETURN EXISTS (
            SELECT
            FROM iam.api_keys AS k
            JOIN iam.role_permissions AS rp ON rp.role_key = k.role
            WHERE k.organization_id = iam.current_org_id()
              AND k.id = iam.current_api_key_id()
              AND k.key_hash = pg_catalog.decode(pg_catalog.current_setting('app.api_key_hash', true), 'hex')
              AND k.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > pg_catalog.now())
              AND rp.permission_key = permission
        );
    END IF;
    RETURN EXISTS (
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

CREATE OR REPLACE FUNCTION iam.sign_in(p_user_id uuid, p_verified_hash text, p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet, p_password_rehash text) RETURNS TABLE(session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text, expires_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
BEGIN
    PERFORM FROM iam.users AS u
    WHERE u.id = p_user_id AND u.password_hash = p_verified_hash AND u.is_active
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM iam.start_session(
        p_user_id, p_organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
    PERFORM iam.record_login(p_user_id, p_organization_id, 'succeeded');
    IF p_password_rehash IS NOT NULL THEN
        UPDATE iam.users AS u SET password_hash = p_password_rehash
        WHERE u.id = p_user_id AND u.password_hash = p_verified_hash;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION iam.switch_organization(p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet) RETURNS TABLE(session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text, expires_at timestamp with time zone)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
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

CREATE OR REPLACE FUNCTION iam.change_own_password(p_password_hash text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
DECLARE
    me uuid := iam.signed_in_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE iam.users SET password_hash = p_password_hash WHERE id = me;
    UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'password_change'
    WHERE user_id = me AND id <> iam.current_session_id() AND revoked_at IS NULL;
    PERFORM iam.append_audit_event(iam.current_org_id(), 'password.changed', 'user', me, NULL, NULL, me);
END
$$;

DROP FUNCTION iam.require_step_up();
DROP FUNCTION iam.caller_stepped_up();
DROP FUNCTION iam.session_user_id();
DROP TABLE iam.mfa_challenges;
DROP TABLE iam.mfa_recovery_codes;
DROP TABLE iam.mfa_factors;
ALTER TABLE iam.sessions DROP COLUMN aal, DROP COLUMN amr;
ALTER TABLE iam.organizations DROP COLUMN require_mfa;
DELETE FROM iam.role_permissions WHERE permission_key = 'organization:manage';
DELETE FROM iam.permissions WHERE key = 'organization:manage';
