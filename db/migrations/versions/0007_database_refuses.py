"""The database refuses on its own: context only for live sessions, no unused powers for
iam_api, entry points bound to what the transaction proved, bounded DBA sessions.

Revision ID: 0007
Revises: 0006
"""

from db.migrations.sql_files import run_down, run_up

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
