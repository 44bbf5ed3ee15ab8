-- The counters of one login attempt, created if new, renewed if their window ended, and
-- locked in one order (so that two attempts never deadlock). Email counters run for an
-- hour; pair and address counters for the login window. A few ended counters and old
-- known clients are cleared with every call, so both tables stay bounded.
CREATE FUNCTION iam.lock_attempt_counters(p_keys bytea[], p_window_seconds integer[])
RETURNS SETOF iam.attempt_counters
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
BEGIN
    DELETE FROM iam.attempt_counters WHERE subject IN (
        SELECT c.subject FROM iam.attempt_counters AS c WHERE c.window_ends_at <= now()
        ORDER BY c.window_ends_at LIMIT 20 FOR UPDATE SKIP LOCKED
    );
    DELETE FROM iam.known_sign_in_clients WHERE pair IN (
        SELECT k.pair FROM iam.known_sign_in_clients AS k WHERE k.last_signed_in_at < now() - interval '30 days'
        ORDER BY k.last_signed_in_at LIMIT 20 FOR UPDATE SKIP LOCKED
    );
    INSERT INTO iam.attempt_counters (subject, window_ends_at, failures)
    SELECT k.key, now() + make_interval(secs => k.seconds), 0
    FROM unnest(p_keys, p_window_seconds) AS k (key, seconds) ORDER BY k.key
    ON CONFLICT (subject) DO NOTHING;
    PERFORM FROM iam.attempt_counters AS c WHERE c.subject = ANY (p_keys) ORDER BY c.subject FOR UPDATE;
    UPDATE iam.attempt_counters AS c
    SET window_ends_at = now() + make_interval(secs => k.seconds), failures = 0, next_check_at = NULL, refused_at = NULL
    FROM unnest(p_keys, p_window_seconds) AS k (key, seconds)
    WHERE c.subject = k.key AND c.window_ends_at <= now();
    RETURN QUERY SELECT * FROM iam.attempt_counters AS c WHERE c.subject = ANY (p_keys);
END
$$;

