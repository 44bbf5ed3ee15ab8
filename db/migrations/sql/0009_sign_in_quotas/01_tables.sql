-- Sign-in counters that cannot be turned against an account's owner (issue 18). Ten wrong
-- passwords from anywhere used to lock an account for every address, renewable forever.
-- Now the hard limits are per (email, client address) pair and per address; the email
-- alone is only slowed down, and never for an address the account signed in from before.
-- One table holds every kind of counter, each with its own window, keyed by SHA-256 of
-- 'pair:...', 'address:...', 'email:...' or 'registration:...' (no email is stored as such).
CREATE TABLE iam.attempt_counters (
    subject bytea PRIMARY KEY,
    window_ends_at timestamptz NOT NULL,
    failures integer NOT NULL CHECK (failures >= 0),
    -- Email counters: the earliest moment the next password check may run (the slowdown).
    next_check_at timestamptz,
    -- When this window first refused or slowed an attempt: login.throttled is recorded once.
    refused_at timestamptz
);
CREATE INDEX attempt_counters_window_idx ON iam.attempt_counters (window_ends_at);

-- (email, address) pairs that signed in successfully lately, as SHA-256 keys: the owner at
-- an address they used before is never slowed down by guesses on their email from elsewhere.
CREATE TABLE iam.known_sign_in_clients (
    pair bytea PRIMARY KEY,
    last_signed_in_at timestamptz NOT NULL
);
CREATE INDEX known_sign_in_clients_age_idx ON iam.known_sign_in_clients (last_signed_in_at);

ALTER TABLE iam.attempt_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.attempt_counters FORCE ROW LEVEL SECURITY;
ALTER TABLE iam.known_sign_in_clients ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.known_sign_in_clients FORCE ROW LEVEL SECURITY;
REVOKE ALL ON iam.attempt_counters, iam.known_sign_in_clients FROM PUBLIC;

DROP FUNCTION iam.reserve_login_attempt(bytea, bytea, integer, integer, integer);
DROP FUNCTION iam.release_login_attempt(bytea, bytea);
DROP TABLE iam.login_throttle;

-- A refresh token remembers the token that replaced it, so that a retry of a refresh whose
-- answer was lost can be told from the replay of a stolen token.
ALTER TABLE iam.refresh_tokens ADD COLUMN successor_hash bytea;

-- Sessions revoked because their user opened more than iam.max_live_sessions_per_user().
ALTER TABLE iam.sessions DROP CONSTRAINT sessions_revoked_reason_check;
ALTER TABLE iam.sessions ADD CONSTRAINT sessions_revoked_reason_check
    CHECK (revoked_reason IN ('logout', 'password_change', 'reuse', 'admin_removal', 'deactivated', 'session_limit'));
