-- name: register_user
-- Creates a user, an organization and the user's ORG_ADMIN membership in it.
SELECT user_id, organization_id, organization_name, role
FROM iam.register_user(%(email)s, %(password_hash)s, %(organization_name)s)

-- name: register_invited_user
-- Creates a user who joins the organization of a pending invitation addressed to them.
SELECT user_id, organization_id, organization_name, role
FROM iam.register_invited_user(%(email)s, %(password_hash)s, %(token_hash)s)

-- name: find_login
-- The account behind an email, with its earliest organization, for password login.
SELECT user_id, password_hash, is_active, default_organization_id
FROM iam.find_login(%(email)s)

-- name: update_own_password_hash
-- Stores a rehash of the current user's password (parameters changed since it was set).
UPDATE iam.users SET password_hash = %(password_hash)s WHERE id = iam.current_user_id()
