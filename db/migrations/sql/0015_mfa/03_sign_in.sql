-- Login with a second factor: a right password for a user with an active factor opens a
-- challenge (the mfa_token's hash), not a session; a right code or recovery code then opens
-- the session at aal 2. Sessions keep their level through refresh and switching organization.

DROP FUNCTION iam.find_login(text);
CREATE FUNCTION iam.find_login(p_email text)
RETURNS TABLE (user_id uuid, password_hash text, is_active boolean, default_organization_id uuid, mfa_enrolled boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT u.id, u.password_hash, u.is_active, (
        SELECT m.organization_id FROM iam.organization_memberships AS m
        WHERE m.user_id = u.id
        ORDER BY m.created_at, m.organization_id
        LIMIT 1
    ), EXISTS (SELECT FROM iam.mfa_factors AS f WHERE f.user_id = u.id AND f.status = 'active')
    FROM iam.users AS u
    WHERE u.email = lower(p_email)
$$;
REVOKE ALL ON FUNCTION iam.find_login(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.find_login(text) TO iam_api;

-- The password was right (as iam.sign_in checks it): a challenge instead of a session.
CREATE FUNCTION iam.start_mfa_challenge(
    p_user_id uuid, p_verified_hash text, p_organization_id uuid, p_token_hash bytea, p_ttl_seconds integer,
    p_user_agent text, p_client_address inet, p_password_rehash text
) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    PERFORM FROM iam.users AS u
    WHERE u.id = p_user_id AND u.password_hash = p_verified_hash AND u.is_active
    FOR NO KEY UPDATE;
    IF NOT FOUND OR NOT EXISTS (
        SELECT FROM iam.mfa_factors AS f WHERE f.user_id = p_user_id AND f.status = 'active'
    ) THEN
        RETURN false;
    END IF;
    DELETE FROM iam.mfa_challenges WHERE token_hash IN (
        SELECT c.token_hash FROM iam.mfa_challenges AS c WHERE c.expires_at < now()
        ORDER BY c.expires_at LIMIT 20 FOR UPDATE SKIP LOCKED
    );
    INSERT INTO iam.mfa_challenges (token_hash, user_id, organization_id, expires_at, user_agent, client_address)
    VALUES (p_token_hash, p_user_id, p_organization_id, now() + make_interval(secs => p_ttl_seconds),
            pg_catalog.left(p_user_agent, 512), p_client_address);
    IF p_password_rehash IS NOT NULL THEN
        UPDATE iam.users AS u SET password_hash = p_password_rehash
        WHERE u.id = p_user_id AND u.password_hash = p_verified_hash;
    END IF;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION iam.start_mfa_challenge(uuid, text, uuid, bytea, integer, text, inet, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.start_mfa_challenge(uuid, text, uuid, bytea, integer, text, inet, text) TO iam_api;

-- A challenge that can still be answered (unused, unexpired, fewer than p_max_failures wrong
-- answers, its user active), with the factor the API checks the code against.
CREATE FUNCTION iam.open_mfa_challenge(p_token_hash bytea, p_max_failures integer)
RETURNS TABLE (user_id uuid, email text, secret_ciphertext bytea, last_used_step bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT u.id, u.email, f.secret_ciphertext, f.last_used_step
    FROM iam.mfa_challenges AS c
    JOIN iam.users AS u ON u.id = c.user_id
    JOIN iam.mfa_factors AS f ON f.user_id = c.user_id AND f.status = 'active'
    WHERE c.token_hash = p_token_hash AND c.used_at IS NULL AND c.expires_at > now()
      AND c.failures < p_max_failures AND u.is_active
$$;
REVOKE ALL ON FUNCTION iam.open_mfa_challenge(bytea, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.open_mfa_challenge(bytea, integer) TO iam_api;

-- Answers a challenge with a TOTP step the API verified (only a step newer than any accepted
-- before: a code is never used twice) or a recovery code's hash (single use), and opens the
-- session at aal 2. No row: the challenge, the step or the recovery code is spent.
CREATE FUNCTION iam.complete_mfa_challenge(
    p_token_hash bytea, p_max_failures integer, p_step bigint, p_recovery_code_hash bytea,
    p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                 expires_at timestamptz, amr text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
#variable_conflict use_column
DECLARE
    challenge iam.mfa_challenges;
    methods text[] := CASE WHEN p_recovery_code_hash IS NULL THEN ARRAY['pwd', 'otp'] ELSE ARRAY['pwd', 'recovery_code'] END;
    opened record;
BEGIN
    SELECT * INTO challenge FROM iam.mfa_challenges AS c WHERE c.token_hash = p_token_hash FOR UPDATE;
    IF NOT FOUND OR challenge.used_at IS NOT NULL OR challenge.expires_at <= now()
       OR challenge.failures >= p_max_failures THEN
        RETURN;
    END IF;
    IF p_recovery_code_hash IS NOT NULL THEN
        UPDATE iam.mfa_recovery_codes AS r SET used_at = now()
        WHERE r.user_id = challenge.user_id AND r.code_hash = p_recovery_code_hash AND r.used_at IS NULL;
    ELSE
        UPDATE iam.mfa_factors AS f SET last_used_step = p_step
        WHERE f.user_id = challenge.user_id AND f.status = 'active' AND f.last_used_step < p_step;
    END IF;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE iam.mfa_challenges AS c SET used_at = now() WHERE c.token_hash = p_token_hash;
    SELECT * INTO opened FROM iam.start_session(
        challenge.user_id, challenge.organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
    UPDATE iam.sessions AS s SET aal = 2, amr = methods WHERE s.id = opened.session_id;
    PERFORM iam.record_login(challenge.user_id, challenge.organization_id, 'succeeded');
    IF p_recovery_code_hash IS NOT NULL THEN
        PERFORM iam.append_audit_event(challenge.organization_id, 'mfa.recovery_code_used', 'user', challenge.user_id,
                                       NULL, NULL, challenge.user_id)
        WHERE challenge.organization_id IS NOT NULL;
    END IF;
    RETURN QUERY SELECT opened.session_id, opened.user_id, opened.email, opened.organization_id,
                        opened.organization_name, opened.role, opened.expires_at, methods;
END
$$;
REVOKE ALL ON FUNCTION iam.complete_mfa_challenge(bytea, integer, bigint, bytea, bytea, integer, text, inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.complete_mfa_challenge(bytea, integer, bigint, bytea, bytea, integer, text, inet) TO iam_api;

-- A wrong answer: counted on the challenge (void at p_max_failures) and recorded.
CREATE FUNCTION iam.fail_mfa_challenge(p_token_hash bytea) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    challenge iam.mfa_challenges;
BEGIN
    UPDATE iam.mfa_challenges AS c SET failures = c.failures + 1
    WHERE c.token_hash = p_token_hash AND c.used_at IS NULL
    RETURNING * INTO challenge;
    IF FOUND AND challenge.organization_id IS NOT NULL THEN
        PERFORM iam.append_audit_event(challenge.organization_id, 'mfa.challenge_failed', 'user', challenge.user_id,
                                       NULL, pg_catalog.jsonb_build_object('failures', challenge.failures), NULL);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION iam.fail_mfa_challenge(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.fail_mfa_challenge(bytea) TO iam_api;

-- Organization settings: its name, and whether its members need a second factor (that one
-- from a session at aal 2 only). No row: not the caller's current organization.
CREATE FUNCTION iam.update_organization(p_organization_id uuid, p_name text, p_require_mfa boolean)
RETURNS TABLE (id uuid, name text, require_mfa boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
#variable_conflict use_column
DECLARE
    me uuid := iam.signed_in_user_id();
BEGIN
    IF me IS NULL OR p_organization_id IS DISTINCT FROM iam.current_org_id() THEN
        RETURN;
    END IF;
    IF NOT iam.caller_has_permission('organization:manage') THEN
        RAISE EXCEPTION 'organization:manage is needed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_require_mfa IS NOT NULL AND NOT EXISTS (
        SELECT FROM iam.sessions AS s WHERE s.id = iam.current_session_id() AND s.aal >= 2
    ) THEN
        RAISE EXCEPTION 'setting the MFA rule needs a second factor in this session'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'mfa_required';
    END IF;
    RETURN QUERY
    UPDATE iam.organizations AS o
    SET name = coalesce(p_name, o.name), require_mfa = coalesce(p_require_mfa, o.require_mfa)
    WHERE o.id = p_organization_id
    RETURNING o.id, o.name, o.require_mfa;
END
$$;
REVOKE ALL ON FUNCTION iam.update_organization(uuid, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.update_organization(uuid, text, boolean) TO iam_api;
