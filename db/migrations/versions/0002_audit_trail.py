"""Audit trail: iam.audit_events written by triggers, append-only, readable under RLS.

Revision ID: 0002
Revises: 0001
"""

from db.migrations.sql_files import run_down, run_up

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
