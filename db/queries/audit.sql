-- name: list_audit_events
-- A page of the current organization's audit trail, newest first, optionally filtered.
SELECT id, organization_id, occurred_at, actor_user_id, actor_api_key_id, actor_api_key_created_by_user_id,
       actor_db_role, action, resource_type,
       resource_id, old_values, new_values, request_id, anonymous
FROM iam.audit_events
WHERE (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(resource_id)s::uuid IS NULL OR resource_id = %(resource_id)s)
  AND (%(after_time)s::timestamptz IS NULL OR (occurred_at, id) < (%(after_time)s, %(after_id)s::uuid))
ORDER BY occurred_at DESC, id DESC
LIMIT %(limit)s
