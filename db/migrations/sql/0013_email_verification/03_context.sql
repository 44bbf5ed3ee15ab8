-- The context's one round trip also says whether the caller's address is proved, so that
-- /auth/me (and anything else) needs no second query for it. Its result changes shape, so
-- the function is dropped and made again (as in 0010 otherwise).
DROP FUNCTION iam.enter_context(uuid, uuid, uuid, text);
CREATE FUNCTION iam.enter_context(p_user_id uuid, p_organization_id uuid, p_session_id uuid, p_request_id text)
RETURNS TABLE (user_id uuid, email text, email_verified boolean, organization_id uuid, organization_name text,
               session_id uuid, role text, permissions text[])
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
        SELECT u.id AS user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, NULL::uuid AS organization_id, NULL::text AS organization_name,
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
        SELECT u.id AS user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, o.id AS organization_id, o.name AS organization_name, s.id AS session_id,
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
    RETURN QUERY SELECT caller.user_id, caller.email, caller.email_verified, caller.organization_id,
                        caller.organization_name, caller.session_id, caller.role, caller.permissions;
END
$$;
REVOKE ALL ON FUNCTION iam.enter_context(uuid, uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.enter_context(uuid, uuid, uuid, text) TO iam_api;
