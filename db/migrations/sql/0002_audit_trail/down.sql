-- Undoes 0002: the trail goes with its table.
DROP TRIGGER invitations_audit ON iam.invitations;
DROP TRIGGER projects_audit ON iam.projects;
DROP TRIGGER organization_memberships_audit ON iam.organization_memberships;
DROP TRIGGER organizations_audit ON iam.organizations;
DROP FUNCTION iam.record_login(uuid, uuid, boolean), iam.record_audit_event(), iam.audit_actor_user_id(),
    iam.append_audit_event(uuid, text, text, uuid, jsonb, jsonb, uuid);
DROP TABLE iam.audit_events;
