-- DBAs under RLS: the grant is the boundary, not the setting any role can change.
BEGIN;
SELECT plan(17);
SELECT iam_test.seed();

SELECT throws_ok(
    $$SELECT iam.grant_tenant_access('iam_api', iam_test.id('org B'))$$,
    'P0001', 'role iam_api is not a member of iam_dba',
    'grant_tenant_access refuses roles outside iam_dba'
);

SELECT iam_test.act_as('DBA granted A');
SELECT results_eq(
    $$SELECT email FROM iam.users ORDER BY email$$,
    $$VALUES ('admin_a@example.com'), ('reader_a@example.com'), ('user_a@example.com')$$,
    'a granted DBA sees the accounts of the selected organization''s members only'
);
SELECT is_empty(
    $$UPDATE iam.projects SET name = 'taken over' WHERE organization_id = iam_test.id('org B') RETURNING id$$,
    'updating another tenant''s projects touches nothing'
);
SELECT is_empty(
    $$DELETE FROM iam.organization_memberships WHERE organization_id = iam_test.id('org B') RETURNING user_id$$,
    'deleting another tenant''s members touches nothing'
);
SELECT throws_ok(
    $$INSERT INTO iam.projects (organization_id, name) VALUES (iam_test.id('org B'), 'planted')$$,
    '42501', NULL,
    'inserting into another tenant is refused'
);
SELECT throws_ok(
    $$UPDATE iam.projects SET organization_id = iam_test.id('org B') WHERE organization_id = iam_test.id('org A')$$,
    '42501', NULL,
    'moving a row into another tenant is refused'
);
SELECT throws_ok($$SELECT password_hash FROM iam.users$$, '42501', NULL, 'password hashes stay unreadable');
SELECT throws_ok(
    $$INSERT INTO iam.dba_tenant_grants (organization_id, db_role) VALUES (iam_test.id('org B'), current_user)$$,
    '42501', NULL,
    'a DBA cannot grant itself another tenant'
);
SELECT throws_ok($$SELECT * FROM iam.find_login('admin_b@example.com')$$, '42501', NULL, 'a DBA cannot call the API''s functions');

-- The API's policy helpers would answer for any context a DBA sets by hand.
SELECT set_config('app.user_id', iam_test.id('admin_b')::text, true);
SELECT set_config('app.org_id', iam_test.id('org B')::text, true);
SELECT throws_ok($$SELECT iam.caller_has_permission('users:manage')$$, '42501', NULL,
    'a DBA cannot ask whether any user holds a permission anywhere');
SELECT throws_ok($$SELECT iam.current_user_id()$$, '42501', NULL, 'a DBA cannot call the API''s user helper');
SELECT throws_ok($$SELECT * FROM iam.enter_context(iam_test.id('admin_b'), iam_test.id('org B'), gen_random_uuid(), 'x')$$,
    '42501', NULL, 'a DBA cannot open an API context');
SELECT set_config('app.org_id', iam_test.id('org A')::text, true);

-- Adding someone to a granted organization would make their account readable.
SELECT throws_ok(
    format($$INSERT INTO iam.organization_memberships (organization_id, user_id, role) VALUES (%L, %L, 'READ_ONLY')$$,
           iam_test.id('org A'), iam_test.id('outsider')),
    '42501', NULL,
    'a DBA cannot add a member, even to a granted organization'
);
SELECT throws_ok(
    format($$INSERT INTO iam.projects (organization_id, name, created_by_user_id) VALUES (%L, 'probe', %L)$$,
           iam_test.id('org A'), iam_test.id('outsider')),
    '42501', NULL,
    'a DBA cannot credit a project to a non-member (the foreign key would confirm the user exists)'
);
SELECT lives_ok(
    format($$INSERT INTO iam.projects (organization_id, name, created_by_user_id) VALUES (%L, 'by DBA', %L)$$,
           iam_test.id('org A'), iam_test.id('user_a')),
    'a DBA may credit a project to a member of the granted organization'
);

-- Selecting B by hand changes nothing: B was never granted.
SELECT set_config('app.org_id', iam_test.id('org B')::text, true);
SELECT is_empty($$SELECT id FROM iam.projects$$, 'selecting an ungranted organization shows nothing');

-- Revoked by the owner, the grant is gone at once.
RESET ROLE;
SELECT iam.revoke_tenant_access('iam_test_dba_granted', iam_test.id('org A'));
SELECT iam_test.act_as('DBA granted A');
SELECT is_empty($$SELECT id FROM iam.projects$$, 'after revoke_tenant_access the DBA sees nothing');

SELECT * FROM finish();
ROLLBACK;
