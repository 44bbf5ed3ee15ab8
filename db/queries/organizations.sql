-- name: list_my_organizations
-- The current user's organizations and their role in each, oldest membership first.
SELECT id, name, role FROM iam.list_my_organizations()

-- name: create_organization
-- Creates an organization administered by the current user (an ORG_ADMIN of the current one).
SELECT id, name, role FROM iam.create_organization(%(name)s)

-- name: update_organization
-- Renames the current organization or sets its MFA rule (that one at aal 2 only); no row
-- when it is not the caller's current organization.
SELECT id, name, require_mfa FROM iam.update_organization(%(id)s, %(name)s, %(require_mfa)s)
