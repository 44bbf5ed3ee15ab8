-- Undoes 0007: the context, powers and entry points as 0001-0006 left them.

DROP TRIGGER invitations_stay_revoked ON iam.invitations;

DROP FUNCTION iam.keep_invitations_revoked();

CREATE OR REPLACE FUNCTION iam.is_visible_text(value text, line_breaks boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT value !~ CASE WHEN line_breaks
        THEN '[\u0001-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u180E\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0001\U000E0020-\U000E007F]'
        ELSE '[\u0001-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u180E\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0001\U000E0020-\U000E007F]'
    END
$$;

CREATE OR REPLACE FUNCTION iam.append_audit_event(
    p_organization_id uuid, p_action text, p_resource_type text, p_resource_id uuid,
    p_old_values jsonb, p_new_values jsonb, p_actor_user_id uuid
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    request_id text := nullif(pg_catalog.current_setting('app.request_id', true), '');
BEGIN
    -- A cascade from a deleted organization has nothing left to attribute events to.
    IF NOT EXISTS (SELECT FROM iam.organizations WHERE id = p_organization_id) THEN
        RETURN;
    END IF;
    INSERT INTO iam.audit_events (
        organization_id, actor_user_id, actor_db_role, action, resource_type, resource_id,
        old_values, new_values, request_id, anonymous
    ) VALUES (
        p_organization_id, p_actor_user_id, session_user, p_action, p_resource_type, p_resource_id,
        -- Secrets never enter the trail.
        p_old_values - 'password_hash' - 'token_hash',
        p_new_values - 'password_hash' - 'token_hash',
        request_id,
        p_actor_user_id IS NULL AND request_id IS NOT NULL AND pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER')
    );
END
$$;

DROP FUNCTION iam.grant_tenant_access(name, uuid, text, text, text);

CREATE FUNCTION iam.grant_tenant_access(p_db_role name, p_organization_id uuid) RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = p_db_role)
       OR NOT pg_catalog.pg_has_role(p_db_role, 'iam_dba', 'MEMBER') THEN
        RAISE EXCEPTION 'role % is not a member of iam_dba', p_db_role
            USING HINT = format('GRANT iam_dba TO %I;', p_db_role);
    END IF;
    INSERT INTO iam.dba_tenant_grants (organization_id, db_role)
    VALUES (p_organization_id, p_db_role)
    ON CONFLICT DO NOTHING;
END
$$;

REVOKE ALL ON FUNCTION iam.grant_tenant_access(name, uuid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION iam.accept_invitation(p_token_hash bytea)
RETURNS TABLE (organization_id uuid, organization_name text, role text)
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    SELECT c.organization_id, c.organization_name, c.role
    FROM iam.users AS u, LATERAL iam.consume_invitation(p_token_hash, u.id, u.email) AS c
    WHERE u.id = iam.current_user_id() AND u.is_active
$$;

CREATE OR REPLACE FUNCTION iam.create_organization(p_name text)
RETURNS TABLE (id uuid, name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM iam.organization_memberships AS m
        JOIN iam.users AS u ON u.id = m.user_id
        WHERE m.organization_id = iam.current_org_id()
          AND m.user_id = iam.current_user_id()
          AND m.role = 'ORG_ADMIN'
          AND u.is_active
    ) THEN
        RAISE EXCEPTION 'only an ORG_ADMIN of the current organization may create organizations'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'organization_admin_required';
    END IF;
    RETURN QUERY SELECT c.id, c.name, c.role FROM iam.create_organization_for(p_name, iam.current_user_id()) AS c;
END
$$;

CREATE OR REPLACE FUNCTION iam.list_my_organizations()
RETURNS TABLE (id uuid, name text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT o.id, o.name, m.role
    FROM iam.organization_memberships AS m
    JOIN iam.organizations AS o ON o.id = m.organization_id
    JOIN iam.users AS u ON u.id = m.user_id
    WHERE m.user_id = iam.current_user_id() AND u.is_active
    ORDER BY m.created_at, o.id
$$;

CREATE OR REPLACE FUNCTION iam.change_own_password(p_password_hash text) RETURNS void
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

DROP FUNCTION iam.switch_organization(uuid, bytea, integer, text, inet);

DROP FUNCTION iam.register_invited_user(text, text, bytea, bytea, integer, text, inet);

CREATE FUNCTION iam.register_invited_user(p_email text, p_password_hash text, p_token_hash bytea)
RETURNS TABLE (user_id uuid, organization_id uuid, organization_name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    new_user_id uuid;
BEGIN
    PERFORM FROM iam.invitations AS i
    WHERE i.token_hash = p_token_hash AND i.email = p_email
      AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invitation not found'
            USING ERRCODE = 'no_data_found', CONSTRAINT = 'invitation_not_found';
    END IF;
    INSERT INTO iam.users (email, password_hash) VALUES (p_email, p_password_hash)
    RETURNING id INTO new_user_id;
    RETURN QUERY
        SELECT new_user_id, c.organization_id, c.organization_name, c.role
        FROM iam.consume_invitation(p_token_hash, new_user_id, p_email) AS c;
END
$$;

DROP FUNCTION iam.register_user(text, text, text, bytea, integer, text, inet);

CREATE FUNCTION iam.register_user(p_email text, p_password_hash text, p_organization_name text)
RETURNS TABLE (user_id uuid, organization_id uuid, organization_name text, role text)
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    WITH new_user AS (
        INSERT INTO iam.users (email, password_hash) VALUES (p_email, p_password_hash) RETURNING id
    )
    SELECT new_user.id, org.id, org.name, org.role
    FROM new_user, LATERAL iam.create_organization_for(p_organization_name, new_user.id) AS org
$$;

DROP FUNCTION iam.sign_in(uuid, text, uuid, bytea, integer, text, inet, text);

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

REVOKE ALL ON FUNCTION iam.register_user(text, text, text), iam.register_invited_user(text, text, bytea),
    iam.sign_in(uuid, uuid, bytea, integer, text, inet, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.register_user(text, text, text), iam.register_invited_user(text, text, bytea),
    iam.sign_in(uuid, uuid, bytea, integer, text, inet, text), iam.start_session(uuid, uuid, bytea, integer, text, inet)
    TO iam_api;

GRANT SELECT ON iam.organizations TO iam_api;
CREATE POLICY organizations_api_select ON iam.organizations FOR SELECT TO iam_api
    USING (id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('tenant:read')));
GRANT UPDATE (password_hash) ON iam.users TO iam_api;
CREATE POLICY users_api_update_self ON iam.users FOR UPDATE TO iam_api
    USING (id = (SELECT iam.current_user_id()))
    WITH CHECK (id = (SELECT iam.current_user_id()));
GRANT INSERT ON iam.organization_memberships TO iam_api;
CREATE POLICY memberships_api_insert ON iam.organization_memberships FOR INSERT TO iam_api
    WITH CHECK (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('users:manage')));

CREATE OR REPLACE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    RETURN pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER') AND EXISTS (
        SELECT
        FROM iam.organization_memberships AS m
        JOIN iam.users AS u ON u.id = m.user_id
        JOIN iam.role_permissions AS rp ON rp.role_key = m.role
        WHERE m.organization_id = iam.current_org_id()
          AND m.user_id = iam.current_user_id()
          AND u.is_active
          AND rp.permission_key = permission
    );
END
$$;

DROP FUNCTION iam.signed_in_user_id();

CREATE OR REPLACE FUNCTION iam.enter_context(p_user_id uuid, p_organization_id uuid, p_session_id uuid, p_request_id text)
RETURNS TABLE (user_id uuid, email text, organization_id uuid, organization_name text, session_id uuid, role text,
               permissions text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    PERFORM pg_catalog.set_config('app.user_id', coalesce(p_user_id::text, ''), true),
            pg_catalog.set_config('app.org_id', coalesce(p_organization_id::text, ''), true),
            pg_catalog.set_config('app.session_id', coalesce(p_session_id::text, ''), true),
            pg_catalog.set_config('app.request_id', coalesce(p_request_id, ''), true),
            pg_catalog.set_config('TimeZone', 'UTC', true),
            -- Plans for SSD storage, as managed hosts are: with the default 4.0 the planner
            -- read a large tenant's whole project list and sorted it (7.5 ms) rather than
            -- take the ordered index (0.8 ms), since it cannot see which tenant a policy picks.
            pg_catalog.set_config('random_page_cost', '1.1', true);
    IF p_user_id IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT u.id, u.email, o.id, o.name, s.id, m.role,
               ARRAY(SELECT rp.permission_key FROM iam.role_permissions AS rp
                     WHERE rp.role_key = m.role ORDER BY rp.permission_key)
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
END
$$;
