-- iam_api keeps only what a query in db/queries uses; tests/integration/test_database_boundary.py
-- lists every table privilege and policy it holds, so a new one is a conscious change.

-- Members join through invitations only (iam.consume_invitation, as the owner). An ORG_ADMIN
-- context could otherwise add any user of the installation as a member, and then read them.
DROP POLICY memberships_api_insert ON iam.organization_memberships;
REVOKE INSERT ON iam.organization_memberships FROM iam_api;

-- Passwords change through iam.change_own_password (the current password checked first,
-- other sessions ended, audited) and rehashes through iam.sign_in (compare-and-swap). A
-- context could otherwise overwrite its own hash with none of that.
DROP POLICY users_api_update_self ON iam.users;
REVOKE UPDATE (password_hash) ON iam.users FROM iam_api;

-- No query reads organizations directly: a caller's organization comes from enter_context,
-- their list from list_my_organizations, both as the owner.
DROP POLICY organizations_api_select ON iam.organizations;
REVOKE SELECT ON iam.organizations FROM iam_api;
