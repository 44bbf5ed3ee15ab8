-- One address, one account: fullwidth and other compatibility spellings, and the U-label
-- and A-label spellings of an internationalized domain, registered as separate accounts.
-- Addresses are stored folded (NFKC, lower case) with the domain as IDNA A-labels
-- (api/text.py normalize_email); the migration's Python step rewrote existing rows first,
-- refusing to merge accounts that collide. The database now refuses any other spelling.
ALTER TABLE iam.users ADD CONSTRAINT users_email_normalized_check
    CHECK (email IS NFKC NORMALIZED AND (regexp_match(email, '@([^@]*)$'))[1] ~ '^[!-~]+$');
ALTER TABLE iam.invitations ADD CONSTRAINT invitations_email_normalized_check
    CHECK (email IS NFKC NORMALIZED AND (regexp_match(email, '@([^@]*)$'))[1] ~ '^[!-~]+$');
