-- The audit trail: who changed what, per organization, for API traffic and psql alike.
CREATE TABLE iam.audit_events (
    organization_id uuid NOT NULL REFERENCES iam.organizations (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    -- clock_timestamp, not now(): events of one transaction keep their order.
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- No foreign key: the trail outlives the users it mentions.
    actor_user_id uuid,
    actor_db_role name NOT NULL DEFAULT session_user,
    action text NOT NULL,
    resource_type text NOT NULL,
    resource_id uuid,
    old_values jsonb,
    new_values jsonb,
    request_id text,
    PRIMARY KEY (organization_id, id)
);
CREATE INDEX audit_events_organization_time_idx ON iam.audit_events (organization_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_organization_resource_idx ON iam.audit_events (organization_id, resource_id, occurred_at DESC);

ALTER TABLE iam.audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.audit_events FORCE ROW LEVEL SECURITY;
