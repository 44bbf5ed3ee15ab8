-- A request made with an API key runs in the key's organization with the key's role: the
-- policies call iam.caller_has_permission as before, which now also answers for a key.

-- The key's context, in the request's one round trip (as iam.enter_context for a person's
-- token). The outcome says why there is no caller, without telling the client:
--   ok         the key is live; app.org_id and app.api_key_id are set
--   throttled  the client address is over its failure limit: no key is checked from it
--   unknown    no key has this lookup id and hash (a guess: the caller counts it)
--   ended      the key was revoked or has expired
CREATE FUNCTION iam.enter_api_key_context(
    p_lookup_id text, p_key_hash bytea, p_address_key bytea, p_max_address_failures integer, p_request_id text
) RETURNS TABLE (
    outcome text, retry_after_seconds integer, api_key_id uuid, api_key_name text, lookup_id text,
    created_by_user_id uuid, expires_at timestamptz, last_used_at timestamptz,
    organization_id uuid, organization_name text, role text, permissions text[]
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    key iam.api_keys;
    blocked_until timestamptz;
BEGIN
    PERFORM pg_catalog.set_config('app.user_id', '', true),
            pg_catalog.set_config('app.org_id', '', true),
            pg_catalog.set_config('app.session_id', '', true),
            pg_catalog.set_config('app.api_key_id', '', true),
            pg_catalog.set_config('app.api_key_hash', '', true),
            pg_catalog.set_config('app.request_id', coalesce(p_request_id, ''), true),
            pg_catalog.set_config('TimeZone', 'UTC', true),
            pg_catalog.set_config('random_page_cost', '1.1', true);
    SELECT c.window_ends_at INTO blocked_until
    FROM iam.attempt_counters AS c
    WHERE c.subject = p_address_key AND c.failures >= p_max_address_failures AND c.window_ends_at > now();
    IF blocked_until IS NOT NULL THEN
        RETURN QUERY SELECT 'throttled', greatest(1, ceil(extract(epoch FROM blocked_until - now())))::integer,
            NULL::uuid, NULL::text, NULL::text, NULL::uuid, NULL::timestamptz, NULL::timestamptz,
            NULL::uuid, NULL::text, NULL::text, NULL::text[];
        RETURN;
    END IF;
    SELECT * INTO key FROM iam.api_keys AS k WHERE k.lookup_id = p_lookup_id AND k.key_hash = p_key_hash;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'unknown', 0, NULL::uuid, NULL::text, NULL::text, NULL::uuid, NULL::timestamptz,
            NULL::timestamptz, NULL::uuid, NULL::text, NULL::text, NULL::text[];
        RETURN;
    END IF;
    IF key.revoked_at IS NOT NULL OR key.expires_at <= now() THEN
        RETURN QUERY SELECT 'ended', 0, NULL::uuid, NULL::text, NULL::text, NULL::uuid, NULL::timestamptz,
            NULL::timestamptz, NULL::uuid, NULL::text, NULL::text, NULL::text[];
        RETURN;
    END IF;
    -- The hash goes with the id: SQL smuggled into a request's transaction can set app.* itself,
    -- and key ids are no secret (listings, the audit trail), but no role can read a hash.
    PERFORM pg_catalog.set_config('app.org_id', key.organization_id::text, true),
            pg_catalog.set_config('app.api_key_id', key.id::text, true),
            pg_catalog.set_config('app.api_key_hash', pg_catalog.encode(key.key_hash, 'hex'), true);
    RETURN QUERY
    SELECT 'ok', 0, key.id, key.name, key.lookup_id, key.created_by_user_id, key.expires_at, key.last_used_at,
           o.id, o.name, key.role,
           ARRAY(SELECT rp.permission_key FROM iam.role_permissions AS rp
                 WHERE rp.role_key = key.role ORDER BY rp.permission_key)
    FROM iam.organizations AS o WHERE o.id = key.organization_id;
END
$$;
REVOKE ALL ON FUNCTION iam.enter_api_key_context(text, bytea, bytea, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.enter_api_key_context(text, bytea, bytea, integer, text) TO iam_api;

-- Records that a key was used, at most once a minute: the API calls it after a request whose
-- key was last marked over a minute ago, in its own short transaction.
CREATE FUNCTION iam.touch_api_key(p_organization_id uuid, p_id uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    UPDATE iam.api_keys AS k SET last_used_at = now()
    WHERE k.organization_id = p_organization_id AND k.id = p_id AND k.revoked_at IS NULL
      AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
$$;
REVOKE ALL ON FUNCTION iam.touch_api_key(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.touch_api_key(uuid, uuid) TO iam_api;

-- A person's token: their membership through a live session, as before. A key: the key of
-- the context (its id and its hash, as only iam.enter_api_key_context can set them), live,
-- in the organization of the context, with its role's permissions.
CREATE OR REPLACE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF NOT pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER') THEN
        RETURN false;
    END IF;
    IF iam.current_api_key_id() IS NOT NULL AND iam.current_user_id() IS NULL THEN
        RETURN EXISTS (
            SELECT
            FROM iam.api_keys AS k
            JOIN iam.role_permissions AS rp ON rp.role_key = k.role
            WHERE k.organization_id = iam.current_org_id()
              AND k.id = iam.current_api_key_id()
              AND k.key_hash = pg_catalog.decode(pg_catalog.current_setting('app.api_key_hash', true), 'hex')
              AND k.revoked_at IS NULL
              AND (k.expires_at IS NULL OR k.expires_at > pg_catalog.now())
              AND rp.permission_key = permission
        );
    END IF;
    RETURN EXISTS (
        SELECT
        FROM iam.organization_memberships AS m
        JOIN iam.users AS u ON u.id = m.user_id
        JOIN iam.role_permissions AS rp ON rp.role_key = m.role
        JOIN iam.sessions AS s ON s.user_id = m.user_id AND s.organization_id = m.organization_id
        WHERE m.organization_id = iam.current_org_id()
          AND m.user_id = iam.current_user_id()
          AND s.id = iam.current_session_id()
          AND s.revoked_at IS NULL
          AND s.expires_at > pg_catalog.now()
          AND u.is_active
          AND rp.permission_key = permission
    );
END
$$;

-- Whether the caller holds every permission of a role: a key is never given more than its
-- creator (or whoever changes its role) holds.
CREATE FUNCTION iam.caller_holds_role(p_role text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT NOT EXISTS (
        SELECT FROM iam.role_permissions AS rp
        WHERE rp.role_key = p_role AND NOT iam.caller_has_permission(rp.permission_key)
    )
$$;
REVOKE ALL ON FUNCTION iam.caller_holds_role(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.caller_holds_role(text) TO iam_api;

-- Only a person creates a key (created_by_user_id is the signed-in user: a key has none), so a
-- leaked key cannot mint others that would outlive its own revocation.
CREATE POLICY api_keys_api_select ON iam.api_keys FOR SELECT TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('api_keys:manage')));
CREATE POLICY api_keys_api_insert ON iam.api_keys FOR INSERT TO iam_api
    WITH CHECK (organization_id = (SELECT iam.current_org_id())
                AND created_by_user_id = (SELECT iam.current_user_id())
                AND (SELECT iam.caller_has_permission('api_keys:manage'))
                AND iam.caller_holds_role(role));
CREATE POLICY api_keys_api_update ON iam.api_keys FOR UPDATE TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('api_keys:manage')))
    WITH CHECK (organization_id = (SELECT iam.current_org_id()) AND iam.caller_holds_role(role));
CREATE POLICY api_keys_dba_select ON iam.api_keys FOR SELECT TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()));
CREATE POLICY api_keys_dba_update ON iam.api_keys FOR UPDATE TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()))
    WITH CHECK (organization_id = (SELECT iam.dba_org_id()));

-- What a key creates has no creating user; the audit trail names the key.
ALTER POLICY projects_api_insert ON iam.projects
    WITH CHECK (organization_id = (SELECT iam.current_org_id())
                AND created_by_user_id IS NOT DISTINCT FROM (SELECT iam.current_user_id())
                AND (SELECT iam.caller_has_permission('projects:write')));
ALTER POLICY invitations_api_insert ON iam.invitations
    WITH CHECK (organization_id = (SELECT iam.current_org_id())
                AND invited_by_user_id IS NOT DISTINCT FROM (SELECT iam.current_user_id())
                AND (SELECT iam.caller_has_permission('users:manage')));
