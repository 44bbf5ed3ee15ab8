-- Tables of schema iam. Tenant-owned tables carry organization_id at the head of their
-- primary key and indexes, and point at each other through keys that include it, so a row
-- can never reference another tenant and the data stays shardable by organization.

REVOKE ALL ON SCHEMA iam FROM PUBLIC;

-- Keeps created_at/updated_at in the database's hands whatever a client sends.
CREATE FUNCTION iam.stamp_timestamps() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := now();
    ELSE
        NEW.created_at := OLD.created_at;
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Permission catalog: global, read-only reference data.
CREATE TABLE iam.permissions (
    key text PRIMARY KEY,
    description text NOT NULL
);

CREATE TABLE iam.roles (
    key text PRIMARY KEY,
    name text NOT NULL,
    description text NOT NULL,
    -- Lower rank lists first in the catalog.
    rank smallint NOT NULL UNIQUE
);

CREATE TABLE iam.role_permissions (
    role_key text NOT NULL REFERENCES iam.roles (key),
    permission_key text NOT NULL REFERENCES iam.permissions (key),
    PRIMARY KEY (role_key, permission_key)
);

CREATE TABLE iam.organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CONSTRAINT organizations_name_check
        CHECK (char_length(name) >= 1 AND char_length(name) <= 200 AND name = btrim(name)),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER organizations_stamp_timestamps BEFORE INSERT OR UPDATE ON iam.organizations
    FOR EACH ROW EXECUTE FUNCTION iam.stamp_timestamps();

-- Users are global identities; what they may do lives in their memberships.
CREATE TABLE iam.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL CONSTRAINT users_email_check
        CHECK (email = lower(email) AND char_length(email) >= 3 AND char_length(email) <= 254 AND email LIKE '_%@_%'),
    password_hash text NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- Emails are stored lower-case (check above), so this is case-insensitive uniqueness.
    CONSTRAINT users_email_key UNIQUE (email)
);
CREATE TRIGGER users_stamp_timestamps BEFORE INSERT OR UPDATE ON iam.users
    FOR EACH ROW EXECUTE FUNCTION iam.stamp_timestamps();

CREATE TABLE iam.organization_memberships (
    organization_id uuid NOT NULL REFERENCES iam.organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES iam.users (id) ON DELETE CASCADE,
    role text NOT NULL REFERENCES iam.roles (key),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organization_memberships_pkey PRIMARY KEY (organization_id, user_id)
);
-- The one index not led by organization_id: a user's own directory of organizations (login,
-- GET /organizations) is a lookup across tenants by nature.
CREATE INDEX organization_memberships_user_idx ON iam.organization_memberships (user_id, created_at);
CREATE TRIGGER organization_memberships_stamp_timestamps BEFORE INSERT OR UPDATE ON iam.organization_memberships
    FOR EACH ROW EXECUTE FUNCTION iam.stamp_timestamps();

CREATE TABLE iam.projects (
    organization_id uuid NOT NULL REFERENCES iam.organizations (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CONSTRAINT projects_name_check
        CHECK (char_length(name) >= 1 AND char_length(name) <= 200 AND name = btrim(name)),
    description text CONSTRAINT projects_description_check CHECK (char_length(description) <= 2000),
    -- Kept after the creator leaves or is deleted: users are global, not tenant rows.
    created_by_user_id uuid REFERENCES iam.users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id)
);
-- Names are unique within an organization, ignoring letter case; never across tenants.
CREATE UNIQUE INDEX projects_organization_name_key ON iam.projects (organization_id, lower(name));
-- Keyset pagination, newest first.
CREATE INDEX projects_organization_created_idx ON iam.projects (organization_id, created_at DESC, id DESC);
CREATE TRIGGER projects_stamp_timestamps BEFORE INSERT OR UPDATE ON iam.projects
    FOR EACH ROW EXECUTE FUNCTION iam.stamp_timestamps();

CREATE TABLE iam.invitations (
    organization_id uuid NOT NULL REFERENCES iam.organizations (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    email text NOT NULL CONSTRAINT invitations_email_check
        CHECK (email = lower(email) AND char_length(email) >= 3 AND char_length(email) <= 254 AND email LIKE '_%@_%'),
    role text NOT NULL REFERENCES iam.roles (key),
    -- SHA-256 of the token; the token itself is shown once and never stored.
    token_hash bytea NOT NULL,
    invited_by_user_id uuid REFERENCES iam.users (id) ON DELETE SET NULL,
    expires_at timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by_user_id uuid REFERENCES iam.users (id) ON DELETE SET NULL,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT invitations_single_outcome CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);
-- Acceptance looks a token up before any tenant is known, so this index cannot lead with
-- organization_id.
CREATE UNIQUE INDEX invitations_token_hash_key ON iam.invitations (token_hash);
CREATE INDEX invitations_organization_pending_idx ON iam.invitations (organization_id, created_at DESC)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE TRIGGER invitations_stamp_timestamps BEFORE INSERT OR UPDATE ON iam.invitations
    FOR EACH ROW EXECUTE FUNCTION iam.stamp_timestamps();

-- Which DBA login roles may work on which organization (see iam.grant_tenant_access).
CREATE TABLE iam.dba_tenant_grants (
    organization_id uuid NOT NULL REFERENCES iam.organizations (id) ON DELETE CASCADE,
    db_role name NOT NULL,
    granted_by name NOT NULL DEFAULT current_user,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, db_role)
);
