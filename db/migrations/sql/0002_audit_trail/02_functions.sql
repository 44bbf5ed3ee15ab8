-- Appends one event. Internal: only the triggers and iam.record_login call it.
CREATE FUNCTION iam.append_audit_event(
    p_organization_id uuid, p_action text, p_resource_type text, p_resource_id uuid,
    p_old_values jsonb, p_new_values jsonb, p_actor_user_id uuid
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    -- A cascade from a deleted organization has nothing left to attribute events to.
    IF NOT EXISTS (SELECT FROM iam.organizations WHERE id = p_organization_id) THEN
        RETURN;
    END IF;
    INSERT INTO iam.audit_events (
        organization_id, actor_user_id, actor_db_role, action, resource_type, resource_id,
        old_values, new_values, request_id
    ) VALUES (
        p_organization_id, p_actor_user_id, session_user, p_action, p_resource_type, p_resource_id,
        -- Secrets never enter the trail.
        p_old_values - 'password_hash' - 'token_hash',
        p_new_values - 'password_hash' - 'token_hash',
        nullif(pg_catalog.current_setting('app.request_id', true), '')
    );
END
$$;

-- The API's user behind this change. Any role can set app.user_id, so it is believed only
-- when the session logged in as a member of iam_api (the API's own login); a DBA's change
-- in psql is attributed to their login role alone.
CREATE FUNCTION iam.audit_actor_user_id() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT CASE WHEN pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER') THEN iam.current_user_id() END
$$;

-- Row trigger: <resource_type>.created|updated|deleted, and invitation.accepted|revoked.
CREATE FUNCTION iam.record_audit_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    resource_type text := TG_ARGV[0];
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END;
    changed jsonb := coalesce(new_row, old_row);
    verb text := CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END;
BEGIN
    IF resource_type = 'invitation' AND TG_OP = 'UPDATE' THEN
        IF old_row->>'accepted_at' IS NULL AND new_row->>'accepted_at' IS NOT NULL THEN
            verb := 'accepted';
        ELSIF old_row->>'revoked_at' IS NULL AND new_row->>'revoked_at' IS NOT NULL THEN
            verb := 'revoked';
        END IF;
    END IF;
    PERFORM iam.append_audit_event(
        coalesce(changed->>'organization_id', changed->>'id')::uuid,
        resource_type || '.' || verb,
        resource_type,
        -- A membership is identified by its user; every other resource by its id.
        (CASE WHEN resource_type = 'membership' THEN changed->>'user_id' ELSE changed->>'id' END)::uuid,
        old_row,
        new_row,
        iam.audit_actor_user_id()
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER organizations_audit AFTER INSERT OR UPDATE ON iam.organizations
    FOR EACH ROW EXECUTE FUNCTION iam.record_audit_event('organization');
CREATE TRIGGER organization_memberships_audit AFTER INSERT OR UPDATE OR DELETE ON iam.organization_memberships
    FOR EACH ROW EXECUTE FUNCTION iam.record_audit_event('membership');
CREATE TRIGGER projects_audit AFTER INSERT OR UPDATE OR DELETE ON iam.projects
    FOR EACH ROW EXECUTE FUNCTION iam.record_audit_event('project');
CREATE TRIGGER invitations_audit AFTER INSERT OR UPDATE OR DELETE ON iam.invitations
    FOR EACH ROW EXECUTE FUNCTION iam.record_audit_event('invitation');

-- Login outcomes, called by the API. Recorded in the organization the login targeted, and
-- only when the user is a member there: a stranger's failed logins never reach a tenant.
CREATE FUNCTION iam.record_login(p_user_id uuid, p_organization_id uuid, p_succeeded boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF EXISTS (
        SELECT FROM iam.organization_memberships
        WHERE organization_id = p_organization_id AND user_id = p_user_id
    ) THEN
        PERFORM iam.append_audit_event(
            p_organization_id,
            CASE WHEN p_succeeded THEN 'login.succeeded' ELSE 'login.failed' END,
            'user',
            p_user_id,
            NULL,
            NULL,
            CASE WHEN p_succeeded THEN p_user_id END
        );
    END IF;
END
$$;
