"""Sessions with no organization, for users who belong to none: they sign in, see their
invitations, accept one or create an organization.

Revision ID: 0010
Revises: 0009
"""

from db.migrations.sql_files import run_down, run_up

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
