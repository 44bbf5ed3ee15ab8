-- Undoes 0013: no verification (addresses are no longer recorded as proved).
DROP FUNCTION iam.enter_context(uuid, uuid, uuid, text);
CREATE FUNCTION iam.enter_context(p_user_id uuid, p_organization_id uuid, p_session_id uuid, p_request_id text)
RETURNS TABLE (user_id uuid, email text, organization_id uuid, organization_name text, session_id uuid, role text,
               permissions text[])
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
        SELECT u.id AS user_id, u.email, NULL::uuid AS organization_id, NULL::text AS organization_name,
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
        SELECT u.id AS user_id, u.email, o.id AS organization_id, o.name AS organization_name, s.id AS session_id,
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
    RETURN QUERY SELECT caller.user_id, caller.email, caller.organization_id, caller.organization_name,
                        caller.session_id, caller.role, caller.permissions;
END
$$;
REVOKE ALL ON FUNCTION iam.enter_context(uuid, uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.enter_context(uuid, uuid, uuid, text) TO iam_api;

DROP FUNCTION iam.request_registration(text, text, text, bytea, integer, text, text, bytea, integer, text, text, integer);
DROP FUNCTION iam.verify_email(bytea, bytea, integer, text, inet);
DROP FUNCTION iam.send_email_verification(bytea, integer, text, text, integer);
DROP FUNCTION iam.register_user(text, text, text, bytea, integer, text, inet, bytea, integer, text, text);
DROP FUNCTION iam.queue_verification_for(uuid, text, bytea, integer, text, text, integer);
DROP TABLE iam.email_verifications;
DELETE FROM iam.outbox_messages WHERE kind IN ('email_verification', 'registration_notice');
ALTER TABLE iam.outbox_messages DROP CONSTRAINT outbox_messages_kind_check;
ALTER TABLE iam.outbox_messages ADD CONSTRAINT outbox_messages_kind_check
    CHECK (kind IN ('invitation', 'password_reset', 'password_changed'));

CREATE FUNCTION iam.register_user(
    p_email text, p_password_hash text, p_organization_name text,
    p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    new_user_id uuid;
    new_organization_id uuid;
BEGIN
    INSERT INTO iam.users (email, password_hash) VALUES (p_email, p_password_hash) RETURNING id INTO new_user_id;
    SELECT c.id INTO new_organization_id FROM iam.create_organization_for(p_organization_name, new_user_id) AS c;
    RETURN QUERY SELECT * FROM iam.start_session(
        new_user_id, new_organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
END
$$;
GRANT EXECUTE ON FUNCTION iam.register_user(text, text, text, bytea, integer, text, inet) TO iam_api;

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
    INSERT INTO iam.users (email, password_hash) VALUES (p_email, p_password_hash) RETURNING id INTO new_user_id;
    SELECT c.organization_id INTO joined FROM iam.consume_invitation(p_token_hash, new_user_id, p_email) AS c;
    RETURN QUERY SELECT * FROM iam.start_session(
        new_user_id, joined, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
END
$$;

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

CREATE OR REPLACE FUNCTION iam.accept_invitation(p_token_hash bytea)
RETURNS TABLE (organization_id uuid, organization_name text, role text)
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    SELECT c.organization_id, c.organization_name, c.role
    FROM iam.users AS u, LATERAL iam.consume_invitation(p_token_hash, u.id, u.email) AS c
    WHERE u.id = iam.signed_in_user_id()
$$;

ALTER TABLE iam.users DROP COLUMN email_verified_at;
