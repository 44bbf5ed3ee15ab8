-- name: register_user
-- EMAIL_VERIFICATION=optional: an unverified user, an organization, the user's ORG_ADMIN
-- membership in it, a session, and the verification link queued.
SELECT session_id, user_id, email, organization_id, organization_name, role, expires_at
FROM iam.register_user(%(email)s, %(password_hash)s, %(organization_name)s, %(refresh_token_hash)s,
                       %(ttl_seconds)s, %(user_agent)s, %(client_address)s, %(verify_token_hash)s,
                       %(verify_ttl_seconds)s, %(verify_subject)s, %(verify_body)s)

-- name: request_registration
-- EMAIL_VERIFICATION=required: a verification link for a new address (the registration
-- waits for it), or a notice with a reset link for an address that has an account.
SELECT iam.request_registration(%(email)s, %(password_hash)s, %(organization_name)s, %(verify_token_hash)s,
                                %(verify_ttl_seconds)s, %(verify_subject)s, %(verify_body)s, %(reset_token_hash)s,
                                %(reset_ttl_seconds)s, %(notice_subject)s, %(notice_body)s,
                                %(min_interval_seconds)s)

-- name: verify_email
-- Uses a verification link: registered (with the new session), verified, taken or invalid.
SELECT outcome, session_id, user_id, email, organization_id, organization_name, role, expires_at
FROM iam.verify_email(%(token_hash)s, %(refresh_token_hash)s, %(ttl_seconds)s, %(user_agent)s, %(client_address)s)

-- name: send_email_verification
-- A new verification link for the signed-in user: sent, verified (nothing to do) or limited.
SELECT iam.send_email_verification(%(token_hash)s, %(ttl_seconds)s, %(subject)s, %(body)s,
                                   %(min_interval_seconds)s) AS outcome


-- name: register_invited_user
-- Creates a user who joins the organization of a pending invitation addressed to them, and a session.
SELECT session_id, user_id, email, organization_id, organization_name, role, expires_at
FROM iam.register_invited_user(%(email)s, %(password_hash)s, %(token_hash)s, %(refresh_token_hash)s,
                               %(ttl_seconds)s, %(user_agent)s, %(client_address)s)

-- name: find_login
-- The account behind an email, with its earliest organization and whether it has a second
-- factor, for password checks.
SELECT user_id, password_hash, is_active, default_organization_id, mfa_enrolled
FROM iam.find_login(%(email)s)

-- name: reserve_login_attempt
-- Counts a password check for the (email, address) pair, the address and the email before
-- it runs; refused (with the seconds to wait) when the pair or the address is over its
-- limit, or the email's slowed-down turn is too far away. delay_seconds: the turn's wait.
SELECT allowed, retry_after_seconds, delay_seconds, first_refusal
FROM iam.reserve_login_attempt(%(pair_key)s, %(address_key)s, %(email_key)s, %(max_pair)s, %(max_address)s,
                               %(window_seconds)s, %(email_free)s, %(email_max_spacing)s, %(max_wait)s)

-- name: release_login_attempt
-- Gives back a reserved check: the password was right (signed_in), or it never ran.
SELECT iam.release_login_attempt(%(pair_key)s, %(address_key)s, %(email_key)s, %(signed_in)s)

-- name: take_quota
-- Counts one use of a quota (registrations or reset requests from a client address);
-- refused (with the seconds to wait) at the limit.
SELECT allowed, retry_after_seconds FROM iam.take_quota(%(key)s, %(max)s, %(window_seconds)s)

-- name: record_login
-- Records login.failed or login.throttled in the targeted organization (when the user is a member there).
SELECT iam.record_login(%(user_id)s, %(organization_id)s, %(outcome)s)

-- name: sign_in
-- A verified password login: a new session, login.succeeded, and a rehash when one is due;
-- no row when the verified hash is no longer the account's (changed meanwhile), it is inactive,
-- or it has a second factor (then start_mfa_challenge).
SELECT session_id, user_id, email, organization_id, organization_name, role, expires_at
FROM iam.sign_in(%(user_id)s, %(verified_hash)s, %(organization_id)s, %(refresh_token_hash)s, %(ttl_seconds)s,
                 %(user_agent)s, %(client_address)s, %(password_rehash)s)

-- name: switch_organization
-- A new session (and first refresh token) of the signed-in user in another organization of
-- theirs, at the assurance of the current one.
SELECT session_id, user_id, email, organization_id, organization_name, role, expires_at
FROM iam.switch_organization(%(organization_id)s, %(refresh_token_hash)s, %(ttl_seconds)s,
                             %(user_agent)s, %(client_address)s)

-- name: refresh_session
-- Rotates a refresh token: rotated; retried (the previous token again within the grace
-- period: its unused successor is replaced); unknown; ended; or reused (revokes the session).
-- The session keeps its assurance (aal, amr).
SELECT outcome, session_id, user_id, email, organization_id, organization_name, role, expires_at, aal, amr
FROM iam.refresh_session(%(token_hash)s, %(new_token_hash)s, %(grace_seconds)s)

-- name: change_own_password
-- Stores the current user's new password hash and ends their other sessions.
SELECT iam.change_own_password(%(password_hash)s)
