-- Organization API keys: machine identities that act in one organization with a role, through
-- the same context round trip and the same policies as a person's access token.
--
-- A key is `tiam_<lookup id>_<secret><checksum>` (api/auth/api_keys.py); only its SHA-256
-- is stored (256 random bits need no slow hash). No role may read key_hash: iam_api and
-- iam_dba get the other columns only, and iam.enter_api_key_context compares it for them.
INSERT INTO iam.permissions (key, description) VALUES
    ('api_keys:manage', 'Create, list, change and revoke the organization''s API keys');
INSERT INTO iam.role_permissions (role_key, permission_key) VALUES ('ORG_ADMIN', 'api_keys:manage');

CREATE TABLE iam.api_keys (
    organization_id uuid NOT NULL REFERENCES iam.organizations (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    -- Public: it names the key in listings (`prefix`), and finds it before any context exists.
    lookup_id text NOT NULL CONSTRAINT api_keys_lookup_id_key UNIQUE
        CONSTRAINT api_keys_lookup_id_check CHECK (lookup_id ~ '^[0-9A-Za-z]{12}$'),
    key_hash bytea NOT NULL CONSTRAINT api_keys_key_hash_check CHECK (octet_length(key_hash) = 32),
    name text NOT NULL
        CONSTRAINT api_keys_name_check CHECK (char_length(name) >= 1 AND char_length(name) <= 200 AND name = btrim(name))
        CONSTRAINT api_keys_name_text_check CHECK (iam.is_visible_text(name, false) AND name IS NFC NORMALIZED),
    role text NOT NULL REFERENCES iam.roles (key),
    -- The key belongs to the organization: its creator leaving changes nothing about it.
    created_by_user_id uuid REFERENCES iam.users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    -- Kept to the minute (iam.touch_api_key), not written on every request.
    last_used_at timestamptz,
    revoked_at timestamptz,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT api_keys_expiry_after_creation CHECK (expires_at > created_at)
);
ALTER TABLE iam.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.api_keys FORCE ROW LEVEL SECURITY;
REVOKE ALL ON iam.api_keys FROM PUBLIC;
GRANT SELECT (organization_id, id, lookup_id, name, role, created_by_user_id, created_at, updated_at,
              expires_at, last_used_at, revoked_at) ON iam.api_keys TO iam_api, iam_dba;
GRANT INSERT (organization_id, lookup_id, key_hash, name, role, created_by_user_id, expires_at) ON iam.api_keys TO iam_api;
GRANT UPDATE (name, role, revoked_at) ON iam.api_keys TO iam_api;
-- A DBA may list and revoke, never create a key nor read a hash.
GRANT UPDATE (revoked_at) ON iam.api_keys TO iam_dba;

CREATE TRIGGER api_keys_stamp_timestamps BEFORE INSERT OR UPDATE OF name, role, revoked_at ON iam.api_keys
    FOR EACH ROW EXECUTE FUNCTION iam.stamp_timestamps();

CREATE FUNCTION iam.keep_api_keys_revoked() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL THEN
        RAISE EXCEPTION 'a revoked API key stays revoked'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'api_keys_stay_revoked';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION iam.keep_api_keys_revoked() FROM PUBLIC;
CREATE TRIGGER api_keys_stay_revoked BEFORE UPDATE OF name, role, revoked_at ON iam.api_keys
    FOR EACH ROW EXECUTE FUNCTION iam.keep_api_keys_revoked();

-- The key of the request's context: set only by iam.enter_api_key_context.
CREATE FUNCTION iam.current_api_key_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CAST(NULLIF(pg_catalog.current_setting('app.api_key_id', true), '') AS pg_catalog.uuid)
$$;
REVOKE ALL ON FUNCTION iam.current_api_key_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.current_api_key_id() TO iam_api;

CREATE INDEX api_keys_organization_created_idx ON iam.api_keys (organization_id, created_at DESC, id DESC)
    WHERE revoked_at IS NULL;
