-- name: list_members
-- The current organization's members, oldest first.
SELECT m.user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, m.role, m.created_at AS joined_at,
       m.version
FROM iam.organization_memberships AS m
JOIN iam.users AS u ON u.id = m.user_id
ORDER BY m.created_at, m.user_id

-- name: get_member
-- One member of the current organization.
SELECT m.user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, m.role, m.created_at AS joined_at,
       m.version
FROM iam.organization_memberships AS m
JOIN iam.users AS u ON u.id = m.user_id
WHERE m.user_id = %(user_id)s

-- name: update_member_role
-- Changes a member's role; no row when the user is not a member of the current organization,
-- or (with if_versions, from If-Match) when the membership is at another version.
UPDATE iam.organization_memberships AS m SET role = %(role)s
FROM iam.users AS u
WHERE m.user_id = %(user_id)s AND u.id = m.user_id
  AND (%(if_versions)s::bigint[] IS NULL OR m.version = ANY(%(if_versions)s::bigint[]))
RETURNING m.user_id, u.email, u.email_verified_at IS NOT NULL AS email_verified, m.role, m.created_at AS joined_at,
          m.version

-- name: remove_member
-- Removes a member; no row when the user is not a member of the current organization, or
-- (with if_versions) when the membership is at another version.
DELETE FROM iam.organization_memberships
WHERE user_id = %(user_id)s AND (%(if_versions)s::bigint[] IS NULL OR version = ANY(%(if_versions)s::bigint[]))
RETURNING user_id

-- name: is_member_email
-- Whether someone with this email is already a member of the current organization.
SELECT EXISTS (
    SELECT FROM iam.organization_memberships AS m
    JOIN iam.users AS u ON u.id = m.user_id
    WHERE u.email = %(email)s
) AS is_member
