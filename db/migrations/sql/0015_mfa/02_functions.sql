-- The user of the context's live session, in whatever organization (or none): what a person
-- acts on their own factor as, even while an organization's MFA rule keeps its rows closed.
CREATE FUNCTION iam.session_user_id() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT s.user_id
    FROM iam.sessions AS s
    JOIN iam.users AS u ON u.id = s.user_id
    WHERE s.id = iam.current_session_id()
      AND s.user_id = iam.current_user_id()
      AND s.revoked_at IS NULL
      AND s.expires_at > pg_catalog.now()
      AND u.is_active
      AND pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER')
$$;
REVOKE ALL ON FUNCTION iam.session_user_id() FROM PUBLIC;

-- Step-up: the caller's session passed a second factor, or its user has none to pass. An API
-- key is a machine identity with no second factor: nothing to step up to.
CREATE FUNCTION iam.caller_stepped_up() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT iam.current_user_id() IS NULL
        OR NOT EXISTS (
            SELECT FROM iam.mfa_factors AS f WHERE f.user_id = iam.current_user_id() AND f.status = 'active')
        OR EXISTS (
            SELECT FROM iam.sessions AS s
            WHERE s.id = iam.current_session_id() AND s.user_id = iam.current_user_id() AND s.aal >= 2)
$$;
REVOKE ALL ON FUNCTION iam.caller_stepped_up() FROM PUBLIC;

-- True, or a refusal that names itself (constraint mfa_required: a 403 of that type).
CREATE FUNCTION iam.require_step_up() RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF NOT iam.caller_stepped_up() THEN
        RAISE EXCEPTION 'this change needs a second factor in this session'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'mfa_required';
    END IF;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION iam.require_step_up() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.require_step_up() TO iam_api;

-- Creating API keys and changing members' roles need the second factor of a user who has one.
ALTER POLICY api_keys_api_insert ON iam.api_keys
    WITH CHECK (organization_id = (SELECT iam.current_org_id())
                AND created_by_user_id = (SELECT iam.current_user_id())
                AND (SELECT iam.caller_has_permission('api_keys:manage'))
                AND iam.caller_holds_role(role)
                AND (SELECT iam.require_step_up()));
ALTER POLICY memberships_api_update ON iam.organization_memberships
    WITH CHECK (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.require_step_up()));

CREATE OR REPLACE FUNCTION iam.change_own_password(p_password_hash text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.signed_in_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM iam.require_step_up();
    UPDATE iam.users SET password_hash = p_password_hash WHERE id = me;
    UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'password_change'
    WHERE user_id = me AND id <> iam.current_session_id() AND revoked_at IS NULL;
    PERFORM iam.append_audit_event(iam.current_org_id(), 'password.changed', 'user', me, NULL, NULL, me);
END
$$;

-- An event about a user's own factor, in every organization they belong to: each one's
-- admins see their members' MFA change.
CREATE FUNCTION iam.record_mfa_event(p_user_id uuid, p_action text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    SELECT iam.append_audit_event(m.organization_id, p_action, 'user', p_user_id, NULL, NULL, p_user_id)
    FROM iam.organization_memberships AS m WHERE m.user_id = p_user_id
$$;
REVOKE ALL ON FUNCTION iam.record_mfa_event(uuid, text) FROM PUBLIC;

-- Enrolment: a pending factor for the session's user, replacing a pending one; none while a
-- factor is active (remove it first).
CREATE FUNCTION iam.enroll_totp(p_secret_ciphertext bytea) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.session_user_id();
    factor uuid;
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM FROM iam.users WHERE id = me FOR NO KEY UPDATE;
    IF EXISTS (SELECT FROM iam.mfa_factors AS f WHERE f.user_id = me AND f.status = 'active') THEN
        RAISE EXCEPTION 'the user has an active factor' USING ERRCODE = 'unique_violation', CONSTRAINT = 'mfa_factor_active';
    END IF;
    DELETE FROM iam.mfa_factors AS f WHERE f.user_id = me AND f.status = 'pending';
    INSERT INTO iam.mfa_factors (user_id, status, secret_ciphertext) VALUES (me, 'pending', p_secret_ciphertext)
    RETURNING id INTO factor;
    RETURN factor;
END
$$;
REVOKE ALL ON FUNCTION iam.enroll_totp(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.enroll_totp(bytea) TO iam_api;

-- The session user's factor in a status ('pending' to verify it, 'active' to check a code),
-- encrypted: the API holds the key.
CREATE FUNCTION iam.own_totp(p_status text) RETURNS TABLE (factor_id uuid, secret_ciphertext bytea, last_used_step bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT f.id, f.secret_ciphertext, f.last_used_step FROM iam.mfa_factors AS f
    WHERE f.user_id = iam.session_user_id() AND f.status = p_status
$$;
REVOKE ALL ON FUNCTION iam.own_totp(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.own_totp(text) TO iam_api;

-- Activates the pending factor with the step of a code the API checked (never an older one),
-- stores the recovery codes' hashes, and raises this session to aal 2.
CREATE FUNCTION iam.activate_totp(p_factor_id uuid, p_step bigint, p_recovery_code_hashes bytea[]) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.session_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE iam.mfa_factors AS f SET status = 'active', activated_at = now(), last_used_step = p_step
    WHERE f.id = p_factor_id AND f.user_id = me AND f.status = 'pending' AND f.last_used_step < p_step;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM iam.mfa_recovery_codes AS c WHERE c.user_id = me;
    INSERT INTO iam.mfa_recovery_codes (user_id, code_hash) SELECT me, h FROM pg_catalog.unnest(p_recovery_code_hashes) AS h;
    UPDATE iam.sessions AS s SET aal = 2, amr = ARRAY['pwd', 'otp'] WHERE s.id = iam.current_session_id();
    PERFORM iam.record_mfa_event(me, 'mfa.enrolled');
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION iam.activate_totp(uuid, bigint, bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.activate_totp(uuid, bigint, bytea[]) TO iam_api;

-- Removes the session user's factor and recovery codes (a second factor in this session first).
CREATE FUNCTION iam.remove_totp() RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.session_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM iam.require_step_up();
    DELETE FROM iam.mfa_factors AS f WHERE f.user_id = me AND f.status = 'active';
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM iam.mfa_factors AS f WHERE f.user_id = me;
    DELETE FROM iam.mfa_recovery_codes AS c WHERE c.user_id = me;
    PERFORM iam.record_mfa_event(me, 'mfa.removed');
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION iam.remove_totp() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.remove_totp() TO iam_api;

-- A fresh set of recovery codes; the old ones stop working (a second factor in this session first).
CREATE FUNCTION iam.replace_recovery_codes(p_recovery_code_hashes bytea[]) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.session_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM iam.require_step_up();
    IF NOT EXISTS (SELECT FROM iam.mfa_factors AS f WHERE f.user_id = me AND f.status = 'active') THEN
        RETURN false;
    END IF;
    DELETE FROM iam.mfa_recovery_codes AS c WHERE c.user_id = me;
    INSERT INTO iam.mfa_recovery_codes (user_id, code_hash) SELECT me, h FROM pg_catalog.unnest(p_recovery_code_hashes) AS h;
    RETURN true;
END
$$;
REVOKE ALL ON FUNCTION iam.replace_recovery_codes(bytea[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.replace_recovery_codes(bytea[]) TO iam_api;
