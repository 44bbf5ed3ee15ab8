-- Undoes 0012's constraints; addresses stay in their normalized spelling.
ALTER TABLE iam.invitations DROP CONSTRAINT invitations_email_normalized_check;
ALTER TABLE iam.users DROP CONSTRAINT users_email_normalized_check;
