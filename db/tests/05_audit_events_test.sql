-- audit_events: append-only for everyone but the schema owner. Seeding org A wrote 12 events
-- (organization.created, 4 membership.created, 1 membership.deleted, 2 project.created,
-- 1 invitation.created, 3 session.created); org B 10 (organization.created, 2 membership.created,
-- 3 project.created, 2 invitation.created, 2 session.created).
BEGIN;
SELECT plan(10);
SELECT iam_test.seed();

SELECT results_eq(
    $$SELECT action, count(*) FROM iam.audit_events WHERE organization_id = iam_test.id('org A') GROUP BY action ORDER BY action$$,
    $$VALUES ('invitation.created', 1::bigint), ('membership.created', 4), ('membership.deleted', 1),
             ('organization.created', 1), ('project.created', 2), ('session.created', 3)$$,
    'the triggers recorded the seed of org A'
);

SELECT iam_test.act_as('ORG_ADMIN of A');
SELECT results_eq($$SELECT * FROM iam_test.access('audit_events')$$, $$VALUES (12::bigint, 0::bigint, 'refused', 'refused', 'refused')$$, 'ORG_ADMIN of A: audit:read, no writes');
SELECT iam_test.act_as('ORG_USER of A');
SELECT results_eq($$SELECT * FROM iam_test.access('audit_events')$$, $$VALUES (0::bigint, 0::bigint, 'refused', 'refused', 'refused')$$, 'ORG_USER of A: nothing');
SELECT iam_test.act_as('READ_ONLY of A');
SELECT results_eq($$SELECT * FROM iam_test.access('audit_events')$$, $$VALUES (0::bigint, 0::bigint, 'refused', 'refused', 'refused')$$, 'READ_ONLY of A: nothing');
SELECT iam_test.act_as('member of B');
SELECT results_eq($$SELECT * FROM iam_test.access('audit_events')$$, $$VALUES (0::bigint, 10::bigint, 'refused', 'refused', 'refused')$$, 'member of B: reads B''s trail only');
SELECT iam_test.act_as('no context');
SELECT results_eq($$SELECT * FROM iam_test.access('audit_events')$$, $$VALUES (0::bigint, 0::bigint, 'refused', 'refused', 'refused')$$, 'no context: nothing');
SELECT iam_test.act_as('removed member of A');
SELECT results_eq($$SELECT * FROM iam_test.access('audit_events')$$, $$VALUES (0::bigint, 0::bigint, 'refused', 'refused', 'refused')$$, 'removed member of A: nothing');
SELECT iam_test.act_as('DBA granted A');
SELECT results_eq($$SELECT * FROM iam_test.access('audit_events')$$, $$VALUES (12::bigint, 0::bigint, 'refused', 'refused', 'refused')$$, 'DBA granted A: reads A''s trail, no writes');
SELECT iam_test.act_as('DBA not granted A');
SELECT results_eq($$SELECT * FROM iam_test.access('audit_events')$$, $$VALUES (0::bigint, 0::bigint, 'refused', 'refused', 'refused')$$, 'DBA not granted A: nothing');
SELECT iam_test.act_as('DBA with no org selected');
SELECT results_eq($$SELECT * FROM iam_test.access('audit_events')$$, $$VALUES (0::bigint, 0::bigint, 'refused', 'refused', 'refused')$$, 'DBA with no org selected: nothing');

SELECT * FROM finish();
ROLLBACK;
