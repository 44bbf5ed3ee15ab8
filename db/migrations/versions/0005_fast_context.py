"""A cheaper per-request path: inlinable context readers, a plpgsql permission check, and one
enter_context statement.

Revision ID: 0005
Revises: 0004
"""

from db.migrations.sql_files import run_down, run_up

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
