-- Sessions, their refresh tokens, and login throttling. None of them is tenant data: a
-- session belongs to a user (in one organization), and the counters to an email or address.

-- A signed-in user in one organization. Access tokens name it (`sid`), so revoking it ends
-- them on their next request.
CREATE TABLE iam.sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES iam.users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES iam.organizations (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- The last sign-in or refresh: requests themselves write nothing.
    last_used_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    user_agent text CONSTRAINT sessions_user_agent_check CHECK (char_length(user_agent) <= 512),
    client_address inet,
    revoked_at timestamptz,
    revoked_reason text CONSTRAINT sessions_revoked_reason_check
        CHECK (revoked_reason IN ('logout', 'password_change', 'reuse', 'admin_removal', 'deactivated')),
    CONSTRAINT sessions_revocation_check CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX sessions_user_idx ON iam.sessions (user_id, created_at);
CREATE INDEX sessions_organization_user_idx ON iam.sessions (organization_id, user_id);
CREATE INDEX sessions_expires_idx ON iam.sessions (expires_at);

-- Every refresh token a session was given, by SHA-256. The newest is unrotated; an older one
-- presented again is a stolen copy (or the thief's), and revokes the whole session.
CREATE TABLE iam.refresh_tokens (
    token_hash bytea PRIMARY KEY,
    session_id uuid NOT NULL REFERENCES iam.sessions (id) ON DELETE CASCADE,
    issued_at timestamptz NOT NULL DEFAULT now(),
    rotated_at timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON iam.refresh_tokens (session_id);

-- Failed-login counters in fixed windows, keyed by SHA-256 of 'email:<address>' or
-- 'address:<client address or /64>', so that no probed email is stored as such.
CREATE TABLE iam.login_throttle (
    subject bytea PRIMARY KEY,
    window_started_at timestamptz NOT NULL,
    failures integer NOT NULL CHECK (failures >= 0),
    -- When this window first refused an attempt: login.throttled is recorded once per window.
    refused_at timestamptz
);
CREATE INDEX login_throttle_window_idx ON iam.login_throttle (window_started_at);

ALTER TABLE iam.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.sessions FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.refresh_tokens FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.login_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.login_throttle FORCE ROW LEVEL SECURITY;
