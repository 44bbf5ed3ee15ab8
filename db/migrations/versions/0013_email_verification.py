"""Email verification: accounts record when their address was proved; registration can wait
for it; unverified accounts cannot accept invitations.

Revision ID: 0013
Revises: 0012
"""

from db.migrations.sql_files import run_down, run_up

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
