-- iam.enter_context, the one statement that opens an API request's context: it sets app.*
-- for the transaction and answers with the caller only for an active member through a live
-- session of theirs in that organization. The context readers stay inlinable (plain SQL, no
-- SET clause, not SECURITY DEFINER), which is what keeps every policy cheap.
BEGIN;
SELECT plan(14);
SELECT iam_test.seed();
CREATE TEMP TABLE context_sessions ON COMMIT DROP AS
SELECT 'admin_a' AS label, session_id FROM iam.start_session(iam_test.id('admin_a'), iam_test.id('org A'), '\x11', 3600, NULL, NULL)
UNION ALL
SELECT 'user_a', session_id FROM iam.start_session(iam_test.id('user_a'), iam_test.id('org A'), '\x12', 3600, NULL, NULL);
GRANT SELECT ON context_sessions TO PUBLIC;
UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'logout'
WHERE id = (SELECT session_id FROM context_sessions WHERE label = 'user_a');

SET LOCAL ROLE iam_api;
SELECT results_eq(
    $$SELECT role, organization_name, permissions[1:2] FROM iam.enter_context(
        iam_test.id('admin_a'), iam_test.id('org A'), (SELECT session_id FROM context_sessions WHERE label = 'admin_a'), 'r1')$$,
    $$VALUES ('ORG_ADMIN', 'A', ARRAY['api_keys:manage', 'audit:read'])$$,
    'a live session of an active member: the caller, with the role''s permissions'
);
SELECT is(current_setting('app.org_id'), iam_test.id('org A')::text, 'app.org_id is set for the transaction');
SELECT is(current_setting('app.request_id'), 'r1', 'app.request_id is set for the transaction');
SELECT is((SELECT count(*) FROM iam.projects), 2::bigint, 'and the policies see it');
SELECT is_empty(
    $$SELECT * FROM iam.enter_context(iam_test.id('user_a'), iam_test.id('org A'),
        (SELECT session_id FROM context_sessions WHERE label = 'user_a'), 'r2')$$,
    'a revoked session: no caller'
);
SELECT is(current_setting('app.user_id'), '', 'a revoked session leaves the context empty');
SELECT is((SELECT count(*) FROM iam.projects), 0::bigint, 'so the tenant''s rows are not seen');
SELECT throws_ok(
    format($$INSERT INTO iam.projects (organization_id, name, created_by_user_id) VALUES (%L, 'after logout', %L)$$,
           iam_test.id('org A'), iam_test.id('user_a')),
    '42501', NULL, 'and a write is refused'
);
SELECT is_empty(
    $$UPDATE iam.projects SET description = 'after logout' RETURNING id$$,
    'and an update touches nothing'
);
SELECT is_empty(
    $$SELECT * FROM iam.enter_context(iam_test.id('admin_a'), iam_test.id('org B'),
        (SELECT session_id FROM context_sessions WHERE label = 'admin_a'), 'r3')$$,
    'a session of another organization: no caller'
);
SELECT is_empty(
    $$SELECT * FROM iam.enter_context(iam_test.id('admin_a'), iam_test.id('org A'), gen_random_uuid(), 'r4')$$,
    'an unknown session: no caller'
);
SELECT is_empty($$SELECT * FROM iam.enter_context(NULL, NULL, NULL, 'r5')$$, 'no user: no caller');
SELECT is((SELECT count(*) FROM iam.projects), 0::bigint, 'and an empty context sees nothing');

RESET ROLE;
SELECT is_empty(
    $$SELECT p.proname FROM pg_proc AS p
      WHERE p.oid IN ('iam.current_org_id()'::regprocedure, 'iam.current_user_id()'::regprocedure,
                      'iam.current_session_id()'::regprocedure)
        AND NOT (p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'sql')
                 AND p.proconfig IS NULL AND NOT p.prosecdef AND p.provolatile = 's')$$,
    'the context readers stay inlinable: STABLE SQL, no SET clause, not SECURITY DEFINER'
);

SELECT * FROM finish();
ROLLBACK;
