-- name: list_my_sessions
-- A page of the current user's live sessions across organizations, newest first, after a keyset position.
SELECT s.id,
       s.organization_id,
       o.name AS organization_name,
       s.created_at,
       s.last_used_at,
       s.expires_at,
       s.aal,
       s.amr,
       s.user_agent,
       host(s.client_address) AS client_address,
       s.id = iam.current_session_id() AS current
FROM iam.sessions AS s
LEFT JOIN iam.list_my_organizations() AS o ON o.id = s.organization_id
WHERE s.revoked_at IS NULL AND s.expires_at > now()
  AND (%(after_time)s::timestamptz IS NULL OR (s.created_at, s.id) < (%(after_time)s, %(after_id)s::uuid))
ORDER BY s.created_at DESC, s.id DESC
LIMIT %(limit)s

-- name: revoke_my_session
-- Ends one of the current user's live sessions; no row when they have none with this id.
UPDATE iam.sessions SET revoked_at = now(), revoked_reason = 'logout'
WHERE id = %(id)s AND revoked_at IS NULL AND expires_at > now()
RETURNING id
