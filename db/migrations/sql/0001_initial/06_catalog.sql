-- The permission catalog. Policies check these permissions, never role names.
INSERT INTO iam.permissions (key, description) VALUES
    ('tenant:read', 'See the organization'),
    ('users:read', 'List members and their roles'),
    ('users:manage', 'Invite, remove and change the role of members'),
    ('roles:read', 'List roles'),
    ('permissions:read', 'List permissions'),
    ('projects:read', 'List and view projects'),
    ('projects:write', 'Create and edit projects'),
    ('projects:delete', 'Delete projects'),
    ('audit:read', 'Read the audit trail');

INSERT INTO iam.roles (key, name, description, rank) VALUES
    ('ORG_ADMIN', 'Organization admin', 'Manages members, invitations and all projects', 1),
    ('ORG_USER', 'Organization user', 'Works on projects and sees other members', 2),
    ('READ_ONLY', 'Read-only', 'Views the organization and its projects', 3);

INSERT INTO iam.role_permissions (role_key, permission_key)
SELECT 'ORG_ADMIN', key FROM iam.permissions
UNION ALL
SELECT role_key, permission_key FROM (VALUES
    ('READ_ONLY', 'tenant:read'), ('READ_ONLY', 'roles:read'), ('READ_ONLY', 'permissions:read'),
    ('READ_ONLY', 'projects:read'),
    ('ORG_USER', 'tenant:read'), ('ORG_USER', 'roles:read'), ('ORG_USER', 'permissions:read'),
    ('ORG_USER', 'projects:read'), ('ORG_USER', 'users:read'), ('ORG_USER', 'projects:write')
) AS grants (role_key, permission_key);
