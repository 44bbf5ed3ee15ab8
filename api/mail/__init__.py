"""Mail the service sends (invitations, password-reset links, notices), through a
transactional outbox in PostgreSQL (iam.outbox_messages): messages.py writes them,
outbox.py queues them in the transaction that causes them and delivers them, and
transport.py hands them to an SMTP server (or, in development, to files)."""
