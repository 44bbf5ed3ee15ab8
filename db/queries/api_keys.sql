-- name: create_api_key
-- A key of the current organization, made by the signed-in person; the policy refuses a key
-- caller, and a role with a permission the caller lacks. `prefix` is api/auth/api_keys.py's.
INSERT INTO iam.api_keys (organization_id, lookup_id, key_hash, name, role, created_by_user_id, expires_at)
VALUES (iam.current_org_id(), %(lookup_id)s, %(key_hash)s, %(name)s, %(role)s, iam.current_user_id(), %(expires_at)s)
RETURNING id, name, role, 'tiam_' || lookup_id AS prefix, created_by_user_id, created_at, expires_at, last_used_at

-- name: list_api_keys
-- A page of the current organization's keys that are not revoked (expired ones included,
-- with their expires_at), newest first.
SELECT id, name, role, 'tiam_' || lookup_id AS prefix, created_by_user_id, created_at, expires_at, last_used_at
FROM iam.api_keys
WHERE revoked_at IS NULL
  AND (%(after_time)s::timestamptz IS NULL OR (created_at, id) < (%(after_time)s, %(after_id)s::uuid))
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s

-- name: get_api_key
-- One key of the current organization that is not revoked.
SELECT id, name, role, 'tiam_' || lookup_id AS prefix, created_by_user_id, created_at, expires_at, last_used_at
FROM iam.api_keys
WHERE id = %(id)s AND revoked_at IS NULL

-- name: update_api_key
-- Renames a key or changes its role (null: unchanged); the next request with it has the new role.
UPDATE iam.api_keys
SET name = coalesce(%(name)s, name), role = coalesce(%(role)s, role)
WHERE id = %(id)s AND revoked_at IS NULL
RETURNING id, name, role, 'tiam_' || lookup_id AS prefix, created_by_user_id, created_at, expires_at, last_used_at

-- name: revoke_api_key
-- Revokes a key: the next request with it is refused.
UPDATE iam.api_keys SET revoked_at = now()
WHERE id = %(id)s AND revoked_at IS NULL
RETURNING id
