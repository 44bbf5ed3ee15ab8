-- Registration through an invitation checks the invitation before it creates the account:
-- an unknown, used, revoked, expired or mismatched token gets one answer (invitation_not_found)
-- whatever the email, so this entry point tells nobody which emails have accounts. Only a
-- valid invitation for this very email can then meet an existing account (users_email_key).
CREATE OR REPLACE FUNCTION iam.register_invited_user(p_email text, p_password_hash text, p_token_hash bytea)
RETURNS TABLE (user_id uuid, organization_id uuid, organization_name text, role text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    new_user_id uuid;
BEGIN
    PERFORM FROM iam.invitations AS i
    WHERE i.token_hash = p_token_hash AND i.email = p_email
      AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invitation not found'
            USING ERRCODE = 'no_data_found', CONSTRAINT = 'invitation_not_found';
    END IF;
    INSERT INTO iam.users (email, password_hash) VALUES (p_email, p_password_hash)
    RETURNING id INTO new_user_id;
    RETURN QUERY
        SELECT new_user_id, c.organization_id, c.organization_name, c.role
        FROM iam.consume_invitation(p_token_hash, new_user_id, p_email) AS c;
END
$$;
