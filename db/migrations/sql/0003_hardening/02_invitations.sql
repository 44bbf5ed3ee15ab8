-- At most one pending invitation per organization and email, even under concurrent
-- invitations: a new invitation supersedes (revokes) the pending one in the database, under
-- a lock on that address, and a partial unique index backs the rule.

-- Earlier races may have left several pending invitations to one address: keep the newest.
UPDATE iam.invitations AS i SET revoked_at = now()
WHERE i.accepted_at IS NULL AND i.revoked_at IS NULL
  AND EXISTS (
      SELECT FROM iam.invitations AS newer
      WHERE newer.organization_id = i.organization_id AND newer.email = i.email
        AND newer.accepted_at IS NULL AND newer.revoked_at IS NULL
        AND (newer.created_at, newer.id) > (i.created_at, i.id)
  );

CREATE UNIQUE INDEX invitations_organization_email_pending_key ON iam.invitations (organization_id, email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- Runs with the inserter's rights, so the revocation passes the same policies as any other.
-- Concurrent invitations to one address queue on the advisory lock; each then revokes what
-- the one before it committed (a new statement in READ COMMITTED sees it).
CREATE FUNCTION iam.supersede_pending_invitations() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('iam.invitations ' || NEW.organization_id::text || ' ' || NEW.email, 0));
    UPDATE iam.invitations SET revoked_at = now()
    WHERE organization_id = NEW.organization_id AND email = NEW.email
      AND accepted_at IS NULL AND revoked_at IS NULL;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION iam.supersede_pending_invitations() FROM PUBLIC;
CREATE TRIGGER invitations_supersede_pending BEFORE INSERT ON iam.invitations
    FOR EACH ROW EXECUTE FUNCTION iam.supersede_pending_invitations();
