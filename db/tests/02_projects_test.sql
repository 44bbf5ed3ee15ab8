-- projects: who sees and changes which rows. Columns: rows of org A seen, rows of other
-- organizations seen, then the outcome of an insert into A, an update of A's rows and a
-- delete of A's rows (rows touched, or 'refused' by PostgreSQL). Org A has 2 projects,
-- org B has 3.
BEGIN;
SELECT plan(9);
SELECT iam_test.seed();

SELECT iam_test.act_as('ORG_ADMIN of A');
SELECT results_eq($$SELECT * FROM iam_test.access('projects')$$, $$VALUES (2::bigint, 0::bigint, '1', '2', '2')$$, 'ORG_ADMIN of A: everything in A');
SELECT iam_test.act_as('ORG_USER of A');
SELECT results_eq($$SELECT * FROM iam_test.access('projects')$$, $$VALUES (2::bigint, 0::bigint, '1', '2', '0')$$, 'ORG_USER of A: no projects:delete, deletes are filtered');
SELECT iam_test.act_as('READ_ONLY of A');
SELECT results_eq($$SELECT * FROM iam_test.access('projects')$$, $$VALUES (2::bigint, 0::bigint, 'refused', '0', '0')$$, 'READ_ONLY of A: reads only');
SELECT iam_test.act_as('member of B');
SELECT results_eq($$SELECT * FROM iam_test.access('projects')$$, $$VALUES (0::bigint, 3::bigint, 'refused', '0', '0')$$, 'member of B: sees B, cannot touch A');
SELECT iam_test.act_as('no context');
SELECT results_eq($$SELECT * FROM iam_test.access('projects')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'no context: nothing');
SELECT iam_test.act_as('removed member of A');
SELECT results_eq($$SELECT * FROM iam_test.access('projects')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'removed member of A: nothing');
SELECT iam_test.act_as('DBA granted A');
SELECT results_eq($$SELECT * FROM iam_test.access('projects')$$, $$VALUES (2::bigint, 0::bigint, '1', '2', '2')$$, 'DBA granted A: reads and fixes A');
SELECT iam_test.act_as('DBA not granted A');
SELECT results_eq($$SELECT * FROM iam_test.access('projects')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'DBA not granted A: nothing');
SELECT iam_test.act_as('DBA with no org selected');
SELECT results_eq($$SELECT * FROM iam_test.access('projects')$$, $$VALUES (0::bigint, 0::bigint, 'refused', '0', '0')$$, 'DBA with no org selected: nothing');

SELECT * FROM finish();
ROLLBACK;
