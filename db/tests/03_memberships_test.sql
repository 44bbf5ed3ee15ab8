-- organization_memberships: org A has 3 members (admin_a, user_a, reader_a; removed_a left),
-- org B has 2. The insert adds the outsider to A; the update rewrites roles unchanged; the
-- delete removes A's non-admin members (the last-admin rule has tests of its own). Nobody
-- adds members directly, not even an ORG_ADMIN context or a DBA: people join through
-- invitations (iam.consume_invitation), and an added member's account would become readable.
BEGIN;
SELECT plan(9);
SELECT iam_test.seed();

SELECT iam_test.act_as('ORG_ADMIN of A');
SELECT results_eq($$SELECT * FROM iam_test.access('organization_memberships')$$, $$VALUES (3::bigint, 0::bigint, 'refused', '3', '2')$$, 'ORG_ADMIN of A: users:manage in A, but never adds a member');
SELECT iam_test.act_as('ORG_USER of A');
SELECT results_eq($$SELECT * FROM iam_test.access('organization_memberships')$$, $$VALUES (3::bigint, 0::bigint, 'refused', '0', '0')$$, 'ORG_USER of A: users:read only');
SELECT iam_test.act_as('READ_ONLY of A');
SELECT results_eq($$SELECT * FROM iam_test.access('organization_memberships')$$, $$VALUES (1::bigint, 0::bigint, 'refused', '0', '0')$$, 'READ_ONLY of A: only its own membership');
SELECT iam_test.act_as('member of B');
SELECT results_eq($$SELECT * FROM iam_test.access('organization_memberships')$$, $$VALUES (0::bigint, 2::bigint, 'refused', '0', '0')$$, 'member of B: sees B, cannot touch A');
SELECT iam_test.act_as('no context');
SELECT results_eq($$SELECT * FROM iam_test.access('organization_memberships')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'no context: nothing');
SELECT iam_test.act_as('removed member of A');
SELECT results_eq($$SELECT * FROM iam_test.access('organization_memberships')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'removed member of A: nothing');
SELECT iam_test.act_as('DBA granted A');
SELECT results_eq($$SELECT * FROM iam_test.access('organization_memberships')$$, $$VALUES (3::bigint, 0::bigint, 'refused', '3', '2')$$, 'DBA granted A: reads, changes and removes in A, never adds');
SELECT iam_test.act_as('DBA not granted A');
SELECT results_eq($$SELECT * FROM iam_test.access('organization_memberships')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'DBA not granted A: nothing');
SELECT iam_test.act_as('DBA with no org selected');
SELECT results_eq($$SELECT * FROM iam_test.access('organization_memberships')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'DBA with no org selected: nothing');

SELECT * FROM finish();
ROLLBACK;
