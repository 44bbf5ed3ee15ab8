-- With audit:read a user reads the current organization's trail.
CREATE POLICY audit_events_api_select ON iam.audit_events FOR SELECT TO iam_api
    USING (organization_id = (SELECT iam.current_org_id()) AND (SELECT iam.caller_has_permission('audit:read')));
-- A DBA reads the trail of the selected, granted organization.
CREATE POLICY audit_events_dba_select ON iam.audit_events FOR SELECT TO iam_dba
    USING (organization_id = (SELECT iam.dba_org_id()));

-- Append-only: both roles read; nobody but the owner (through the triggers) writes, and no
-- UPDATE or DELETE exists for anyone else.
REVOKE ALL ON iam.audit_events FROM PUBLIC;
GRANT SELECT ON iam.audit_events TO iam_api, iam_dba;

REVOKE ALL ON FUNCTION iam.append_audit_event(uuid, text, text, uuid, jsonb, jsonb, uuid),
    iam.audit_actor_user_id(), iam.record_audit_event(), iam.record_login(uuid, uuid, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION iam.record_login(uuid, uuid, boolean) TO iam_api;
