-- The context round trip also reports the session's assurance (aal, amr), whether its user
-- has a factor, and whether the organization's MFA rule shuts this session out. When it does,
-- app.org_id stays empty, so every tenant policy answers nothing: the rule is the database's.
DROP FUNCTION iam.enter_context(uuid, uuid, uuid, text);
CREATE FUNCTION iam.enter_context(p_user_id uuid, p_organization_id uuid, p_session_id uuid, p_request_id text)
RETURNS TABLE (user_id uuid, email text, email_verified boolean, organization_id uuid, organization_name text,
               session_id uuid, role text, permissions text[], aal smallint, amr text[], mfa_enrolled boolean,
               mfa_required boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
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
        SELECT u.id AS user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, NULL::uuid AS organization_id,
               NULL::text AS organization_name, s.id AS session_id, NULL::text AS role, ARRAY[]::text[] AS permissions,
               s.aal, s.amr, false AS require_mfa
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
        SELECT u.id AS user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, o.id AS organization_id,
               o.name AS organization_name, s.id AS session_id, m.role,
               ARRAY(SELECT rp.permission_key FROM iam.role_permissions AS rp
                     WHERE rp.role_key = m.role ORDER BY rp.permission_key) AS permissions,
               s.aal, s.amr, o.require_mfa
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
            pg_catalog.set_config('app.session_id', p_session_id::text, true);
    -- The organization's rows open only to a session that meets its MFA rule.
    IF NOT (caller.require_mfa AND caller.aal < 2) THEN
        PERFORM pg_catalog.set_config('app.org_id', coalesce(p_organization_id::text, ''), true);
    END IF;
    RETURN QUERY SELECT caller.user_id, caller.email, caller.email_verified, caller.organization_id,
                        caller.organization_name, caller.session_id, caller.role, caller.permissions, caller.aal,
                        caller.amr,
                        EXISTS (SELECT FROM iam.mfa_factors AS f WHERE f.user_id = p_user_id AND f.status = 'active'),
                        caller.require_mfa AND caller.aal < 2;
END
$$;
REVOKE ALL ON FUNCTION iam.enter_context(uuid, uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.enter_context(uuid, uuid, uuid, text) TO iam_api;

-- The MFA rule holds for SQL that sets app.* itself too: a session below it gets no permission.
CREATE OR REPLACE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
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
        JOIN iam.organizations AS o ON o.id = m.organization_id
        JOIN iam.role_permissions AS rp ON rp.role_key = m.role
        JOIN iam.sessions AS s ON s.user_id = m.user_id AND s.organization_id = m.organization_id
        WHERE m.organization_id = iam.current_org_id()
          AND m.user_id = iam.current_user_id()
          AND s.id = iam.current_session_id()
          AND s.revoked_at IS NULL
          AND s.expires_at > pg_catalog.now()
          AND u.is_active
          AND (s.aal >= 2 OR NOT o.require_mfa)
          AND rp.permission_key = permission
    );
END
$$;

-- A user with an active factor never gets a session from a password alone.
CREATE OR REPLACE FUNCTION iam.sign_in(
    p_user_id uuid, p_verified_hash text, p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer,
    p_user_agent text, p_client_address inet, p_password_rehash text
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                 expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    PERFORM FROM iam.users AS u
    WHERE u.id = p_user_id AND u.password_hash = p_verified_hash AND u.is_active
    FOR NO KEY UPDATE;
    IF NOT FOUND OR EXISTS (SELECT FROM iam.mfa_factors AS f WHERE f.user_id = p_user_id AND f.status = 'active') THEN
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

-- A new session in another organization keeps the level its user proved in this one.
CREATE OR REPLACE FUNCTION iam.switch_organization(
    p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                 expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.session_user_id();
    current_session iam.sessions;
    opened record;
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT * INTO current_session FROM iam.sessions AS s WHERE s.id = iam.current_session_id() FOR UPDATE;
    IF p_organization_id IS DISTINCT FROM current_session.organization_id THEN
        SELECT * INTO opened FROM iam.start_session(
            me, p_organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
        UPDATE iam.sessions AS s SET aal = current_session.aal, amr = current_session.amr WHERE s.id = opened.session_id;
        RETURN QUERY SELECT opened.session_id, opened.user_id, opened.email, opened.organization_id,
                            opened.organization_name, opened.role, opened.expires_at;
        RETURN;
    END IF;
    -- Already there: the same session, its refresh token rotated (the previous one is spent).
    UPDATE iam.refresh_tokens AS t SET rotated_at = now() WHERE t.session_id = current_session.id AND t.rotated_at IS NULL;
    INSERT INTO iam.refresh_tokens (token_hash, session_id) VALUES (p_refresh_token_hash, current_session.id);
    UPDATE iam.sessions AS s SET last_used_at = now() WHERE s.id = current_session.id;
    RETURN QUERY
        SELECT s.id, u.id, u.email, o.id, o.name, m.role, s.expires_at
        FROM iam.sessions AS s
        JOIN iam.users AS u ON u.id = s.user_id
        JOIN iam.organizations AS o ON o.id = s.organization_id
        JOIN iam.organization_memberships AS m ON m.user_id = s.user_id AND m.organization_id = s.organization_id
        WHERE s.id = current_session.id;
END
$$;
