-- Nobody proved they own an email: an attacker registered victim@corp.example before the
-- victim, and when Corp invited the victim, whoever held the account joined. Accounts now
-- record when their address was proved (a link mailed to it, an invitation token that came
-- by mail, or a password reset), unverified accounts cannot accept invitations, and with
-- EMAIL_VERIFICATION=required an account is only created once its address is proved.
-- Existing accounts start unverified: none of them proved its address. A password reset, or
-- POST /auth/verify-email/resend, proves it.
ALTER TABLE iam.users ADD COLUMN email_verified_at timestamptz;
GRANT SELECT (email_verified_at) ON iam.users TO iam_api, iam_dba;

ALTER TABLE iam.outbox_messages DROP CONSTRAINT outbox_messages_kind_check;
ALTER TABLE iam.outbox_messages ADD CONSTRAINT outbox_messages_kind_check CHECK (kind IN (
    'invitation', 'password_reset', 'password_changed', 'email_verification', 'registration_notice'
));

-- Links that prove an address: for an existing account (user_id), or for a registration that
-- waits for its address to be proved (the account to create: its password hash and
-- organization name, kept only here and only until used or expired).
CREATE TABLE iam.email_verifications (
    token_hash bytea PRIMARY KEY,
    email text NOT NULL,
    user_id uuid REFERENCES iam.users (id) ON DELETE CASCADE,
    organization_name text,
    password_hash text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    CONSTRAINT email_verifications_kind_check
        CHECK ((user_id IS NULL) = (organization_name IS NOT NULL AND password_hash IS NOT NULL))
);
CREATE INDEX email_verifications_email_idx ON iam.email_verifications (email);
CREATE INDEX email_verifications_user_idx ON iam.email_verifications (user_id);
ALTER TABLE iam.email_verifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.email_verifications FORCE ROW LEVEL SECURITY;
REVOKE ALL ON iam.email_verifications FROM PUBLIC;
