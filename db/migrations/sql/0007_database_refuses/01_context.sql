-- The context of an API transaction exists only for a live session. Before, enter_context set
-- app.user_id, app.org_id and app.session_id first and checked the session after, and the
-- policies checked membership only: a transaction opened for a logged-out, reuse-revoked or
-- expired session saw its tenant's rows, and only the Python's "no caller: 401" stopped it.

-- The one statement that opens a request's context. It looks the caller up first: their
-- active membership in the organization, through a live session of theirs there, with the
-- role's permissions. Only then, and only if found, does it set app.user_id, app.org_id and
-- app.session_id for the rest of the transaction; otherwise they stay empty and every policy
-- answers nothing. app.request_id, the time zone and planner costs are always set.
CREATE OR REPLACE FUNCTION iam.enter_context(p_user_id uuid, p_organization_id uuid, p_session_id uuid, p_request_id text)
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
    IF NOT FOUND THEN
        RETURN;
    END IF;
    PERFORM pg_catalog.set_config('app.user_id', p_user_id::text, true),
            pg_catalog.set_config('app.org_id', p_organization_id::text, true),
            pg_catalog.set_config('app.session_id', p_session_id::text, true);
    RETURN QUERY SELECT caller.user_id, caller.email, caller.organization_id, caller.organization_name,
                        caller.session_id, caller.role, caller.permissions;
END
$$;

-- The API's own login can still set app.* by hand (set_config is anyone's), so the checks
-- that grant anything also want a live session behind the claimed user, in the claimed
-- organization: a statement smuggled into an API transaction cannot borrow an identity
-- without a live session id of it. The functions that act for the current user (accept an
-- invitation, create an organization, change the password, switch organization) ask this;
-- caller_has_permission, which the policies ask, checks the same itself.
CREATE FUNCTION iam.signed_in_user_id() RETURNS uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    RETURN (
        SELECT s.user_id
        FROM iam.sessions AS s
        JOIN iam.users AS u ON u.id = s.user_id
        WHERE s.id = iam.current_session_id()
          AND s.user_id = iam.current_user_id()
          AND s.organization_id = iam.current_org_id()
          AND s.revoked_at IS NULL
          AND s.expires_at > pg_catalog.now()
          AND u.is_active
          AND pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER')
    );
END
$$;

-- Whether the signed-in user (as signed_in_user_id, spelled out here: this runs for every
-- statement of every request, and calling signed_in_user_id from it cut pgbench's
-- GET /projects/{id} transaction from 6,118 to 2,506 tps) is a member of the current
-- organization whose role holds a permission. Every API policy but the user's own rows asks this.
CREATE OR REPLACE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    RETURN pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER') AND EXISTS (
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
REVOKE ALL ON FUNCTION iam.signed_in_user_id() FROM PUBLIC;
