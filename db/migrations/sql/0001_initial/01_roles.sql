-- Roles of tenant-iam. Roles are cluster-wide, so they are created only when missing, and
-- without NOSUPERUSER/NOBYPASSRLS spelled out: managed hosts (Supabase) refuse those words
-- from a non-superuser, and the defaults are already the safe ones.
DO $$
BEGIN
    -- The schema owner runs the SECURITY DEFINER helpers, and every iam table forces row
    -- security, so the owner itself must be exempt from it or the helpers would see nothing.
    IF NOT (SELECT rolsuper OR rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'tenant-iam migrations must run as a superuser or a role with BYPASSRLS, not as %', current_user
            USING HINT = 'On Supabase run them as the postgres role.';
    END IF;

    -- iam_api: every API transaction runs as this role (SET LOCAL ROLE iam_api).
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'iam_api') THEN
        CREATE ROLE iam_api NOLOGIN;
    END IF;
    -- iam_dba: group role for humans running direct SQL, still under row security.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'iam_dba') THEN
        CREATE ROLE iam_dba NOLOGIN;
    END IF;

    -- The login role of DATABASE_URL must be able to SET ROLE iam_api. On PostgreSQL 16+ the
    -- creator of a role holds only ADMIN on it, so membership with SET is granted explicitly.
    IF current_setting('server_version_num')::int >= 160000 THEN
        IF NOT pg_catalog.pg_has_role(current_user, 'iam_api', 'SET') THEN
            EXECUTE format('GRANT iam_api TO %I WITH SET TRUE', current_user);
        END IF;
    ELSIF NOT pg_catalog.pg_has_role(current_user, 'iam_api', 'MEMBER') THEN
        EXECUTE format('GRANT iam_api TO %I', current_user);
    END IF;
END
$$;
