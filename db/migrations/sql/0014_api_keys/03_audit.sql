-- A key is an actor of its own in the audit trail: the key, and who created it (kept with
-- the event, so that it stays true when the creator leaves).
ALTER TABLE iam.audit_events
    ADD COLUMN actor_api_key_id uuid,
    ADD COLUMN actor_api_key_created_by_user_id uuid;

CREATE OR REPLACE FUNCTION iam.append_audit_event(
    p_organization_id uuid, p_action text, p_resource_type text, p_resource_id uuid,
    p_old_values jsonb, p_new_values jsonb, p_actor_user_id uuid
) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    from_api boolean := pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER');
    request_id text := CASE WHEN from_api THEN nullif(pg_catalog.current_setting('app.request_id', true), '') END;
    actor_key uuid := CASE WHEN from_api AND p_actor_user_id IS NULL THEN iam.current_api_key_id() END;
    actor_key_creator uuid;
BEGIN
    -- A cascade from a deleted organization has nothing left to attribute events to.
    IF NOT EXISTS (SELECT FROM iam.organizations WHERE id = p_organization_id) THEN
        RETURN;
    END IF;
    IF actor_key IS NOT NULL THEN
        SELECT k.created_by_user_id INTO actor_key_creator
        FROM iam.api_keys AS k WHERE k.organization_id = iam.current_org_id() AND k.id = actor_key;
    END IF;
    INSERT INTO iam.audit_events (
        organization_id, actor_user_id, actor_api_key_id, actor_api_key_created_by_user_id, actor_db_role,
        action, resource_type, resource_id, old_values, new_values, request_id, anonymous
    ) VALUES (
        p_organization_id, p_actor_user_id, actor_key, actor_key_creator, session_user,
        p_action, p_resource_type, p_resource_id,
        -- Secrets never enter the trail.
        p_old_values - 'password_hash' - 'token_hash' - 'key_hash',
        p_new_values - 'password_hash' - 'token_hash' - 'key_hash',
        request_id,
        p_actor_user_id IS NULL AND actor_key IS NULL AND request_id IS NOT NULL
    );
END
$$;

CREATE OR REPLACE FUNCTION iam.record_audit_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    resource_type text := TG_ARGV[0];
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN pg_catalog.to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN pg_catalog.to_jsonb(NEW) END;
    changed jsonb := coalesce(new_row, old_row);
    verb text := CASE TG_OP WHEN 'INSERT' THEN 'created' WHEN 'UPDATE' THEN 'updated' ELSE 'deleted' END;
BEGIN
    IF resource_type IN ('invitation', 'api_key') AND TG_OP = 'UPDATE' THEN
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

-- Not on last_used_at: using a key is not a change to it.
CREATE TRIGGER api_keys_audit AFTER INSERT OR UPDATE OF name, role, revoked_at ON iam.api_keys
    FOR EACH ROW EXECUTE FUNCTION iam.record_audit_event('api_key');
