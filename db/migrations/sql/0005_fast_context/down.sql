-- Undoes 0005: the helpers of 0001, 0003 and 0004 as they were.
DROP FUNCTION iam.enter_context(uuid, uuid, uuid, text);

CREATE OR REPLACE FUNCTION iam.caller_has_permission(permission text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = '' AS $$
    SELECT pg_catalog.pg_has_role(session_user, 'iam_api', 'MEMBER') AND EXISTS (
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

CREATE OR REPLACE FUNCTION iam.current_session_id() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT nullif(pg_catalog.current_setting('app.session_id', true), '')::uuid
$$;

CREATE OR REPLACE FUNCTION iam.current_user_id() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT nullif(pg_catalog.current_setting('app.user_id', true), '')::uuid
$$;

CREATE OR REPLACE FUNCTION iam.current_org_id() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT nullif(pg_catalog.current_setting('app.org_id', true), '')::uuid
$$;
