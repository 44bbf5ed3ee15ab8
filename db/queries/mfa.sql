-- name: enroll_totp
-- A pending TOTP factor for the session's user (its secret encrypted by the API).
SELECT iam.enroll_totp(%(secret_ciphertext)s) AS factor_id

-- name: own_totp
-- The session user's factor in a status (pending or active), its secret still encrypted.
SELECT factor_id, secret_ciphertext, last_used_step FROM iam.own_totp(%(status)s)

-- name: activate_totp
-- Activates the pending factor at a checked step, stores recovery code hashes, and raises
-- this session to aal 2; false when the step was used or the factor replaced meanwhile.
SELECT iam.activate_totp(%(factor_id)s, %(step)s, %(code_hashes)s::bytea[]) AS activated

-- name: remove_totp
-- Removes the session user's factor and recovery codes (needs aal 2); false without one.
SELECT iam.remove_totp() AS removed

-- name: replace_recovery_codes
-- A new set of recovery codes for the session's user (needs aal 2); false without a factor.
SELECT iam.replace_recovery_codes(%(code_hashes)s::bytea[]) AS replaced

-- name: start_mfa_challenge
-- A right password of a user with a factor: a challenge (the mfa_token's hash) instead of a session.
SELECT iam.start_mfa_challenge(%(user_id)s, %(verified_hash)s, %(organization_id)s, %(token_hash)s, %(ttl_seconds)s,
                               %(user_agent)s, %(client_address)s, %(password_rehash)s) AS started

-- name: open_mfa_challenge
-- A challenge that can still be answered, with the factor to check the code against.
SELECT user_id, email, secret_ciphertext, last_used_step
FROM iam.open_mfa_challenge(%(token_hash)s, %(max_failures)s)

-- name: complete_mfa_challenge
-- Answers a challenge with a checked step or a recovery code's hash: a session at aal 2; no
-- row when the challenge, the step or the code is spent.
SELECT session_id, user_id, email, organization_id, organization_name, role, expires_at, amr
FROM iam.complete_mfa_challenge(%(token_hash)s, %(max_failures)s, %(step)s, %(recovery_code_hash)s,
                                %(refresh_token_hash)s, %(ttl_seconds)s, %(user_agent)s, %(client_address)s)

-- name: fail_mfa_challenge
-- Counts a wrong answer on the challenge and records mfa.challenge_failed.
SELECT iam.fail_mfa_challenge(%(token_hash)s)
