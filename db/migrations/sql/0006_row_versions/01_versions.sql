-- Row versions for optimistic concurrency: projects and memberships carry a version that
-- the database raises on every update, whoever makes it (the API, a DBA in psql). The API
-- sends it as the ETag and honours If-Match against it.

CREATE FUNCTION iam.bump_version() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.version := 1;
    ELSE
        NEW.version := OLD.version + 1;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION iam.bump_version() FROM PUBLIC;

ALTER TABLE iam.projects ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE iam.organization_memberships ADD COLUMN version bigint NOT NULL DEFAULT 1;

CREATE TRIGGER projects_bump_version BEFORE INSERT OR UPDATE ON iam.projects
FOR EACH ROW EXECUTE FUNCTION iam.bump_version();
CREATE TRIGGER organization_memberships_bump_version BEFORE INSERT OR UPDATE ON iam.organization_memberships
FOR EACH ROW EXECUTE FUNCTION iam.bump_version();
