-- UPDATE (revoked_at) let an admin context (or a granted DBA) set revoked_at back to NULL
-- and revive an invitation. A revoked invitation stays revoked, whoever updates it.
CREATE FUNCTION iam.keep_invitations_revoked() RETURNS trigger
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'a revoked invitation stays revoked'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'invitations_stay_revoked';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION iam.keep_invitations_revoked() FROM PUBLIC;
CREATE TRIGGER invitations_stay_revoked BEFORE UPDATE OF revoked_at ON iam.invitations
    FOR EACH ROW EXECUTE FUNCTION iam.keep_invitations_revoked();
