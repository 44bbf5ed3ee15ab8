-- invitations: org A has 1 pending invitation, org B has 2. The API never deletes
-- invitations (it revokes them), so iam_api holds no DELETE privilege at all; DBAs may.
BEGIN;
SELECT plan(9);
SELECT iam_test.seed();

SELECT iam_test.act_as('ORG_ADMIN of A');
SELECT results_eq($$SELECT * FROM iam_test.access('invitations')$$, $$VALUES (1::bigint, 0::bigint, '1', '1', 'refused')$$, 'ORG_ADMIN of A: invites and revokes in A');
SELECT iam_test.act_as('ORG_USER of A');
SELECT results_eq($$SELECT * FROM iam_test.access('invitations')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', 'refused')$$, 'ORG_USER of A: no users:manage, sees nothing');
SELECT iam_test.act_as('READ_ONLY of A');
SELECT results_eq($$SELECT * FROM iam_test.access('invitations')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', 'refused')$$, 'READ_ONLY of A: sees nothing');
SELECT iam_test.act_as('member of B');
SELECT results_eq($$SELECT * FROM iam_test.access('invitations')$$, $$VALUES (0::bigint, 2::bigint, 'refused', '0', 'refused')$$, 'member of B: sees B, cannot touch A');
SELECT iam_test.act_as('no context');
SELECT results_eq($$SELECT * FROM iam_test.access('invitations')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', 'refused')$$, 'no context: nothing');
SELECT iam_test.act_as('removed member of A');
SELECT results_eq($$SELECT * FROM iam_test.access('invitations')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', 'refused')$$, 'removed member of A: nothing');
SELECT iam_test.act_as('DBA granted A');
SELECT results_eq($$SELECT * FROM iam_test.access('invitations')$$, $$VALUES (1::bigint, 0::bigint, 'refused', '1', '1')$$, 'DBA granted A: reads, revokes and deletes in A, never invites');
SELECT iam_test.act_as('DBA not granted A');
SELECT results_eq($$SELECT * FROM iam_test.access('invitations')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'DBA not granted A: nothing');
SELECT iam_test.act_as('DBA with no org selected');
SELECT results_eq($$SELECT * FROM iam_test.access('invitations')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'DBA with no org selected: nothing');

SELECT * FROM finish();
ROLLBACK;
