"""Sessions with rotating refresh tokens, login throttling counters, and the functions that
manage them.

Revision ID: 0004
Revises: 0003
"""

from db.migrations.sql_files import run_down, run_up

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
