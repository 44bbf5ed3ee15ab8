-- name: list_roles
-- Every role with the permissions it grants.
SELECT r.key, r.name, r.description,
       ARRAY(
           SELECT rp.permission_key FROM iam.role_permissions AS rp
           WHERE rp.role_key = r.key ORDER BY rp.permission_key
       ) AS permissions
FROM iam.roles AS r
ORDER BY r.rank

-- name: list_permissions
-- Every permission of the catalog.
SELECT key, description FROM iam.permissions ORDER BY key
