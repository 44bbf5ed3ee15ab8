-- name: create_invitation
-- Invites an email into the current organization with a role; the database revokes an
-- earlier pending invitation to the same email (iam.supersede_pending_invitations).
INSERT INTO iam.invitations (organization_id, email, role, token_hash, invited_by_user_id, expires_at)
VALUES (iam.current_org_id(), %(email)s, %(role)s, %(token_hash)s, iam.current_user_id(),
        now() + make_interval(secs => %(ttl_seconds)s))
RETURNING id, email, role, expires_at

-- name: get_pending_invitation
-- A pending invitation of the current organization, to mail it again.
SELECT email, role FROM iam.invitations
WHERE id = %(id)s AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()

-- name: list_pending_invitations
-- The current organization's invitations that can still be accepted, newest first.
SELECT id, email, role, invited_by_user_id, created_at, expires_at
FROM iam.invitations
WHERE accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
ORDER BY created_at DESC, id DESC

-- name: revoke_invitation
-- Revokes a pending invitation; no row when there is none with this id in the organization.
UPDATE iam.invitations SET revoked_at = now()
WHERE id = %(id)s AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
RETURNING id

-- name: accept_invitation
-- Makes the current user a member of the organization that invited their email.
SELECT organization_id, organization_name, role FROM iam.accept_invitation(%(token_hash)s)

-- name: list_my_invitations
-- Pending invitations addressed to the signed-in user's email, in any organization, newest first.
SELECT id, organization_id, organization_name, role, created_at, expires_at FROM iam.list_my_invitations()
