-- Helpers read by the policies, and the narrow SECURITY DEFINER entry points for flows that
-- run before a tenant context exists. Every SECURITY DEFINER function pins search_path.

-- The organization selected for this transaction (API) or session (DBA). A reset
-- transaction-local setting reads back as '' rather than NULL, hence nullif.
CREATE FUNCTION iam.current_org_id() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT nullif(pg_catalog.current_setting('app.org_id', true), '')::uuid
$$;

-- The authenticated user of this API transaction; NULL for DBAs and anonymous flows.
CREATE FUNCTION iam.current_user_id() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT nullif(pg_catalog.current_setting('app.user_id', true), '')::uuid
$$;

-- Whether the current user, an active member of the current organization, holds a
-- permission there. SECURITY DEFINER so that policies on memberships can call it without
-- recursing into their own row security.
CREATE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT EXISTS (
        SELECT
        FROM iam.organization_memberships AS m
        JOIN iam.users AS u ON u.id = m.user_id
        JOIN iam.role_permissions AS rp ON rp.role_key = m.role
        WHERE m.organization_id = iam.current_org_id()
          AND m.user_id = iam.current_user_id()
          AND u.is_active
          AND rp.permission_key = permission
    )
$$;

-- The organization a DBA selected, if the DBA's own login role was granted it; else NULL.
-- Runs with the caller's rights: row security on dba_tenant_grants shows a role its own grants.
CREATE FUNCTION iam.dba_org_id() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT g.organization_id
    FROM iam.dba_tenant_grants AS g
    WHERE g.organization_id = iam.current_org_id()
      AND g.db_role = current_user
$$;

-- An organization must keep at least one ORG_ADMIN. Demotions and removals of admins lock
-- the organization row first, so two concurrent requests cannot each rely on the other admin.
CREATE FUNCTION iam.keep_last_admin() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF OLD.role = 'ORG_ADMIN' AND (TG_OP = 'DELETE' OR NEW.role <> 'ORG_ADMIN') THEN
        PERFORM FROM iam.organizations WHERE id = OLD.organization_id FOR NO KEY UPDATE;
        -- No row: the organization itself is being deleted and takes its members along.
        IF FOUND AND NOT EXISTS (
            SELECT FROM iam.organization_memberships
            WHERE organization_id = OLD.organization_id
              AND role = 'ORG_ADMIN'
              AND user_id <> OLD.user_id
        ) THEN
            RAISE EXCEPTION 'an organization must keep at least one ORG_ADMIN'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'organization_memberships_last_admin';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER organization_memberships_keep_last_admin
    BEFORE UPDATE OF role OR DELETE ON iam.organization_memberships
    FOR EACH ROW EXECUTE FUNCTION iam.keep_last_admin();

-- Internal: a new organization with the given user as its ORG_ADMIN.
CREATE FUNCTION iam.create_organization_for(p_name text, p_user_id uuid)
RETURNS TABLE (id uuid, name text, role text)
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    WITH org AS (
        INSERT INTO iam.organizations (name) VALUES (p_name) RETURNING id, name
    ), membership AS (
        INSERT INTO iam.organization_memberships (organization_id, user_id, role)
        SELECT org.id, p_user_id, 'ORG_ADMIN' FROM org
        RETURNING organization_id, role
    )
    SELECT org.id, org.name, membership.role FROM org JOIN membership ON membership.organization_id = org.id
$$;

