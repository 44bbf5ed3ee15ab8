"""Initial schema: catalog, tenants, users, memberships, projects, invitations, DBA grants.

Revision ID: 0001
Revises:
"""

from db.migrations.sql_files import run_down, run_up

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
