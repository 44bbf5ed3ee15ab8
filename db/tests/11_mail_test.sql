-- Mail waiting in the outbox holds secrets (links with tokens): nobody reads it but the
-- delivery loop, outside any signed-in context; reset tokens and pending registrations (with
-- their password hashes) are reachable through functions only. DBAs get nothing.
BEGIN;
SELECT plan(15);
SELECT iam_test.seed();

RESET ROLE;
SELECT isnt(iam.queue_mail('password_reset', 'someone@example.com', 'Reset', 'https://app/reset-password?token=SECRET', 0),
    NULL, 'a message is queued');
SELECT is(iam.queue_mail('password_reset', 'someone@example.com', 'Reset', 'again', 60), NULL,
    'the same kind to the same address within the interval is not queued');

SELECT iam_test.act_as('ORG_ADMIN of A');
SELECT throws_ok($$SELECT body FROM iam.outbox_messages$$, '42501', NULL, 'a tenant context reads no mail');
SELECT throws_ok($$SELECT * FROM iam.claim_mail(10, 60)$$, '42501', NULL,
    'a signed-in context cannot claim mail (and so read it)');
SELECT throws_ok($$SELECT token_hash FROM iam.password_reset_tokens$$, '42501', NULL, 'a tenant context reads no reset token');
SELECT throws_ok($$SELECT password_hash FROM iam.email_verifications$$, '42501', NULL,
    'a tenant context reads no pending registration (nor its password hash)');

SELECT iam_test.act_as('no context');
SELECT results_eq($$SELECT body FROM iam.claim_mail(10, 60)$$,
    ARRAY['https://app/reset-password?token=SECRET'], 'the delivery loop (no context) claims the due message');
SELECT is_empty($$SELECT id FROM iam.claim_mail(10, 60)$$, 'a claimed message is leased: nobody claims it twice');

SELECT iam_test.act_as('DBA granted A');
SELECT throws_ok($$SELECT body FROM iam.outbox_messages$$, '42501', NULL, 'a DBA reads no mail');
SELECT throws_ok($$SELECT * FROM iam.claim_mail(10, 60)$$, '42501', NULL, 'a DBA cannot claim mail');
SELECT throws_ok($$SELECT iam.queue_mail('invitation', 'x@example.com', 's', 'b', 0)$$, '42501', NULL,
    'a DBA cannot send mail');
SELECT throws_ok($$SELECT token_hash FROM iam.password_reset_tokens$$, '42501', NULL, 'a DBA reads no reset token');
SELECT throws_ok($$SELECT password_hash FROM iam.email_verifications$$, '42501', NULL, 'a DBA reads no pending registration');
SELECT throws_ok($$SELECT * FROM iam.verify_email('\x01', '\x02', 60, NULL, NULL)$$, '42501', NULL,
    'a DBA cannot use verification links');

RESET ROLE;
SELECT iam.mail_sent(id) FROM iam.outbox_messages;
SELECT is((SELECT count(*) FROM iam.outbox_messages WHERE body IS NOT NULL), 0::bigint,
    'a delivered message keeps no body');

SELECT * FROM finish();
ROLLBACK;
