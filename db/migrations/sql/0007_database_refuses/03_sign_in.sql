-- SECURITY DEFINER entry points no longer take "which user" on trust. Sessions open only in
-- the function that proved who the user is: registration (the account it just created),
-- sign_in (a password the API verified against the hash that is still stored), and
-- switch_organization (the signed-in user of a live session). start_session becomes internal.
-- The pre-authentication entry points that remain executable by iam_api are listed, with
-- why each is safe with any input, in the README ("The database is the boundary").

REVOKE EXECUTE ON FUNCTION iam.start_session(uuid, uuid, bytea, integer, text, inet) FROM iam_api;

-- A verified password login: a new session, login.succeeded, and the password's new hash
-- when the hashing parameters changed. p_verified_hash is the stored hash the API verified
-- the password against: if it is no longer the account's (changed or reset meanwhile), or
-- the account is inactive, nothing happens and no row comes back. The rehash is a
-- compare-and-swap on that same hash.
DROP FUNCTION iam.sign_in(uuid, uuid, bytea, integer, text, inet, text);
CREATE FUNCTION iam.sign_in(
    p_user_id uuid, p_verified_hash text, p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer,
    p_user_agent text, p_client_address inet, p_password_rehash text
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
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

-- Registration: a new user, a new organization they administer, and their first session.
DROP FUNCTION iam.register_user(text, text, text);
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

-- Registration through an invitation: the invitation is checked before the account is
-- created (every bad token gets invitation_not_found whatever the email), then the new user
-- joins the inviting organization and gets their first session.
DROP FUNCTION iam.register_invited_user(text, text, bytea);
CREATE FUNCTION iam.register_invited_user(
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

-- A new session in another organization of the signed-in user (a live session of theirs
-- opened this transaction's context). Raises session_membership_required when they are not
-- an active member there.
CREATE FUNCTION iam.switch_organization(
    p_organization_id uuid, p_refresh_token_hash bytea, p_ttl_seconds integer, p_user_agent text, p_client_address inet
) RETURNS TABLE (session_id uuid, user_id uuid, email text, organization_id uuid, organization_name text, role text,
                expires_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.signed_in_user_id();
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'no signed-in user' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY SELECT * FROM iam.start_session(
        me, p_organization_id, p_refresh_token_hash, p_ttl_seconds, p_user_agent, p_client_address);
END
$$;

-- The signed-in user's new password hash (the API checked the current password): every
-- other session of theirs ends; recorded as password.changed.
CREATE OR REPLACE FUNCTION iam.change_own_password(p_password_hash text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
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

-- The signed-in user's own memberships across organizations: their directory, not tenant data.
CREATE OR REPLACE FUNCTION iam.list_my_organizations()
RETURNS TABLE (id uuid, name text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT o.id, o.name, m.role
    FROM iam.organization_memberships AS m
    JOIN iam.organizations AS o ON o.id = m.organization_id
    WHERE m.user_id = iam.signed_in_user_id()
    ORDER BY m.created_at, o.id
$$;

-- A new organization administered by the signed-in user, who must be ORG_ADMIN of the
-- current organization. The catalog has no permission for creating tenants, so this is the
-- one place that checks a role name.
CREATE OR REPLACE FUNCTION iam.create_organization(p_name text)
RETURNS TABLE (id uuid, name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    me uuid := iam.signed_in_user_id();
BEGIN
    IF me IS NULL OR NOT EXISTS (
        SELECT FROM iam.organization_memberships AS m
        WHERE m.organization_id = iam.current_org_id() AND m.user_id = me AND m.role = 'ORG_ADMIN'
    ) THEN
        RAISE EXCEPTION 'only an ORG_ADMIN of the current organization may create organizations'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'organization_admin_required';
    END IF;
    RETURN QUERY SELECT c.id, c.name, c.role FROM iam.create_organization_for(p_name, me) AS c;
END
$$;

-- Invitation acceptance by the signed-in user: their email must be the invited one.
CREATE OR REPLACE FUNCTION iam.accept_invitation(p_token_hash bytea)
RETURNS TABLE (organization_id uuid, organization_name text, role text)
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    SELECT c.organization_id, c.organization_name, c.role
    FROM iam.users AS u, LATERAL iam.consume_invitation(p_token_hash, u.id, u.email) AS c
    WHERE u.id = iam.signed_in_user_id()
$$;

REVOKE ALL ON FUNCTION
    iam.sign_in(uuid, text, uuid, bytea, integer, text, inet, text),
    iam.register_user(text, text, text, bytea, integer, text, inet),
    iam.register_invited_user(text, text, bytea, bytea, integer, text, inet),
    iam.switch_organization(uuid, bytea, integer, text, inet)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    iam.sign_in(uuid, text, uuid, bytea, integer, text, inet, text),
    iam.register_user(text, text, text, bytea, integer, text, inet),
    iam.register_invited_user(text, text, bytea, bytea, integer, text, inet),
    iam.switch_organization(uuid, bytea, integer, text, inet)
    TO iam_api;
