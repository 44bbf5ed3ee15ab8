-- Text that people read and compare (emails, names, descriptions) must show what it says.
-- Control (Cc), format (Cf: zero-width characters, bidirectional overrides, soft hyphens)
-- and line/paragraph separator (Zl, Zp) characters are refused, and emails and names must be
-- in Unicode normalization form NFC, so that twins such as an NFD spelling of one address
-- cannot become a second account. The API normalises and checks first (api/text.py holds
-- the same character class); these constraints hold for direct SQL as well.

DO $$
BEGIN
    -- IS NFC NORMALIZED needs a UTF8 database; so does storing the text this service takes.
    IF pg_catalog.pg_char_to_encoding('UTF8') <> (SELECT encoding FROM pg_catalog.pg_database WHERE datname = current_database()) THEN
        RAISE EXCEPTION 'tenant-iam needs a UTF8 database, and % is not one', current_database()
            USING HINT = 'CREATE DATABASE ... ENCODING ''UTF8''';
    END IF;
END
$$;

-- Whether a text holds none of Unicode 15.1's Cc, Cf, Zl and Zp characters; with
-- line_breaks, tab, line feed and carriage return are allowed (multi-line descriptions).
-- Example: SELECT iam.is_visible_text(E'Acme\u200b', false);  -- false
CREATE FUNCTION iam.is_visible_text(value text, line_breaks boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT value !~ CASE WHEN line_breaks
        THEN '[\u0001-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u180E\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0001\U000E0020-\U000E007F]'
        ELSE '[\u0001-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890-\u0891\u08E2\u180E\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0001\U000E0020-\U000E007F]'
    END
$$;
REVOKE ALL ON FUNCTION iam.is_visible_text(text, boolean) FROM PUBLIC;
-- Constraints run with the writer's rights; a pure function of its argument reveals nothing.
GRANT EXECUTE ON FUNCTION iam.is_visible_text(text, boolean) TO iam_api, iam_dba;

-- Added NOT VALID, then validated where the existing rows allow: an installation that
-- already holds such text still upgrades (and is told), and new writes are checked at once.
ALTER TABLE iam.users ADD CONSTRAINT users_email_text_check
    CHECK (iam.is_visible_text(email, false) AND email IS NFC NORMALIZED) NOT VALID;
ALTER TABLE iam.invitations ADD CONSTRAINT invitations_email_text_check
    CHECK (iam.is_visible_text(email, false) AND email IS NFC NORMALIZED) NOT VALID;
ALTER TABLE iam.organizations ADD CONSTRAINT organizations_name_text_check
    CHECK (iam.is_visible_text(name, false) AND name IS NFC NORMALIZED) NOT VALID;
ALTER TABLE iam.projects ADD CONSTRAINT projects_name_text_check
    CHECK (iam.is_visible_text(name, false) AND name IS NFC NORMALIZED) NOT VALID;
ALTER TABLE iam.projects ADD CONSTRAINT projects_description_text_check
    CHECK (iam.is_visible_text(description, true)) NOT VALID;

DO $$
DECLARE
    target record;
BEGIN
    FOR target IN
        SELECT conrelid::regclass AS table_name, conname FROM pg_catalog.pg_constraint
        WHERE conname IN ('users_email_text_check', 'invitations_email_text_check', 'organizations_name_text_check',
                          'projects_name_text_check', 'projects_description_text_check')
          AND connamespace = 'iam'::regnamespace
    LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', target.table_name, target.conname);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'existing rows of % break %; new writes are checked, fix those rows and run ALTER TABLE % VALIDATE CONSTRAINT %',
                target.table_name, target.conname, target.table_name, target.conname;
        END;
    END LOOP;
END
$$;