-- Reserves one password check for an email from a client address, before the password is
-- checked; the reservation counts as a failure until release_login_attempt gives it back,
-- which is what bounds parallel guesses. Refused (allowed false, counting nothing):
--   - the pair (email, address) at p_max_pair failures in the window: only that address
--     is refused for that email, so a stranger cannot lock the owner out;
--   - the address at p_max_address failures in the window, across emails (spraying).
-- The email alone is never refused outright. Past p_email_free failures in its hour, from
-- an address the account has not signed in from in 30 days, its checks are spaced out:
-- 1 s, 2 s, 4 s, ... up to p_email_max_spacing seconds apart. delay_seconds says how long
-- this check must wait for its turn; a turn further than p_max_wait seconds away is not
-- taken (retry_after_seconds says when to come back). That bounds the checks on one email
-- from everywhere to about p_email_free + 3600 / p_email_max_spacing + log2 of it an hour.
-- first_refusal is true once per email and hour, when it is first refused or slowed down
-- (login.throttled is recorded then).
CREATE FUNCTION iam.reserve_login_attempt(
    p_pair_key bytea, p_address_key bytea, p_email_key bytea,
    p_max_pair integer, p_max_address integer, p_window_seconds integer,
    p_email_free integer, p_email_max_spacing integer, p_max_wait integer
) RETURNS TABLE (allowed boolean, retry_after_seconds integer, delay_seconds double precision, first_refusal boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    keys bytea[] := ARRAY[p_pair_key, p_address_key, p_email_key];
    blocked_until timestamptz;
    email iam.attempt_counters;
    turn timestamptz;
    first boolean;
BEGIN
    PERFORM iam.lock_attempt_counters(keys, ARRAY[p_window_seconds, p_window_seconds, 3600]);
    SELECT * INTO email FROM iam.attempt_counters AS c WHERE c.subject = p_email_key;
    first := email.refused_at IS NULL;

    SELECT max(c.window_ends_at) INTO blocked_until
    FROM iam.attempt_counters AS c
    WHERE (c.subject = p_pair_key AND c.failures >= p_max_pair)
       OR (c.subject = p_address_key AND c.failures >= p_max_address);
    IF blocked_until IS NOT NULL THEN
        UPDATE iam.attempt_counters AS c SET refused_at = now() WHERE c.subject = p_email_key AND c.refused_at IS NULL;
        RETURN QUERY SELECT false, greatest(1, ceil(extract(epoch FROM blocked_until - now())))::integer, 0.0::float8, first;
        RETURN;
    END IF;

    IF email.failures >= p_email_free AND NOT EXISTS (
        SELECT FROM iam.known_sign_in_clients AS k
        WHERE k.pair = p_pair_key AND k.last_signed_in_at > now() - interval '30 days'
    ) THEN
        turn := greatest(now(), coalesce(email.next_check_at, now()));
        IF turn > now() + make_interval(secs => p_max_wait) THEN
            UPDATE iam.attempt_counters AS c SET refused_at = now() WHERE c.subject = p_email_key AND c.refused_at IS NULL;
            RETURN QUERY SELECT false,
                greatest(1, ceil(extract(epoch FROM turn - now()) - p_max_wait))::integer, 0.0::float8, first;
            RETURN;
        END IF;
        UPDATE iam.attempt_counters AS c
        SET next_check_at = turn + make_interval(secs => least(p_email_max_spacing, 2 ^ least(30, email.failures - p_email_free))),
            refused_at = coalesce(c.refused_at, now())
        WHERE c.subject = p_email_key;
        UPDATE iam.attempt_counters AS c SET failures = c.failures + 1 WHERE c.subject = ANY (keys);
        RETURN QUERY SELECT true, 0, extract(epoch FROM turn - now())::float8, first;
        RETURN;
    END IF;

    UPDATE iam.attempt_counters AS c SET failures = c.failures + 1 WHERE c.subject = ANY (keys);
    RETURN QUERY SELECT true, 0, 0.0::float8, false;
END
$$;

-- Gives back an attempt reserved by reserve_login_attempt: the password was right (a
-- successful login is no failure; p_signed_in then remembers the pair as a known sign-in
-- client), or the check never ran (hashing was over capacity).
CREATE FUNCTION iam.release_login_attempt(p_pair_key bytea, p_address_key bytea, p_email_key bytea, p_signed_in boolean)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$
    UPDATE iam.attempt_counters SET failures = failures - 1
    WHERE subject IN (p_pair_key, p_address_key, p_email_key) AND failures > 0;
    INSERT INTO iam.known_sign_in_clients (pair, last_signed_in_at) SELECT p_pair_key, now() WHERE p_signed_in
    ON CONFLICT (pair) DO UPDATE SET last_signed_in_at = excluded.last_signed_in_at;
$$;

-- Counts one use of a quota (p_key: a hash of what is counted, such as the registrations
-- from a client address); refused, counting nothing, at p_max in the window. Anonymous
-- registration ran at 9 accounts and organizations a second from one address.
CREATE FUNCTION iam.take_quota(p_key bytea, p_max integer, p_window_seconds integer)
RETURNS TABLE (allowed boolean, retry_after_seconds integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    counter iam.attempt_counters;
BEGIN
    SELECT * INTO counter FROM iam.lock_attempt_counters(ARRAY[p_key], ARRAY[p_window_seconds]);
    IF counter.failures >= p_max THEN
        RETURN QUERY SELECT false, greatest(1, ceil(extract(epoch FROM counter.window_ends_at - now())))::integer;
        RETURN;
    END IF;
    UPDATE iam.attempt_counters AS c SET failures = c.failures + 1 WHERE c.subject = p_key;
    RETURN QUERY SELECT true, 0;
END
$$;

-- Housekeeping an operator may also run on a schedule (every login already clears a
-- little): ended counters, known clients unseen for 30 days, sessions that expired over a
-- day ago.   SELECT * FROM iam.purge_expired();
DROP FUNCTION iam.purge_expired(integer);
CREATE FUNCTION iam.purge_expired()
RETURNS TABLE (counters_removed bigint, sessions_removed bigint)
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
    counters bigint;
    ended bigint;
BEGIN
    DELETE FROM iam.attempt_counters WHERE window_ends_at <= now();
    GET DIAGNOSTICS counters = ROW_COUNT;
    DELETE FROM iam.known_sign_in_clients WHERE last_signed_in_at < now() - interval '30 days';
    DELETE FROM iam.sessions WHERE expires_at < now() - interval '1 day';
    GET DIAGNOSTICS ended = ROW_COUNT;
    RETURN QUERY SELECT counters, ended;
END
$$;
