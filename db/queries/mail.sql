-- name: queue_mail
-- Queues a message in the current transaction; id NULL when the recipient was sent one of
-- this kind less than min_interval_seconds ago.
SELECT iam.queue_mail(%(kind)s, %(recipient)s, %(subject)s, %(body)s, %(min_interval_seconds)s) AS id

-- name: claim_mail
-- Due messages, claimed for a lease: the delivery loop's own transaction only.
SELECT id, recipient, subject, body, attempts FROM iam.claim_mail(%(limit)s, %(lease_seconds)s)

-- name: mail_sent
-- A claimed message was accepted: its body goes.
SELECT iam.mail_sent(%(id)s)

-- name: mail_failed
-- A failed send: tried again later, or given up (given_up) after the last try.
SELECT iam.mail_failed(%(id)s, %(error)s, %(max_attempts)s, %(retry_seconds)s) AS given_up

-- name: request_password_reset
-- A reset token and its mail for the active account with this email, if any (and if no
-- reset mail went to it less than min_interval_seconds ago); nothing otherwise.
SELECT iam.request_password_reset(%(email)s, %(token_hash)s, %(ttl_seconds)s, %(subject)s, %(body)s,
                                  %(min_interval_seconds)s)

-- name: confirm_password_reset
-- Uses a reset token: the new password, every session ended, password.reset recorded, the
-- owner told; reset false for an unknown, used or expired token.
SELECT iam.confirm_password_reset(%(token_hash)s, %(password_hash)s, %(subject)s, %(body)s) AS reset
