-- Who sees which organizations and user accounts. Both are read-only to the API and to
-- DBAs: they change through the SECURITY DEFINER entry points only. The API reads no
-- organization row directly at all: enter_context and list_my_organizations answer for it.
BEGIN;
SELECT plan(13);
SELECT iam_test.seed();

SELECT iam_test.act_as('ORG_ADMIN of A');  -- its 3 members
SELECT throws_ok($$SELECT count(*) FROM iam.organizations$$, '42501', NULL, 'the API reads no organization row directly');
SELECT is((SELECT count(*) FROM iam.users), 3::bigint, 'ORG_ADMIN of A: user accounts seen');
SELECT iam_test.act_as('ORG_USER of A');  -- its 3 members (users:read)
SELECT is((SELECT count(*) FROM iam.users), 3::bigint, 'ORG_USER of A: user accounts seen');
SELECT iam_test.act_as('READ_ONLY of A');  -- only its own account (no users:read)
SELECT is((SELECT count(*) FROM iam.users), 1::bigint, 'READ_ONLY of A: user accounts seen');
SELECT iam_test.act_as('member of B');  -- its 2 members
SELECT is((SELECT count(*) FROM iam.users), 2::bigint, 'member of B: user accounts seen');
SELECT iam_test.act_as('no context');  -- sees nothing
SELECT is((SELECT count(*) FROM iam.users), 0::bigint, 'no context: user accounts seen');
SELECT iam_test.act_as('removed member of A');  -- sees nothing of A; its own account
SELECT is((SELECT count(*) FROM iam.users), 1::bigint, 'removed member of A: user accounts seen');
SELECT iam_test.act_as('DBA granted A');  -- sees org A; its 3 members
SELECT is((SELECT count(*) FROM iam.organizations), 1::bigint, 'DBA granted A: organizations seen');
SELECT is((SELECT count(*) FROM iam.users), 3::bigint, 'DBA granted A: user accounts seen');
SELECT iam_test.act_as('DBA not granted A');  -- sees nothing
SELECT is((SELECT count(*) FROM iam.organizations), 0::bigint, 'DBA not granted A: organizations seen');
SELECT is((SELECT count(*) FROM iam.users), 0::bigint, 'DBA not granted A: user accounts seen');
SELECT iam_test.act_as('DBA with no org selected');  -- sees nothing
SELECT is((SELECT count(*) FROM iam.organizations), 0::bigint, 'DBA with no org selected: organizations seen');
SELECT is((SELECT count(*) FROM iam.users), 0::bigint, 'DBA with no org selected: user accounts seen');

SELECT * FROM finish();
ROLLBACK;
