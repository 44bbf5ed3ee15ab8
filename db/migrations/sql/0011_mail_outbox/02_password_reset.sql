-- Password reset by a link sent to the account's address: nobody who forgot a password could
-- ever get back in. A token is 256 random bits, stored as a hash, single use, and only the
-- newest of a user's links works. Resetting ends every session of the user: it is also the
-- remedy when someone else held the account (registered the address first).
CREATE TABLE iam.password_reset_tokens (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES iam.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX password_reset_tokens_user_idx ON iam.password_reset_tokens (user_id);
ALTER TABLE iam.password_reset_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.password_reset_tokens FORCE ROW LEVEL SECURITY;
REVOKE ALL ON iam.password_reset_tokens FROM PUBLIC;

ALTER TABLE iam.sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE iam.sessions ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN (
    'logout', 'password_change', 'reuse', 'admin_removal', 'deactivated', 'session_limit', 'password_reset'
));

-- A reset link for the active account with this email, if there is one: the token's hash
-- and the mail with the link, together. Nothing at all for an unknown or inactive address,
-- or when this address was sent a reset link less than p_min_interval_seconds ago (the
-- caller answers the same either way, so it tells nobody whether the address has an account).
CREATE FUNCTION iam.request_password_reset(
    p_email text, p_token_hash bytea, p_ttl_seconds integer, p_subject text, p_body text,
    p_min_interval_seconds integer
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    account uuid;
BEGIN
    SELECT u.id INTO account FROM iam.users AS u WHERE u.email = p_email AND u.is_active;
    IF NOT FOUND OR iam.queue_mail('password_reset', p_email, p_subject, p_body, p_min_interval_seconds) IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM iam.password_reset_tokens AS t WHERE t.user_id = account AND t.used_at IS NULL;
    INSERT INTO iam.password_reset_tokens (token_hash, user_id, expires_at)
    VALUES (p_token_hash, account, now() + make_interval(secs => p_ttl_seconds));
END
$$;

-- Uses a reset token: the new password hash replaces the old, every session of the user ends,
-- password.reset is recorded in each of their organizations, and the owner is told by mail
-- (p_subject, p_body). False, changing nothing, for an unknown, used or expired token.
CREATE FUNCTION iam.confirm_password_reset(p_token_hash bytea, p_password_hash text, p_subject text, p_body text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    account record;
    organization uuid;
BEGIN
    SELECT u.id, u.email INTO account
    FROM iam.password_reset_tokens AS t
    JOIN iam.users AS u ON u.id = t.user_id
    WHERE t.token_hash = p_token_hash AND t.used_at IS NULL AND t.expires_at > now() AND u.is_active
    FOR UPDATE OF t, u;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE iam.password_reset_tokens AS t SET used_at = now() WHERE t.user_id = account.id AND t.used_at IS NULL;
    UPDATE iam.users AS u SET password_hash = p_password_hash WHERE u.id = account.id;
    UPDATE iam.sessions AS s SET revoked_at = now(), revoked_reason = 'password_reset'
    WHERE s.user_id = account.id AND s.revoked_at IS NULL;
    FOR organization IN
        SELECT m.organization_id FROM iam.organization_memberships AS m WHERE m.user_id = account.id
    LOOP
        PERFORM iam.append_audit_event(organization, 'password.reset', 'user', account.id, NULL, NULL, NULL);
    END LOOP;
    PERFORM iam.queue_mail('password_changed', account.email, p_subject, p_body, 0);
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION
    iam.request_password_reset(text, bytea, integer, text, text, integer),
    iam.confirm_password_reset(bytea, text, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    iam.request_password_reset(text, bytea, integer, text, text, integer),
    iam.confirm_password_reset(bytea, text, text, text)
    TO iam_api;
