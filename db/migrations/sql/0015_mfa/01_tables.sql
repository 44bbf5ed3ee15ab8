-- Multi-factor sign-in: TOTP factors with recovery codes, sessions that record how their user
-- proved who they are (aal, amr), organizations that require a second factor, and step-up for
-- sensitive changes.
--
-- A TOTP secret must be readable to check a code, so it cannot be hashed: it is stored
-- encrypted (AES-256-GCM, MFA_ENCRYPTION_KEY, which never reaches the database), and no role
-- reads the tables below: only the SECURITY DEFINER functions of this migration touch them.
INSERT INTO iam.permissions (key, description) VALUES
    ('organization:manage', 'Change the organization''s settings, such as requiring MFA');
INSERT INTO iam.role_permissions (role_key, permission_key) VALUES ('ORG_ADMIN', 'organization:manage');

ALTER TABLE iam.organizations ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;

-- aal 1: a password; 2: a password and a second factor. amr: the methods, as in OIDC (RFC 8176).
ALTER TABLE iam.sessions
    ADD COLUMN aal smallint NOT NULL DEFAULT 1 CONSTRAINT sessions_aal_check CHECK (aal IN (1, 2)),
    ADD COLUMN amr text[] NOT NULL DEFAULT ARRAY['pwd'];
GRANT SELECT (aal, amr) ON iam.sessions TO iam_api;

CREATE TABLE iam.mfa_factors (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES iam.users (id) ON DELETE CASCADE,
    status text NOT NULL CONSTRAINT mfa_factors_status_check CHECK (status IN ('pending', 'active')),
    secret_ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    -- The newest 30-second step a code was accepted for: no code is accepted twice.
    last_used_step bigint NOT NULL DEFAULT 0,
    CONSTRAINT mfa_factors_one_per_status UNIQUE (user_id, status)
);
ALTER TABLE iam.mfa_factors ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.mfa_factors FORCE ROW LEVEL SECURITY;
REVOKE ALL ON iam.mfa_factors FROM PUBLIC;

CREATE TABLE iam.mfa_recovery_codes (
    user_id uuid NOT NULL REFERENCES iam.users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL CONSTRAINT mfa_recovery_codes_hash_check CHECK (octet_length(code_hash) = 32),
    used_at timestamptz,
    PRIMARY KEY (user_id, code_hash)
);
ALTER TABLE iam.mfa_recovery_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.mfa_recovery_codes FORCE ROW LEVEL SECURITY;
REVOKE ALL ON iam.mfa_recovery_codes FROM PUBLIC;

-- A login whose password was right, waiting for the second factor (the mfa_token's hash).
CREATE TABLE iam.mfa_challenges (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES iam.users (id) ON DELETE CASCADE,
    organization_id uuid REFERENCES iam.organizations (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    failures integer NOT NULL DEFAULT 0,
    used_at timestamptz,
    user_agent text,
    client_address inet
);
CREATE INDEX mfa_challenges_expires_idx ON iam.mfa_challenges (expires_at);
ALTER TABLE iam.mfa_challenges ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.mfa_challenges FORCE ROW LEVEL SECURITY;
REVOKE ALL ON iam.mfa_challenges FROM PUBLIC;
