"""Organization API keys: machine identities that act in one organization with a role, under
the same policies as people; a key's hash is readable by no role.

Revision ID: 0014
Revises: 0013
"""

from db.migrations.sql_files import run_down, run_up

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
