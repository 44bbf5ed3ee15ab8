-- Undoes 0004: sessions, refresh tokens and login counters go; record_login takes its
-- boolean form of 0002 again.
DROP TRIGGER users_end_sessions ON iam.users;
DROP TRIGGER organization_memberships_end_sessions ON iam.organization_memberships;
DROP FUNCTION iam.end_sessions_of_deactivated_user(), iam.end_sessions_of_removed_member(),
    iam.purge_expired(integer), iam.release_login_attempt(bytea, bytea),
    iam.reserve_login_attempt(bytea, bytea, integer, integer, integer), iam.change_own_password(text),
    iam.refresh_session(bytea, bytea), iam.sign_in(uuid, uuid, bytea, integer, text, inet, text),
    iam.record_login(uuid, uuid, text), iam.start_session(uuid, uuid, bytea, integer, text, inet);
DROP TABLE iam.login_throttle, iam.refresh_tokens, iam.sessions;
DROP FUNCTION iam.keep_sessions_revoked(), iam.record_session_event(), iam.current_session_id();

CREATE FUNCTION iam.record_login(p_user_id uuid, p_organization_id uuid, p_succeeded boolean) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF EXISTS (
        SELECT FROM iam.organization_memberships
        WHERE organization_id = p_organization_id AND user_id = p_user_id
    ) THEN
        PERFORM iam.append_audit_event(
            p_organization_id,
            CASE WHEN p_succeeded THEN 'login.succeeded' ELSE 'login.failed' END,
            'user',
            p_user_id,
            NULL,
            NULL,
            CASE WHEN p_succeeded THEN p_user_id END
        );
    END IF;
END
$$;
REVOKE ALL ON FUNCTION iam.record_login(uuid, uuid, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.record_login(uuid, uuid, boolean) TO iam_api;
