"""Mail through a transactional outbox, and password reset by a mailed link.

Revision ID: 0011
Revises: 0010
"""

from db.migrations.sql_files import run_down, run_up

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
