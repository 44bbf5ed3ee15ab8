"""Sessions open under a share lock on the membership and the user (a concurrent removal or
deactivation cannot leave a live session behind), and switching to one's own organization
keeps the current session.

Revision ID: 0008
Revises: 0007
"""

from db.migrations.sql_files import run_down, run_up

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
