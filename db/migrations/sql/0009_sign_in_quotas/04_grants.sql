-- Default privileges do not cover every way these migrations may be run (a different
-- migrating role): PUBLIC is refused each new function explicitly, or anyone could, say,
-- purge the counters. iam_api gets what login, registration and refresh call. Neither
-- iam_api nor iam_dba reads a counter.
REVOKE ALL ON FUNCTION
    iam.lock_attempt_counters(bytea[], integer[]),
    iam.reserve_login_attempt(bytea, bytea, bytea, integer, integer, integer, integer, integer, integer),
    iam.release_login_attempt(bytea, bytea, bytea, boolean),
    iam.take_quota(bytea, integer, integer),
    iam.purge_expired(),
    iam.max_live_sessions_per_user(),
    iam.refresh_session(bytea, bytea, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    iam.reserve_login_attempt(bytea, bytea, bytea, integer, integer, integer, integer, integer, integer),
    iam.release_login_attempt(bytea, bytea, bytea, boolean),
    iam.take_quota(bytea, integer, integer),
    iam.refresh_session(bytea, bytea, integer)
    TO iam_api;
