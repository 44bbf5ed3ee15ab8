"""Sign-in limits per (email, address) pair with only a slowdown per email, registration
quotas per address, a cap on live sessions per user, and a grace period for refresh retries.

Revision ID: 0009
Revises: 0008
"""

from db.migrations.sql_files import run_down, run_up

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_up(revision)


def downgrade() -> None:
    run_down(revision)
