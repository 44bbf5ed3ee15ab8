-- name: list_my_organizations
-- The current user's organizations and their role in each, oldest membership first.
SELECT id, name, role FROM iam.list_my_organizations()

-- name: create_organization
-- Creates an organization administered by the current user (an ORG_ADMIN of the current one).
SELECT id, name, role FROM iam.create_organization(%(name)s)
