-- Undoes 0006: no row versions.
DROP TRIGGER organization_memberships_bump_version ON iam.organization_memberships;
DROP TRIGGER projects_bump_version ON iam.projects;
ALTER TABLE iam.organization_memberships DROP COLUMN version;
ALTER TABLE iam.projects DROP COLUMN version;
DROP FUNCTION iam.bump_version();
