-- API keys: no role reads a key's hash; an admin lists and changes their organization's
-- keys; a granted DBA lists and revokes them and creates none; a key's context sees its own
-- organization with its role, and only the right hash opens it.
BEGIN;
SELECT plan(20);
SELECT iam_test.seed();

RESET ROLE;
INSERT INTO iam.api_keys (organization_id, lookup_id, key_hash, name, role, created_by_user_id)
VALUES (iam_test.id('org A'), 'AAAAAAAAAAAA', sha256('key a'), 'job a', 'ORG_USER', iam_test.id('admin_a')),
       (iam_test.id('org B'), 'BBBBBBBBBBBB', sha256('key b'), 'job b', 'ORG_ADMIN', iam_test.id('admin_b'));

SELECT iam_test.act_as('ORG_ADMIN of A');
SELECT throws_ok($$SELECT key_hash FROM iam.api_keys$$, '42501', NULL, 'an admin reads no key hash');
SELECT results_eq($$SELECT name FROM iam.api_keys$$, ARRAY['job a'], 'an admin lists their organization''s keys only');
SELECT is(iam_test.attempt($$UPDATE iam.api_keys SET role = 'READ_ONLY'$$), '1', 'an admin changes a key''s role');
SELECT is(iam_test.attempt(format(
    $$INSERT INTO iam.api_keys (organization_id, lookup_id, key_hash, name, role, created_by_user_id)
      VALUES (%L, 'CCCCCCCCCCCC', sha256('c'), 'c', 'READ_ONLY', %L)$$, iam_test.id('org A'), iam_test.id('user_a'))),
    'refused', 'an admin cannot make a key in someone else''s name');

SELECT iam_test.act_as('ORG_USER of A');
SELECT is_empty($$SELECT id FROM iam.api_keys$$, 'without api_keys:manage a member sees no key');
SELECT is(iam_test.attempt($$UPDATE iam.api_keys SET revoked_at = now()$$), '0', 'nor revokes one');

SELECT iam_test.act_as('DBA granted A');
SELECT throws_ok($$SELECT key_hash FROM iam.api_keys$$, '42501', NULL, 'a DBA reads no key hash');
SELECT results_eq($$SELECT name FROM iam.api_keys$$, ARRAY['job a'], 'a granted DBA lists the granted organization''s keys');
SELECT is(iam_test.attempt($$UPDATE iam.api_keys SET revoked_at = now()$$), '1', 'a granted DBA revokes them');
SELECT is(iam_test.attempt($$UPDATE iam.api_keys SET role = 'ORG_ADMIN'$$), 'refused', 'a DBA changes nothing else');
SELECT is(iam_test.attempt(format(
    $$INSERT INTO iam.api_keys (organization_id, lookup_id, key_hash, name, role) VALUES (%L, 'DDDDDDDDDDDD', sha256('d'), 'd', 'ORG_ADMIN')$$,
    iam_test.id('org A'))), 'refused', 'a DBA creates no key');
SELECT throws_ok($$SELECT * FROM iam.enter_api_key_context('AAAAAAAAAAAA', sha256('key a'), '\x00', 100, 'dba')$$,
    '42501', NULL, 'a DBA cannot enter a key''s context');

SELECT iam_test.act_as('DBA not granted A');
SELECT is_empty($$SELECT id FROM iam.api_keys$$, 'a DBA not granted the organization sees no key');

SELECT iam_test.act_as('no context');
SELECT is((SELECT outcome FROM iam.enter_api_key_context('AAAAAAAAAAAA', sha256('wrong'), '\x00', 100, 't')), 'unknown',
    'a wrong secret opens nothing');
SELECT is((SELECT count(*) FROM iam.projects), 0::bigint, 'and its context sees no project');
SELECT results_eq(
    $$SELECT outcome, role FROM iam.enter_api_key_context('AAAAAAAAAAAA', sha256('key a'), '\x00', 100, 't')$$,
    $$VALUES ('ok', 'ORG_USER')$$, 'the right key opens its organization with its role');
SELECT results_eq($$SELECT name FROM iam.projects ORDER BY name$$, ARRAY['A1', 'A2'],
    'a key sees its own organization''s projects only');
SELECT is(iam_test.attempt($$INSERT INTO iam.projects (organization_id, name) VALUES (iam.current_org_id(), 'by key')$$),
    '1', 'an ORG_USER key creates a project');
SELECT is(iam_test.attempt($$DELETE FROM iam.projects$$), '0', 'an ORG_USER key deletes none');
SELECT is(iam_test.attempt(format(
    $$INSERT INTO iam.api_keys (organization_id, lookup_id, key_hash, name, role) VALUES (%L, 'EEEEEEEEEEEE', sha256('e'), 'e', 'READ_ONLY')$$,
    iam_test.id('org A'))), 'refused', 'a key creates no key');

SELECT * FROM finish();
ROLLBACK;
