-- Mail the service sends, through a transactional outbox: a message is written in the same
-- transaction as the change that causes it (an invitation, a reset request), so a rolled-back
-- request sends nothing and a committed one is never lost. A delivery loop in every API
-- process (and a cron route, for serverless) claims due messages with FOR UPDATE SKIP LOCKED
-- under a lease, sends them over SMTP, and retries with backoff.
--
-- Messages hold secrets (links with tokens) until sent: no policy lets iam_api or iam_dba
-- read the table, and the body is removed once the message is delivered or given up.
CREATE TABLE iam.outbox_messages (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind text NOT NULL CONSTRAINT outbox_messages_kind_check
        CHECK (kind IN ('invitation', 'password_reset', 'password_changed')),
    recipient text NOT NULL CHECK (char_length(recipient) BETWEEN 3 AND 254),
    subject text NOT NULL CHECK (char_length(subject) <= 200),
    body text CHECK (char_length(body) <= 20000),
    created_at timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- A delivery in progress: others leave the message alone until the lease ends (a worker
    -- that died mid-send gives it back that way).
    claimed_until timestamptz,
    sent_at timestamptz,
    gave_up_at timestamptz,
    last_error text,
    CONSTRAINT outbox_messages_body_until_done CHECK ((body IS NULL) = (sent_at IS NOT NULL OR gave_up_at IS NOT NULL))
);
CREATE INDEX outbox_messages_due_idx ON iam.outbox_messages (next_attempt_at) WHERE sent_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX outbox_messages_recipient_idx ON iam.outbox_messages (recipient, kind, created_at);
CREATE INDEX outbox_messages_done_idx ON iam.outbox_messages (created_at) WHERE body IS NULL;
ALTER TABLE iam.outbox_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE iam.outbox_messages FORCE ROW LEVEL SECURITY;
REVOKE ALL ON iam.outbox_messages FROM PUBLIC;

-- Queues a message; NULL, queuing nothing, when the recipient was sent a message of this
-- kind less than p_min_interval_seconds ago (nobody can use the service to mail-bomb an
-- address). Called inside the transaction that causes the message.
CREATE FUNCTION iam.queue_mail(
    p_kind text, p_recipient text, p_subject text, p_body text, p_min_interval_seconds integer
) RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    queued uuid;
BEGIN
    -- One at a time per recipient, so that parallel requests cannot both pass the interval.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('iam.queue_mail:' || p_recipient, 0));
    IF EXISTS (
        SELECT FROM iam.outbox_messages AS m
        WHERE m.recipient = p_recipient AND m.kind = p_kind
          AND m.created_at > pg_catalog.clock_timestamp() - make_interval(secs => p_min_interval_seconds)
    ) THEN
        RETURN NULL;
    END IF;
    INSERT INTO iam.outbox_messages (kind, recipient, subject, body, created_at)
    VALUES (p_kind, p_recipient, p_subject, p_body, pg_catalog.clock_timestamp())
    RETURNING id INTO queued;
    RETURN queued;
END
$$;

-- Claims up to p_limit due messages for p_lease_seconds: their bodies, to send now. Only
-- outside any signed-in context (the delivery loop's own transaction): a request of a user
-- cannot read other people's mail through it. Clears a few delivered messages older than 30
-- days, so that the table stays bounded.
CREATE FUNCTION iam.claim_mail(p_limit integer, p_lease_seconds integer)
RETURNS TABLE (id uuid, recipient text, subject text, body text, attempts integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
#variable_conflict use_column
BEGIN
    IF iam.current_session_id() IS NOT NULL OR iam.current_user_id() IS NOT NULL THEN
        RAISE EXCEPTION 'mail is claimed by the delivery loop only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM iam.outbox_messages WHERE id IN (
        SELECT m.id FROM iam.outbox_messages AS m WHERE m.body IS NULL AND m.created_at < now() - interval '30 days'
        ORDER BY m.created_at LIMIT 100 FOR UPDATE SKIP LOCKED
    );
    RETURN QUERY
        UPDATE iam.outbox_messages AS m
        SET claimed_until = now() + make_interval(secs => p_lease_seconds), attempts = m.attempts + 1
        WHERE m.id IN (
            SELECT d.id FROM iam.outbox_messages AS d
            WHERE d.sent_at IS NULL AND d.gave_up_at IS NULL AND d.next_attempt_at <= now()
              AND (d.claimed_until IS NULL OR d.claimed_until < now())
            ORDER BY d.next_attempt_at
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED
        )
        RETURNING m.id, m.recipient, m.subject, m.body, m.attempts;
END
$$;

-- A claimed message was accepted by the SMTP server: its body (and the secrets in it) goes.
CREATE FUNCTION iam.mail_sent(p_id uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    IF iam.current_session_id() IS NOT NULL OR iam.current_user_id() IS NOT NULL THEN
        RAISE EXCEPTION 'mail is delivered by the delivery loop only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE iam.outbox_messages SET sent_at = now(), body = NULL, claimed_until = NULL, last_error = NULL
    WHERE id = p_id AND sent_at IS NULL;
END
$$;

-- A claimed message could not be sent: tried again after p_retry_seconds, or given up (its
-- body removed) once it has had p_max_attempts tries. True when given up.
CREATE FUNCTION iam.mail_failed(p_id uuid, p_error text, p_max_attempts integer, p_retry_seconds integer)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    given_up boolean;
BEGIN
    IF iam.current_session_id() IS NOT NULL OR iam.current_user_id() IS NOT NULL THEN
        RAISE EXCEPTION 'mail is delivered by the delivery loop only' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE iam.outbox_messages AS m
    SET claimed_until = NULL,
        last_error = pg_catalog.left(p_error, 500),
        next_attempt_at = now() + make_interval(secs => p_retry_seconds),
        gave_up_at = CASE WHEN m.attempts >= p_max_attempts THEN now() END,
        body = CASE WHEN m.attempts >= p_max_attempts THEN NULL ELSE m.body END
    WHERE m.id = p_id AND m.sent_at IS NULL
    RETURNING m.gave_up_at IS NOT NULL INTO given_up;
    RETURN coalesce(given_up, false);
END
$$;

REVOKE ALL ON FUNCTION
    iam.queue_mail(text, text, text, text, integer),
    iam.claim_mail(integer, integer),
    iam.mail_sent(uuid),
    iam.mail_failed(uuid, text, integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    iam.queue_mail(text, text, text, text, integer),
    iam.claim_mail(integer, integer),
    iam.mail_sent(uuid),
    iam.mail_failed(uuid, text, integer, integer)
    TO iam_api;
