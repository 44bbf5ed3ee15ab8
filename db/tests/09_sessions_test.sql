-- Sessions are each user's own: the API shows a user their sessions (in every organization)
-- and lets them revoke those only, never anyone else's, not even as ORG_ADMIN. DBAs get
-- nothing. Refresh tokens and login counters are reachable through functions only.
BEGIN;
SELECT plan(20);
SELECT iam_test.seed();  -- every member has one live session

SELECT iam_test.act_as('ORG_ADMIN of A');
SELECT results_eq($$SELECT user_id FROM iam.sessions$$, ARRAY[iam_test.id('admin_a')],
    'ORG_ADMIN of A sees their own session, not their members''');
SELECT is(iam_test.attempt($$UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'logout'$$), '1',
    'ORG_ADMIN of A revokes their own session only');
SELECT is(iam_test.attempt(format(
    $$INSERT INTO iam.sessions (user_id, organization_id, expires_at) VALUES (%L, %L, now() + interval '1 day')$$,
    iam_test.id('admin_a'), iam_test.id('org A'))), 'refused', 'sessions are opened by iam.start_session only');
SELECT is(iam_test.attempt($$DELETE FROM iam.sessions$$), 'refused', 'the API deletes no session');
SELECT throws_ok($$SELECT token_hash FROM iam.refresh_tokens$$, '42501', NULL, 'the API reads no refresh token hash');
SELECT throws_ok($$SELECT subject FROM iam.attempt_counters$$, '42501', NULL, 'the API reads no login counter');
SELECT throws_ok($$SELECT pair FROM iam.known_sign_in_clients$$, '42501', NULL, 'the API reads no known sign-in client');

SELECT iam_test.act_as('ORG_USER of A');
SELECT results_eq($$SELECT user_id FROM iam.sessions$$, ARRAY[iam_test.id('user_a')], 'ORG_USER of A: their own session');
SELECT iam_test.act_as('member of B');
SELECT results_eq($$SELECT user_id FROM iam.sessions$$, ARRAY[iam_test.id('admin_b')], 'member of B: their own session');
SELECT iam_test.act_as('READ_ONLY of A');
SELECT results_eq($$SELECT user_id FROM iam.sessions$$, ARRAY[iam_test.id('reader_a')], 'READ_ONLY of A: their own session');
SELECT iam_test.act_as('no context');
SELECT is_empty($$SELECT id FROM iam.sessions$$, 'no context: nothing');
SELECT is(iam_test.attempt($$UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'logout'$$), '0',
    'no context: revokes nothing');

SELECT iam_test.act_as('DBA granted A');
SELECT throws_ok($$SELECT count(*) FROM iam.sessions$$, '42501', NULL, 'a DBA reads no sessions, even of a granted organization');
SELECT throws_ok($$SELECT iam.current_session_id()$$, '42501', NULL, 'a DBA cannot call the API''s session helper');
SELECT throws_ok($$SELECT * FROM iam.refresh_session('\x01', '\x09', 10)$$, '42501', NULL, 'a DBA cannot refresh anyone''s session');
SELECT throws_ok($$SELECT count(*) FROM iam.attempt_counters$$, '42501', NULL, 'a DBA reads no login counter');
SELECT throws_ok($$SELECT * FROM iam.purge_expired()$$, '42501', NULL, 'a DBA cannot purge counters (nor can anyone but the owner)');
SELECT throws_ok($$SELECT * FROM iam.list_my_invitations()$$, '42501', NULL, 'a DBA cannot list anyone''s invitations');

-- A revoked session stays revoked, whoever tries.
RESET ROLE;
UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'logout' WHERE user_id = iam_test.id('user_a');
SELECT throws_ok(
    format($$UPDATE iam.sessions SET revoked_at = NULL, revoked_reason = NULL WHERE user_id = %L$$, iam_test.id('user_a')),
    '23514', NULL, 'a revoked session cannot be revived'
);
SELECT results_eq(
    format($$SELECT action FROM iam.audit_events WHERE resource_type = 'session' AND organization_id = %L ORDER BY occurred_at$$,
           iam_test.id('org A')),
    $$VALUES ('session.created'), ('session.created'), ('session.created'), ('session.revoked')$$,
    'session.created and session.revoked are recorded in the session''s organization'
);

SELECT * FROM finish();
ROLLBACK;
