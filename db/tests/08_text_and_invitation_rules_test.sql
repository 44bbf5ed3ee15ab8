-- Rules on data that hold for direct SQL too: text must show what it says (no control,
-- format or separator characters; emails and names in NFC), and an organization has at
-- most one pending invitation per email, a new one superseding the old.
BEGIN;
SELECT plan(10);
SELECT iam_test.seed();

SELECT throws_ok(
    $$INSERT INTO iam.users (email, password_hash) VALUES (E'ev\u200Be@example.com', 'h')$$,
    '23514', NULL, 'an email with a zero-width space is refused'
);
SELECT throws_ok(
    $$INSERT INTO iam.users (email, password_hash) VALUES (normalize(E'zo\u00EB@example.com', NFD), 'h')$$,
    '23514', NULL, 'an email in NFD is refused (its NFC twin would be another account)'
);
SELECT lives_ok(
    $$INSERT INTO iam.users (email, password_hash) VALUES (E'zo\u00EB@example.com', 'h')$$,
    'an email in NFC with a non-ASCII letter is accepted'
);
SELECT throws_ok(
    $$INSERT INTO iam.organizations (name) VALUES (E'Acme\u202Egnp.exe')$$,
    '23514', NULL, 'an organization name with a right-to-left override is refused'
);
SELECT throws_ok(
    format($$INSERT INTO iam.projects (organization_id, name) VALUES (%L, E'\u200B')$$, iam_test.id('org A')),
    '23514', NULL, 'a project named only U+200B is refused'
);
SELECT throws_ok(
    format($$INSERT INTO iam.projects (organization_id, name) VALUES (%L, E'two\nlines')$$, iam_test.id('org A')),
    '23514', NULL, 'a project name with a line feed is refused'
);
SELECT lives_ok(
    format($$INSERT INTO iam.projects (organization_id, name, description) VALUES (%L, 'Notes', E'line one\nline\ttwo')$$,
           iam_test.id('org A')),
    'a description may span lines'
);
SELECT throws_ok(
    format($$UPDATE iam.projects SET description = E'bell\u0007' WHERE organization_id = %L$$, iam_test.id('org A')),
    '23514', NULL, 'a description with another control character is refused'
);

-- org A has one pending invitation, to invitee_a: a new one to the same email replaces it.
INSERT INTO iam.invitations (organization_id, email, role, token_hash, invited_by_user_id, expires_at)
VALUES (iam_test.id('org A'), 'invitee_a@example.com', 'ORG_ADMIN', '\x0a02', iam_test.id('admin_a'), now() + interval '1 day');
SELECT results_eq(
    format($$SELECT role FROM iam.invitations WHERE organization_id = %L AND email = 'invitee_a@example.com'
             AND accepted_at IS NULL AND revoked_at IS NULL$$, iam_test.id('org A')),
    $$VALUES ('ORG_ADMIN')$$,
    'a new invitation supersedes the pending one to the same email'
);
SELECT throws_ok(
    format($$UPDATE iam.invitations SET revoked_at = NULL WHERE organization_id = %L AND email = 'invitee_a@example.com'$$,
           iam_test.id('org A')),
    '23514', NULL, 'a superseded (revoked) invitation cannot be revived beside the new one'
);

SELECT * FROM finish();
ROLLBACK;
