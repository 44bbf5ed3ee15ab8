-- Second factors: no role reads a TOTP secret (only its ciphertext ever leaves, through the
-- session user's own functions), a recovery code's hash or a login's challenge; a DBA gets
-- nothing. The organization's MFA rule closes its rows to a session at aal 1, in SQL too.
BEGIN;
SELECT plan(14);
SELECT iam_test.seed();

RESET ROLE;
INSERT INTO iam.mfa_factors (user_id, status, secret_ciphertext) VALUES (iam_test.id('admin_a'), 'active', '\x01aa');
INSERT INTO iam.mfa_recovery_codes (user_id, code_hash) VALUES (iam_test.id('admin_a'), sha256('r'));
INSERT INTO iam.mfa_challenges (token_hash, user_id, organization_id, expires_at)
VALUES ('\x0c', iam_test.id('admin_a'), iam_test.id('org A'), now() + interval '5 minutes');

SELECT iam_test.act_as('ORG_ADMIN of A');
SELECT throws_ok($$SELECT secret_ciphertext FROM iam.mfa_factors$$, '42501', NULL, 'a tenant context reads no TOTP secret');
SELECT throws_ok($$SELECT code_hash FROM iam.mfa_recovery_codes$$, '42501', NULL, 'nor a recovery code hash');
SELECT throws_ok($$SELECT token_hash FROM iam.mfa_challenges$$, '42501', NULL, 'nor a login challenge');
SELECT is((SELECT count(*) FROM iam.own_totp('active')), 1::bigint, 'the user reaches their own factor through its function');

SELECT iam_test.act_as('ORG_USER of A');
SELECT is_empty($$SELECT * FROM iam.own_totp('active')$$, 'and nobody else''s');

SELECT iam_test.act_as('DBA granted A');
SELECT throws_ok($$SELECT secret_ciphertext FROM iam.mfa_factors$$, '42501', NULL, 'a DBA reads no TOTP secret');
SELECT throws_ok($$SELECT code_hash FROM iam.mfa_recovery_codes$$, '42501', NULL, 'nor a recovery code hash');
SELECT throws_ok($$SELECT token_hash FROM iam.mfa_challenges$$, '42501', NULL, 'nor a login challenge');
SELECT throws_ok($$SELECT * FROM iam.own_totp('active')$$, '42501', NULL, 'nor calls the factor functions');
SELECT throws_ok($$SELECT * FROM iam.open_mfa_challenge('\x0c', 5)$$, '42501', NULL, 'nor opens a challenge');

-- The rule: org A requires MFA; the ORG_USER's session is at aal 1, the admin's raised to 2.
RESET ROLE;
UPDATE iam.organizations SET require_mfa = true WHERE id = iam_test.id('org A');
UPDATE iam.sessions SET aal = 2 WHERE id = iam_test.id('session admin_a');
SELECT iam_test.act_as('ORG_USER of A');
SELECT is((SELECT count(*) FROM iam.projects), 0::bigint, 'a session at aal 1 sees none of the organization''s rows, even with app.org_id set');
SELECT iam_test.act_as('ORG_ADMIN of A');
SELECT is((SELECT count(*) FROM iam.projects), 2::bigint, 'a session at aal 2 sees them');
SELECT iam_test.act_as('no context');
SELECT is((SELECT mfa_required FROM iam.enter_context(iam_test.id('user_a'), iam_test.id('org A'), iam_test.id('session user_a'), 't')),
    true, 'the context round trip says the rule refuses the aal-1 session');
SELECT is(current_setting('app.org_id'), '', 'and leaves app.org_id empty');

SELECT * FROM finish();
ROLLBACK;
