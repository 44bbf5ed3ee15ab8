-- Undoes 0011: no mail outbox, no password reset.
DROP FUNCTION iam.confirm_password_reset(bytea, text, text, text);
DROP FUNCTION iam.request_password_reset(text, bytea, integer, text, text, integer);
DROP TABLE iam.password_reset_tokens;
UPDATE iam.sessions SET revoked_reason = 'password_change' WHERE revoked_reason = 'password_reset';
ALTER TABLE iam.sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE iam.sessions ADD CONSTRAINT sessions_revoked_reason_check CHECK (revoked_reason IN (
    'logout', 'password_change', 'reuse', 'admin_removal', 'deactivated', 'session_limit'
));
DROP FUNCTION iam.mail_failed(uuid, text, integer, integer);
DROP FUNCTION iam.mail_sent(uuid);
DROP FUNCTION iam.claim_mail(integer, integer);
DROP FUNCTION iam.queue_mail(text, text, text, text, integer);
DROP TABLE iam.outbox_messages;
