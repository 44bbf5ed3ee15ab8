"""Hardening: visible-text rules, one pending invitation per address, invitation-first registration,
DBA rights without membership inserts, anonymous audit events.

Revision ID: 0003
Revises: 0002
"""

from db.migrations.sql_files import run_down, run_up

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