-- Internal: consumes a pending invitation for a user whose email must match it, and makes
-- the user a member. Raises invitation_not_found for unknown, used, revoked or expired tokens.
CREATE FUNCTION iam.consume_invitation(p_token_hash bytea, p_user_id uuid, p_email text)
RETURNS TABLE (organization_id uuid, organization_name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    invitation iam.invitations;
BEGIN
    SELECT * INTO invitation FROM iam.invitations AS i
    WHERE i.token_hash = p_token_hash
      AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invitation not found'
            USING ERRCODE = 'no_data_found', CONSTRAINT = 'invitation_not_found';
    END IF;
    IF invitation.email <> p_email THEN
        RAISE EXCEPTION 'invitation was issued to another email address'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'invitation_email_mismatch';
    END IF;
    INSERT INTO iam.organization_memberships (organization_id, user_id, role)
    VALUES (invitation.organization_id, p_user_id, invitation.role);
    UPDATE iam.invitations AS i SET accepted_at = now(), accepted_by_user_id = p_user_id
    WHERE i.organization_id = invitation.organization_id AND i.id = invitation.id;
    RETURN QUERY
        SELECT o.id, o.name, invitation.role FROM iam.organizations AS o WHERE o.id = invitation.organization_id;
END
$$;

-- Registration: a new user with a new organization they administer.
CREATE FUNCTION iam.register_user(p_email text, p_password_hash text, p_organization_name text)
RETURNS TABLE (user_id uuid, organization_id uuid, organization_name text, role text)
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    WITH new_user AS (
        INSERT INTO iam.users (email, password_hash) VALUES (p_email, p_password_hash) RETURNING id
    )
    SELECT new_user.id, org.id, org.name, org.role
    FROM new_user, LATERAL iam.create_organization_for(p_organization_name, new_user.id) AS org
$$;

-- Registration through an invitation: a new user joining the inviting organization.
CREATE FUNCTION iam.register_invited_user(p_email text, p_password_hash text, p_token_hash bytea)
RETURNS TABLE (user_id uuid, organization_id uuid, organization_name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    new_user_id uuid;
BEGIN
    INSERT INTO iam.users (email, password_hash) VALUES (p_email, p_password_hash)
    RETURNING id INTO new_user_id;
    RETURN QUERY
        SELECT new_user_id, c.organization_id, c.organization_name, c.role
        FROM iam.consume_invitation(p_token_hash, new_user_id, p_email) AS c;
END
$$;

-- Login lookup by email, before any tenant is known. Returns nothing for unknown emails.
CREATE FUNCTION iam.find_login(p_email text)
RETURNS TABLE (user_id uuid, password_hash text, is_active boolean, default_organization_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT u.id, u.password_hash, u.is_active, (
        SELECT m.organization_id FROM iam.organization_memberships AS m
        WHERE m.user_id = u.id
        ORDER BY m.created_at, m.organization_id
        LIMIT 1
    )
    FROM iam.users AS u
    WHERE u.email = lower(p_email)
$$;

-- The current user's own memberships across organizations: their directory, not tenant data.
CREATE FUNCTION iam.list_my_organizations()
RETURNS TABLE (id uuid, name text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT o.id, o.name, m.role
    FROM iam.organization_memberships AS m
    JOIN iam.organizations AS o ON o.id = m.organization_id
    JOIN iam.users AS u ON u.id = m.user_id
    WHERE m.user_id = iam.current_user_id() AND u.is_active
    ORDER BY m.created_at, o.id
$$;

-- A new organization administered by the current user, who must be ORG_ADMIN of the
-- current organization. The catalog has no permission for creating tenants, so this is the
-- one place that checks a role name.
CREATE FUNCTION iam.create_organization(p_name text)
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

-- Invitation acceptance by the authenticated current user.
CREATE FUNCTION iam.accept_invitation(p_token_hash bytea)
RETURNS TABLE (organization_id uuid, organization_name text, role text)
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    SELECT c.organization_id, c.organization_name, c.role
    FROM iam.users AS u, LATERAL iam.consume_invitation(p_token_hash, u.id, u.email) AS c
    WHERE u.id = iam.current_user_id() AND u.is_active
$$;

-- DBA access, run by the schema owner:
--   SELECT iam.grant_tenant_access('alice', '00000000-0000-0000-0000-000000000000');
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

--   SELECT iam.revoke_tenant_access('alice', '00000000-0000-0000-0000-000000000000');
CREATE FUNCTION iam.revoke_tenant_access(p_db_role name, p_organization_id uuid) RETURNS void
LANGUAGE sql SET search_path = '' AS $$
    DELETE FROM iam.dba_tenant_grants WHERE organization_id = p_organization_id AND db_role = p_db_role
$$;
