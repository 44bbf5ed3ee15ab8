-- name: create_project
-- Creates a project in the current organization, as the current user.
INSERT INTO iam.projects (organization_id, name, description, created_by_user_id)
VALUES (iam.current_org_id(), %(name)s, %(description)s, iam.current_user_id())
RETURNING id, organization_id, name, description, created_by_user_id, created_at, updated_at, version

-- name: list_projects
-- A page of the current organization's projects, newest first, after a keyset position.
SELECT id, organization_id, name, description, created_by_user_id, created_at, updated_at, version
FROM iam.projects
WHERE %(after_time)s::timestamptz IS NULL OR (created_at, id) < (%(after_time)s, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s

-- name: get_project
-- One project of the current organization.
SELECT id, organization_id, name, description, created_by_user_id, created_at, updated_at, version
FROM iam.projects
WHERE id = %(id)s

-- name: update_project
-- Renames or redescribes a project; a NULL name keeps the old one, set_description says
-- whether description is given (it may be set to NULL). With if_versions (If-Match), only a
-- project still at one of those versions changes; no row otherwise.
UPDATE iam.projects
SET name = coalesce(%(name)s, name),
    description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END
WHERE id = %(id)s AND (%(if_versions)s::bigint[] IS NULL OR version = ANY(%(if_versions)s::bigint[]))
RETURNING id, organization_id, name, description, created_by_user_id, created_at, updated_at, version

-- name: delete_project
-- Deletes a project of the current organization (with if_versions: only at those versions).
DELETE FROM iam.projects
WHERE id = %(id)s AND (%(if_versions)s::bigint[] IS NULL OR version = ANY(%(if_versions)s::bigint[]))
RETURNING id
