-- Helpers for the pgTAP policy suite, installed into schema iam_test of a test database
-- (never into a real one). Run once before pg_prove, as a superuser:
--   psql -v ON_ERROR_STOP=1 -d iam_test_db -f db/tests/setup.sql
--   pg_prove -d iam_test_db db/tests/*_test.sql
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE SCHEMA IF NOT EXISTS iam_test;
GRANT USAGE ON SCHEMA iam_test TO PUBLIC;

-- Two DBA roles (cluster-wide, so created only when missing): one that the seed grants
-- organization A, one that it never grants anything.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'iam_test_dba_granted') THEN
        CREATE ROLE iam_test_dba_granted NOLOGIN IN ROLE iam_dba;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'iam_test_dba_ungranted') THEN
        CREATE ROLE iam_test_dba_ungranted NOLOGIN IN ROLE iam_dba;
    END IF;
END
$$;

-- iam_test.seed(): two tenants, made inside the calling test's transaction.
--   org A: admin_a (ORG_ADMIN), user_a (ORG_USER), reader_a (READ_ONLY), removed_a (a
--          former member), 2 projects, 1 pending invitation, and the audit events of all that
--   org B: admin_b (ORG_ADMIN), user_b (ORG_USER), 3 projects, 2 pending invitations
--   outsider: a user with no membership at all
--   a live session for each member (labels 'session admin_a', ...): policies that grant
--   anything want one behind the user of the context
--   iam_test_dba_granted is granted org A.
-- Example: SELECT iam_test.seed();
CREATE OR REPLACE FUNCTION iam_test.seed() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    org_a uuid;
    org_b uuid;
BEGIN
    CREATE TEMP TABLE iam_test_ids (label text PRIMARY KEY, id uuid NOT NULL) ON COMMIT DROP;
    GRANT SELECT ON iam_test_ids TO PUBLIC;

    INSERT INTO iam.organizations (name) VALUES ('A') RETURNING id INTO org_a;
    INSERT INTO iam.organizations (name) VALUES ('B') RETURNING id INTO org_b;
    INSERT INTO iam_test_ids VALUES ('org A', org_a), ('org B', org_b);

    WITH people (label, email) AS (VALUES
        ('admin_a', 'admin_a@example.com'), ('user_a', 'user_a@example.com'),
        ('reader_a', 'reader_a@example.com'), ('removed_a', 'removed_a@example.com'),
        ('admin_b', 'admin_b@example.com'), ('user_b', 'user_b@example.com'),
        ('outsider', 'outsider@example.com')
    ), created AS (
        INSERT INTO iam.users (email, password_hash) SELECT email, 'not-a-hash' FROM people RETURNING id, email
    )
    INSERT INTO iam_test_ids SELECT people.label, created.id FROM people JOIN created USING (email);

    INSERT INTO iam.organization_memberships (organization_id, user_id, role)
    SELECT CASE WHEN m.label LIKE '%_a' THEN org_a ELSE org_b END, iam_test.id(m.label), m.role
    FROM (VALUES ('admin_a', 'ORG_ADMIN'), ('user_a', 'ORG_USER'), ('reader_a', 'READ_ONLY'),
                 ('removed_a', 'ORG_USER'), ('admin_b', 'ORG_ADMIN'), ('user_b', 'ORG_USER')) AS m (label, role);
    DELETE FROM iam.organization_memberships WHERE user_id = iam_test.id('removed_a');

    INSERT INTO iam.projects (organization_id, name, created_by_user_id)
    VALUES (org_a, 'A1', iam_test.id('admin_a')), (org_a, 'A2', iam_test.id('user_a')),
           (org_b, 'B1', iam_test.id('admin_b')), (org_b, 'B2', iam_test.id('admin_b')),
           (org_b, 'B3', iam_test.id('user_b'));

    INSERT INTO iam.invitations (organization_id, email, role, token_hash, invited_by_user_id, expires_at)
    VALUES (org_a, 'invitee_a@example.com', 'ORG_USER', '\x0a', iam_test.id('admin_a'), now() + interval '7 days'),
           (org_b, 'invitee_b1@example.com', 'ORG_USER', '\x0b01', iam_test.id('admin_b'), now() + interval '7 days'),
           (org_b, 'invitee_b2@example.com', 'READ_ONLY', '\x0b02', iam_test.id('admin_b'), now() + interval '7 days');

    INSERT INTO iam_test_ids
    SELECT 'session ' || m.label,
           (SELECT s.session_id FROM iam.start_session(iam_test.id(m.label), iam_test.id(m.org), sha256(convert_to(m.label, 'UTF8')), 3600, NULL, NULL) AS s)
    FROM (VALUES ('admin_a', 'org A'), ('user_a', 'org A'), ('reader_a', 'org A'),
                 ('admin_b', 'org B'), ('user_b', 'org B')) AS m (label, org);

    PERFORM iam.grant_tenant_access('iam_test_dba_granted', org_a);
END
$$;

-- iam_test.id(label): the id of a seeded organization or user.
-- Example: SELECT iam_test.id('org A');
-- (plpgsql: the temporary table it reads exists only once a test has seeded.)
CREATE OR REPLACE FUNCTION iam_test.id(p_label text) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT id FROM iam_test_ids WHERE label = p_label);
END
$$;

-- iam_test.act_as(identity): becomes one of the identities of the matrix for the rest of
-- the transaction (or until the next act_as):
--   'ORG_ADMIN of A', 'ORG_USER of A', 'READ_ONLY of A'   iam_api in org A, as that member
--   'member of B'                                         iam_api in org B, as admin_b
--   'no context'                                          iam_api with no app.* settings
--   'removed member of A'                                 iam_api in org A, as removed_a
--   'DBA granted A', 'DBA not granted A'                  a DBA role with org A selected
--   'DBA with no org selected'                            the granted DBA role, nothing selected
-- Example: SELECT iam_test.act_as('READ_ONLY of A');
CREATE OR REPLACE FUNCTION iam_test.act_as(p_identity text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    db_role text;
    user_label text;
    org_label text;
BEGIN
    SELECT i.db_role, i.user_label, i.org_label INTO STRICT db_role, user_label, org_label
    FROM (VALUES
        ('ORG_ADMIN of A', 'iam_api', 'admin_a', 'org A'),
        ('ORG_USER of A', 'iam_api', 'user_a', 'org A'),
        ('READ_ONLY of A', 'iam_api', 'reader_a', 'org A'),
        ('member of B', 'iam_api', 'admin_b', 'org B'),
        ('no context', 'iam_api', NULL, NULL),
        ('removed member of A', 'iam_api', 'removed_a', 'org A'),
        ('DBA granted A', 'iam_test_dba_granted', NULL, 'org A'),
        ('DBA not granted A', 'iam_test_dba_ungranted', NULL, 'org A'),
        ('DBA with no org selected', 'iam_test_dba_granted', NULL, NULL)
    ) AS i (identity, db_role, user_label, org_label)
    WHERE i.identity = p_identity;

    RESET ROLE;
    PERFORM set_config('app.user_id', coalesce(iam_test.id(user_label)::text, ''), true);
    PERFORM set_config('app.org_id', coalesce(iam_test.id(org_label)::text, ''), true);
    -- The member's live session (the removed member has none left).
    PERFORM set_config('app.session_id', coalesce(iam_test.id('session ' || user_label)::text, ''), true);
    PERFORM set_config('role', db_role, true);
END
$$;

-- iam_test.attempt(statement): runs a write as the current identity and always undoes it;
-- answers the number of rows it touched, or 'refused' when PostgreSQL refused it (42501:
-- no privilege, or a row-security WITH CHECK). Rows a policy silently filters count as 0.
-- Example: SELECT iam_test.attempt('DELETE FROM iam.projects');
CREATE OR REPLACE FUNCTION iam_test.attempt(p_statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    affected bigint;
BEGIN
    BEGIN
        EXECUTE p_statement;
        GET DIAGNOSTICS affected = ROW_COUNT;
        RAISE EXCEPTION 'iam_test.attempt: undo' USING ERRCODE = 'IT000';
    EXCEPTION
        WHEN insufficient_privilege THEN
            RETURN 'refused';
        WHEN SQLSTATE 'IT000' THEN
            RETURN affected::text;
    END;
END
$$;

-- iam_test.access(table): what the current identity can do to a tenant table, as
-- (rows of org A it sees, rows of other organizations it sees, and the outcome of an
-- insert into A, an update of A's rows and a delete of A's rows).
-- Example: SELECT * FROM iam_test.access('projects');
CREATE OR REPLACE FUNCTION iam_test.access(p_table text)
RETURNS TABLE (sees_a bigint, sees_others bigint, insert_into_a text, update_a text, delete_a text)
LANGUAGE plpgsql AS $$
DECLARE
    org_a uuid := iam_test.id('org A');
BEGIN
    EXECUTE format('SELECT count(*) FILTER (WHERE organization_id = %L), count(*) FILTER (WHERE organization_id <> %L) FROM iam.%I',
                   org_a, org_a, p_table)
        INTO sees_a, sees_others;
    insert_into_a := iam_test.attempt(CASE p_table
        WHEN 'projects' THEN format(
            'INSERT INTO iam.projects (organization_id, name, created_by_user_id) '
            'VALUES (%L, ''matrix'', nullif(current_setting(''app.user_id'', true), '''')::uuid)', org_a)
        WHEN 'organization_memberships' THEN format(
            'INSERT INTO iam.organization_memberships (organization_id, user_id, role) VALUES (%L, %L, ''READ_ONLY'')',
            org_a, iam_test.id('outsider'))
        WHEN 'invitations' THEN format(
            'INSERT INTO iam.invitations (organization_id, email, role, token_hash, invited_by_user_id, expires_at) '
            'VALUES (%L, ''matrix@example.com'', ''READ_ONLY'', ''\xff'', nullif(current_setting(''app.user_id'', true), '''')::uuid, '
            'now() + interval ''1 day'')', org_a)
        WHEN 'audit_events' THEN format(
            'INSERT INTO iam.audit_events (organization_id, action, resource_type) VALUES (%L, ''forged'', ''x'')', org_a)
    END);
    update_a := iam_test.attempt(CASE p_table
        WHEN 'projects' THEN format('UPDATE iam.projects SET description = ''matrix'' WHERE organization_id = %L', org_a)
        WHEN 'organization_memberships' THEN format(
            'UPDATE iam.organization_memberships SET role = role WHERE organization_id = %L', org_a)
        WHEN 'invitations' THEN format('UPDATE iam.invitations SET revoked_at = now() WHERE organization_id = %L', org_a)
        WHEN 'audit_events' THEN format('UPDATE iam.audit_events SET action = ''rewritten'' WHERE organization_id = %L', org_a)
    END);
    delete_a := iam_test.attempt(CASE p_table
        WHEN 'projects' THEN format('DELETE FROM iam.projects WHERE organization_id = %L', org_a)
        -- Admins are left alone: removing the last one is a rule of its own.
        WHEN 'organization_memberships' THEN format(
            'DELETE FROM iam.organization_memberships WHERE organization_id = %L AND role <> ''ORG_ADMIN''', org_a)
        WHEN 'invitations' THEN format('DELETE FROM iam.invitations WHERE organization_id = %L', org_a)
        WHEN 'audit_events' THEN format('DELETE FROM iam.audit_events WHERE organization_id = %L', org_a)
    END);
    RETURN NEXT;
END
$$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA iam_test TO PUBLIC;
