-- The catalogue: row security everywhere, unprivileged roles, safe functions and views.
BEGIN;
SELECT plan(12);

SELECT is_empty(
    $$SELECT c.relname FROM pg_class AS c
      WHERE c.relnamespace = 'iam'::regnamespace AND c.relkind IN ('r', 'p')
        AND NOT (c.relrowsecurity AND c.relforcerowsecurity)$$,
    'every table in iam has row-level security enabled and forced'
);

SELECT set_eq(
    $$SELECT rolname::text FROM pg_roles WHERE rolname IN ('iam_api', 'iam_dba')$$,
    ARRAY['iam_api', 'iam_dba'],
    'roles iam_api and iam_dba exist'
);

SELECT is_empty(
    $$SELECT rolname FROM pg_roles WHERE rolname IN ('iam_api', 'iam_dba') AND (rolsuper OR rolbypassrls OR rolcanlogin)$$,
    'iam_api and iam_dba are neither superuser nor BYPASSRLS, and cannot log in'
);

SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc AS p
      WHERE p.pronamespace = 'iam'::regnamespace AND p.prosecdef
        AND (p.proacl IS NULL OR EXISTS (
            SELECT FROM aclexplode(p.proacl) AS a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))$$,
    'no SECURITY DEFINER function in iam is executable by PUBLIC'
);

SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc AS p
      WHERE p.pronamespace = 'iam'::regnamespace AND p.prosecdef
        AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS setting WHERE setting LIKE 'search\_path=%')$$,
    'every SECURITY DEFINER function in iam pins its search_path'
);

SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc AS p
      WHERE p.pronamespace = 'iam'::regnamespace AND p.proleakproof$$,
    'no function in iam is LEAKPROOF'
);

SELECT is_empty(
    $$SELECT c.relname FROM pg_class AS c
      WHERE c.relnamespace = 'iam'::regnamespace AND c.relkind IN ('v', 'm')
        AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)$$,
    'no view in iam runs with its owner''s rights (security_invoker everywhere)'
);

SELECT is_empty(
    $$SELECT table_name || ': ' || privilege_type FROM information_schema.role_table_grants
      WHERE table_schema = 'iam' AND grantee = 'PUBLIC'$$,
    'nothing in iam is granted to PUBLIC'
);

SELECT is_empty(
    $$SELECT r.rolname || ' may read ' || c.column_name
      FROM pg_roles AS r
      CROSS JOIN (VALUES ('users', 'password_hash'), ('invitations', 'token_hash')) AS c (table_name, column_name)
      WHERE r.rolname IN ('iam_api', 'iam_dba')
        AND has_column_privilege(r.rolname, 'iam.' || c.table_name, c.column_name, 'SELECT')$$,
    'neither role can read password or token hashes'
);

SELECT set_eq(
    $$SELECT p.oid::regprocedure::text FROM pg_proc AS p
      WHERE p.pronamespace = 'iam'::regnamespace AND has_function_privilege('iam_dba', p.oid, 'EXECUTE')$$,
    ARRAY['iam.current_org_id()', 'iam.dba_org_id()', 'iam.is_visible_text(text,boolean)'],
    'iam_dba executes only its own policy helpers and the pure text check'
);

SELECT is_empty(
    $$SELECT p.oid::regprocedure::text FROM pg_proc AS p
      WHERE p.pronamespace = 'iam'::regnamespace
        AND EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) AS a
                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')$$,
    'no function in iam is executable by PUBLIC'
);

-- caller_has_permission and signed_in_user_id believe app.user_id only from a login in
-- iam_api, with a live session behind it. A login outside iam_api gets false whatever it
-- set, even if granted EXECUTE by mistake.
SELECT is(
    (SELECT count(*) FROM pg_proc
     WHERE oid IN ('iam.signed_in_user_id()'::regprocedure, 'iam.caller_has_permission(text)'::regprocedure)
       AND prosrc LIKE '%pg_has_role(session_user, ''iam_api'', ''MEMBER'')%'
       AND prosrc LIKE '%s.revoked_at IS NULL%'),
    2::bigint,
    'caller_has_permission believes only the API''s login, and only with a live session'
);

SELECT * FROM finish();
ROLLBACK;
