-- EMAIL_VERIFICATION=required: a registration is a request. For a new address, a link that
-- will create the account (queued with the pending registration); for an address that has
-- an account, a notice with a password-reset link instead, and no second account. The caller
-- answers the same either way, after the same work. Nothing when this address was sent such
-- a mail less than p_min_interval_seconds ago (nobody can mail-bomb an address through it).
CREATE FUNCTION iam.request_registration(
    p_email text, p_password_hash text, p_organization_name text,
    p_verify_token_hash bytea, p_verify_ttl_seconds integer, p_verify_subject text, p_verify_body text,
    p_reset_token_hash bytea, p_reset_ttl_seconds integer, p_notice_subject text, p_notice_body text,
    p_min_interval_seconds integer
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    account iam.users;
BEGIN
    SELECT * INTO account FROM iam.users AS u WHERE u.email = p_email;
    IF FOUND THEN
        IF account.is_active AND iam.queue_mail(
            'registration_notice', p_email, p_notice_subject, p_notice_body, p_min_interval_seconds
        ) IS NOT NULL THEN
            DELETE FROM iam.password_reset_tokens AS t WHERE t.user_id = account.id AND t.used_at IS NULL;
            INSERT INTO iam.password_reset_tokens (token_hash, user_id, expires_at)
            VALUES (p_reset_token_hash, account.id, now() + make_interval(secs => p_reset_ttl_seconds));
        END IF;
        RETURN;
    END IF;
    IF iam.queue_mail('email_verification', p_email, p_verify_subject, p_verify_body, p_min_interval_seconds) IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM iam.email_verifications AS v WHERE v.email = p_email AND v.user_id IS NULL AND v.used_at IS NULL;
    INSERT INTO iam.email_verifications (token_hash, email, organization_name, password_hash, expires_at)
    VALUES (p_verify_token_hash, p_email, p_organization_name, p_password_hash,
            now() + make_interval(secs => p_verify_ttl_seconds));
END
$$;

-- Uses a verification link. A pending registration becomes the account, its organization,
-- the ORG_ADMIN membership and a first session ('registered'); 'taken' if the address got an
-- account meanwhile. A link for an existing account marks its address verified ('verified').
-- 'invalid' for an unknown, used or expired link. Single use either way.
CREATE FUNCTION iam.verify_email(
    p_token_hash bytea, p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet
) RETURNS TABLE (outcome text, session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text,
                role text, expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
#variable_conflict use_column
DECLARE
    link iam.email_verifications;
    new_user_id uuid;
    new_organization_id uuid;
BEGIN
    SELECT * INTO link FROM iam.email_verifications AS v
    WHERE v.token_hash = p_token_hash AND v.used_at IS NULL AND v.expires_at > now()
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'invalid'::text, NULL::uuid, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    UPDATE iam.email_verifications AS v SET used_at = now() WHERE v.token_hash = p_token_hash;
    IF link.user_id IS NOT NULL THEN
        UPDATE iam.users AS u SET email_verified_at = coalesce(u.email_verified_at, now())
        WHERE u.id = link.user_id AND u.email = link.email AND u.is_active;
        RETURN QUERY SELECT CASE WHEN FOUND THEN 'verified' ELSE 'invalid' END,
            NULL::uuid, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    IF EXISTS (SELECT FROM iam.users AS u WHERE u.email = link.email) THEN
        RETURN QUERY SELECT 'taken'::text, NULL::uuid, NULL::uuid, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;
    INSERT INTO iam.users (email, password_hash, email_verified_at) VALUES (link.email, link.password_hash, now())
    RETURNING id INTO new_user_id;
    SELECT c.id INTO new_organization_id FROM iam.create_organization_for(link.organization_name, new_user_id) AS c;
    RETURN QUERY SELECT 'registered'::text, s.session_id, s.user_id, s.email, s.organization_id, s.organization_name,
                        s.role, s.expires_at
    FROM iam.start_session(new_user_id, new_organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent,
                           p_client_address) AS s;
END
$$;

-- A verification link for the signed-in user's address ('sent'), unless it is verified
-- already ('verified') or a link went to it less than p_min_interval_seconds ago ('limited').
CREATE FUNCTION iam.send_email_verification(
    p_token_hash bytea, p_ttl_seconds integer, p_subject text, p_body text, p_min_interval_seconds integer
) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    account iam.users;
BEGIN
    SELECT * INTO account FROM iam.users AS u WHERE u.id = iam.signed_in_user_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF account.email_verified_at IS NOT NULL THEN
        RETURN 'verified';
    END IF;
    RETURN iam.queue_verification_for(account.id, account.email, p_token_hash, p_ttl_seconds, p_subject, p_body,
                                      p_min_interval_seconds);
END
$$;

-- Internal: queues a verification link for an account (as send_email_verification and
-- registration with EMAIL_VERIFICATION=optional do); only the newest link works.
CREATE FUNCTION iam.queue_verification_for(
    p_user_id uuid, p_email text, p_token_hash bytea, p_ttl_seconds integer, p_subject text, p_body text,
    p_min_interval_seconds integer
) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF iam.queue_mail('email_verification', p_email, p_subject, p_body, p_min_interval_seconds) IS NULL THEN
        RETURN 'limited';
    END IF;
    DELETE FROM iam.email_verifications AS v WHERE v.user_id = p_user_id AND v.used_at IS NULL;
    INSERT INTO iam.email_verifications (token_hash, email, user_id, expires_at)
    VALUES (p_token_hash, p_email, p_user_id, now() + make_interval(secs => p_ttl_seconds));
    RETURN 'sent';
END
$$;

-- EMAIL_VERIFICATION=optional: registration as before (an unverified account, its
-- organization and a session), with the verification link queued in the same transaction.
DROP FUNCTION iam.register_user(text, text, text, bytea, integer, text, inet);
CREATE FUNCTION iam.register_user(
    p_email text, p_password_hash text, p_organization_name text,
    p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet,
    p_verify_token_hash bytea, p_verify_ttl_seconds integer, p_verify_subject text, p_verify_body text
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    new_user_id uuid;
    new_organization_id uuid;
BEGIN
    INSERT INTO iam.users (email, password_hash) VALUES (p_email, p_password_hash) RETURNING id INTO new_user_id;
    SELECT c.id INTO new_organization_id FROM iam.create_organization_for(p_organization_name, new_user_id) AS c;
    PERFORM iam.queue_verification_for(new_user_id, p_email, p_verify_token_hash, p_verify_ttl_seconds,
                                       p_verify_subject, p_verify_body, 0);
    RETURN QUERY SELECT * FROM iam.start_session(
        new_user_id, new_organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
END
$$;

-- Accepting an invitation needs a proved address: an account registered by someone else
-- first (squatting) cannot take the invitations sent to the address.
CREATE OR REPLACE FUNCTION iam.accept_invitation(p_token_hash bytea)
RETURNS TABLE (organization_id uuid, organization_name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me iam.users;
BEGIN
    SELECT * INTO me FROM iam.users AS u WHERE u.id = iam.signed_in_user_id();
    IF NOT FOUND THEN
        RETURN;  -- no signed-in user: nothing is consumed
    END IF;
    IF me.email_verified_at IS NULL THEN
        RAISE EXCEPTION 'the address of this account is not verified'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'email_verification_required';
    END IF;
    RETURN QUERY SELECT c.organization_id, c.organization_name, c.role
    FROM iam.consume_invitation(p_token_hash, me.id, me.email) AS c;
END
$$;

-- Registration through an invitation: the token came by mail to the address, so it proves it.
CREATE OR REPLACE FUNCTION iam.register_invited_user(
    p_email text, p_password_hash text, p_token_hash bytea,
    p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    new_user_id uuid;
    joined uuid;
BEGIN
    PERFORM FROM iam.invitations AS i
    WHERE i.token_hash = p_token_hash AND i.email = p_email
      AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invitation not found'
            USING ERRCODE = 'no_data_found', CONSTRAINT = 'invitation_not_found';
    END IF;
    INSERT INTO iam.users (email, password_hash, email_verified_at) VALUES (p_email, p_password_hash, now()) RETURNING id INTO new_user_id;
    SELECT c.organization_id INTO joined FROM iam.consume_invitation(p_token_hash, new_user_id, p_email) AS c;
    RETURN QUERY SELECT * FROM iam.start_session(
        new_user_id, joined, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
END
$$;

-- A reset link came by mail to the address: using it proves the address (the squatting remedy).
CREATE OR REPLACE FUNCTION iam.confirm_password_reset(p_token_hash bytea, p_password_hash text, p_subject text, p_body text)
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
    UPDATE iam.users AS u SET password_hash = p_password_hash, email_verified_at = coalesce(u.email_verified_at, now())
    WHERE u.id = account.id;
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
    iam.request_registration(text, text, text, bytea, integer, text, text, bytea, integer, text, text, integer),
    iam.verify_email(bytea, bytea, integer, text, inet),
    iam.send_email_verification(bytea, integer, text, text, integer),
    iam.queue_verification_for(uuid, text, bytea, integer, text, text, integer),
    iam.register_user(text, text, text, bytea, integer, text, inet, bytea, integer, text, text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    iam.request_registration(text, text, text, bytea, integer, text, text, bytea, integer, text, text, integer),
    iam.verify_email(bytea, bytea, integer, text, inet),
    iam.send_email_verification(bytea, integer, text, text, integer),
    iam.register_user(text, text, text, bytea, integer, text, inet, bytea, integer, text, text)
    TO iam_api;
