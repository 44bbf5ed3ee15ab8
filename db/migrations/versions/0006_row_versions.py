"""Row versions on projects and memberships, raised by the database on every update: the
ETags of the API.

Revision ID: 0006
Revises: 0005
"""

from db.migrations.sql_files import run_down, run_up

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
